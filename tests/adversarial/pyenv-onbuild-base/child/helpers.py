def greet():
    return 'hello from a child image'
