print('api up')
