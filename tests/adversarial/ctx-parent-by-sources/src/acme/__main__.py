import six
print('acme', six.__version__)
