import os
import mypkg
print(f'mypkg {mypkg.VERSION} from {os.path.dirname(mypkg.__file__)}')
