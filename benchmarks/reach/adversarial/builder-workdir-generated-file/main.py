import json
idx = json.load(open('index.json'))
print(f"{idx['greeting']}; index has {len(idx['entries'])} entries")
