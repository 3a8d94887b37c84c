import numpy
print('ranker ready', numpy.__version__)
