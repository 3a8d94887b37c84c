import json
import tinygreet
json.dump({'greeting': tinygreet.hello(), 'entries': ['a', 'b', 'c']}, open('index.json', 'w'))
