from setuptools import setup
setup(name="torch", version="0.1.0", py_modules=["torch"])
