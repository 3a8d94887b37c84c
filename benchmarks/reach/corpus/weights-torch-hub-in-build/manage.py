print('django')
