from utils import ORIGIN
print("utils from", ORIGIN)
