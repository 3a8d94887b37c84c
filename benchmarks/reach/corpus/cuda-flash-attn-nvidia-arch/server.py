print('server')
