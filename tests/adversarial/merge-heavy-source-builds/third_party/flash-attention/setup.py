from setuptools import setup
setup(name="flash-attn", version="0.1.0", py_modules=["flash_attn"])
