rows = open('data/train.csv').read().splitlines()
print('training on', len(rows) - 1, 'rows')
