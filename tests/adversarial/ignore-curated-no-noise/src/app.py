import six
print('app', six.__version__)
