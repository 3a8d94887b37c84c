from setuptools import setup
from Cython.Build import cythonize
setup(ext_modules=cythonize('fastnms/_nms.pyx'))
