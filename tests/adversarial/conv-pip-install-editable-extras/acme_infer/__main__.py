import six
print('infer', six.__version__)
