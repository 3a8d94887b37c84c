import tinygreet
print(tinygreet.hello())
