import tinygreet
labels = open('/opt/labels/labels.txt').read().split()
print(f"{tinygreet.hello()}; labels={','.join(labels)}")
