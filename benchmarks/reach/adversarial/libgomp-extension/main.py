import ompsum
print(f'sum={ompsum.total(100)}')
