from importlib.metadata import version as _v

def version():
    return _v('acme-core')
