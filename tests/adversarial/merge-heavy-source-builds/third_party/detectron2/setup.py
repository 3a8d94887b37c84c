from setuptools import setup
setup(name="detectron2", version="0.1.0", py_modules=["detectron2"])
