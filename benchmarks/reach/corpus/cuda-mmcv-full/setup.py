from setuptools import setup
setup(name='mmdet-app', version='0.1', packages=[])
