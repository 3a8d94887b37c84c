print('service up')
