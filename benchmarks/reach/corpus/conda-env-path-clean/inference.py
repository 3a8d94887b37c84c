print('infer')
