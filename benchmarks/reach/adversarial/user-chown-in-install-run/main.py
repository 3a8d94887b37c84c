import tinygreet
open('/app/cache/last', 'w').write(tinygreet.hello())
print(f'{tinygreet.hello()}; cache ok')
