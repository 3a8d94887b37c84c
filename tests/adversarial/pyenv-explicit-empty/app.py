import helpers
print(helpers.greet())
