import sys
import tinygreet
print(tinygreet.hello(), 'via', sys.prefix)
