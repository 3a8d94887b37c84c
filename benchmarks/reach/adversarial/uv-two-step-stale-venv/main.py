import sys
print(f'prefix={sys.prefix}')
