import prophet
print('ok')
