from setuptools import Extension, setup

setup(name='ompsum', version='1.0', ext_modules=[Extension('ompsum', ['ompsum.c'], extra_compile_args=['-fopenmp'], extra_link_args=['-fopenmp'])])
