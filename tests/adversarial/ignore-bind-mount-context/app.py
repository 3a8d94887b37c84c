import json
print(sorted(json.load(open('/app/data/labels.json'))))
