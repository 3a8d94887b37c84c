import six

def main():
    print('report ok, six', six.__version__)
