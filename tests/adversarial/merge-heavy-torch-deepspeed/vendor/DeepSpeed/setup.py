from setuptools import setup
setup(name="deepspeed", version="0.1.0", py_modules=["deepspeed"])
