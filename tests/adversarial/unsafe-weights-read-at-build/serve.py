print('serving model', open('/app/model.sha256').read()[:12])
