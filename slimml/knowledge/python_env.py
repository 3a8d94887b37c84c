"""How to tell a Python image, and the interpreter settings every Python service image wants."""

from __future__ import annotations

# Substrings of a base image reference (lower-cased, digest removed) that mean "Python inside".
PYTHON_IMAGE_HINTS: tuple[str, ...] = (
    "python",
    "pytorch",
    "tensorflow",
    "conda",
    "miniconda",
    "mamba",
    "jupyter",
)

# Programs whose use in a RUN (or as the container's command) means the stage runs Python.
PYTHON_PROGRAMS = frozenset(
    {
        "pip",
        "pipx",
        "uv",
        "uvx",
        "poetry",
        "pipenv",
        "pdm",
        "hatch",
        "conda",
        "mamba",
        "micromamba",
        "gunicorn",
        "uvicorn",
    }
)
# Plus anything matching these (pip3, pip3.11, python3, python3.11).
PYTHON_PROGRAM_RES = (r"^pip(\d+(\.\d+)*)?$", r"^python(\d+(\.\d+)*)?$")

# (variable, value) pairs added, in this order.
#   PYTHONDONTWRITEBYTECODE=1: no .pyc files written at run time (into the container's
#     writable layer, or into the image by later RUN steps).
#   PYTHONUNBUFFERED=1: stdout/stderr unbuffered, so logs reach `docker logs` immediately and
#     are not lost when the process crashes.
ENV_SETTINGS: tuple[tuple[str, str], ...] = (
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONUNBUFFERED", "1"),
)

# A final stage whose command is one of these alone starts an interpreter or a shell: the image is
# an environment to build FROM or to run other commands in, not an application.
BARE_COMMANDS = frozenset(
    {
        "python",
        "python3",
        "python2",
        "ipython",
        "ipython3",
        "bash",
        "sh",
        "zsh",
        "dash",
        "jupyter",
        "conda",
        "micromamba",
    }
)
# A RUN that removes compiled bytecode: with PYTHONDONTWRITEBYTECODE=1 every process would then
# recompile those modules at every start.
PYC_MARKERS = (".pyc", "__pycache__")
PYC_REMOVERS = ("rm ", "-delete", "-exec rm", "xargs rm")
# A RUN that builds CPython itself (the official python image's own Dockerfile and its kin).
BUILDS_PYTHON_MARKERS = (
    "--enable-optimizations",
    "--with-lto",
    "python.org/ftp/python",
    "make altinstall",
    "--enable-shared --with-ensurepip",
)
