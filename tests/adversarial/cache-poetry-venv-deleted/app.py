import six
print('worker ready, six', six.__version__)
