import six
print('api', six.__version__)
