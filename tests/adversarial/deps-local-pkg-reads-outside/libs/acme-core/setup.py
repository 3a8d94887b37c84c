from pathlib import Path
from setuptools import setup

# one version for the whole monorepo
VERSION = (Path(__file__).resolve().parents[2] / "VERSION").read_text().strip()
setup(name="acme-core", version=VERSION, packages=["acme_core"])
