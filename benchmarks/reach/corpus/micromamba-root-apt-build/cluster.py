print('cluster')
