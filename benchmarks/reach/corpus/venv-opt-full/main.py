print('embedder')
