import ctypes
lib = ctypes.CDLL('/tmp/libkernel.so')
print('kernel says', lib.add(2, 3))
