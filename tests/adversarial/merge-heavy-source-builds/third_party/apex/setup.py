from setuptools import setup
setup(name="apex", version="0.1.0", py_modules=["apex"])
