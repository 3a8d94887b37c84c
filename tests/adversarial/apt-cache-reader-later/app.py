lines = open("/app/jq-sources.txt").read().splitlines()
print("jq sources:", len(lines))
