def route(path):
    return f'handled {path}'
