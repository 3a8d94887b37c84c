import licensing
print(licensing.check('acme'))
