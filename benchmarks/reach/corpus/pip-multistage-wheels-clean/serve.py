import numpy, scipy
print('ok')
