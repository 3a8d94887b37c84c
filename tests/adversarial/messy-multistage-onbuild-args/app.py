import getpass, os, six
print(getpass.getuser(), os.getcwd(), six.__version__)
