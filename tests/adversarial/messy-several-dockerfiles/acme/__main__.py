import sys, six
print('acme', six.__version__, sys.argv[1:])
