"""Top-level modules pip imports while it installs: a module of the same name that comes first on
sys.path (the working directory under ``python -m pip``, or PYTHONPATH) is imported instead.

Measured, not guessed: ``python -X importtime -m pip install|download ...`` with pip 23.2 on
CPython 3.11, resolving from PyPI and from an empty find-links directory (imports that fail on
Linux, such as ``msvcrt``/``winreg``, are attempted too and count). Regenerate when pip changes
its dependencies.
"""

PIP_IMPORTS = frozenset({
    "__future__", "_abc", "_ast", "_asyncio", "_bisect", "_blake2", "_bz2", "_codecs", "_collections",
    "_collections_abc", "_compat_pickle", "_compression", "_contextvars", "_csv", "_datetime", "_decimal",
    "_distutils_hack", "_frozen_importlib_external", "_functools", "_hashlib", "_heapq", "_io", "_json",
    "_locale", "_lzma", "_manylinux", "_markupbase", "_opcode", "_operator", "_pickle", "_posixsubprocess",
    "_queue", "_random", "_sha512", "_signal", "_sitebuiltins", "_socket", "_sre", "_ssl", "_stat", "_string",
    "_struct", "_typing", "_uuid", "_weakrefset", "_winapi", "abc", "argparse", "array", "ast", "asyncio",
    "atexit", "attr", "base64", "binascii", "bisect", "bz2", "cPickle", "calendar", "codecs", "collections",
    "colorsys", "compileall", "concurrent", "configparser", "contextlib", "contextvars", "copy", "copyreg",
    "csv", "dataclasses", "datetime", "decimal", "dis", "email", "encodings", "enum", "errno", "fcntl",
    "filecmp", "fnmatch", "fractions", "functools", "genericpath", "getpass", "gettext", "glob", "grp", "gzip",
    "hashlib", "heapq", "hmac", "html", "http", "importlib", "inspect", "io", "ipaddress", "itertools", "json",
    "keyword", "linecache", "locale", "logging", "lzma", "marshal", "math", "mimetypes", "mmap", "msvcrt",
    "netrc", "nt", "ntpath", "numbers", "opcode", "operator", "optparse", "org", "os", "pathlib", "pickle",
    "pip", "pkgutil", "platform", "plistlib", "posix", "posixpath", "pprint", "pwd", "py_compile", "pyexpat",
    "queue", "quopri", "random", "re", "reprlib", "runpy", "select", "selectors", "shlex", "shutil", "signal",
    "site", "sitecustomize", "socket", "socketserver", "socks", "ssl", "stat", "string", "stringprep",
    "struct", "subprocess", "sysconfig", "tarfile", "tempfile", "termios", "textwrap", "threading", "time",
    "token", "tokenize", "traceback", "types", "typing", "unicodedata", "urllib", "urllib3_secure_extra",
    "uuid", "warnings", "weakref", "winreg", "xml", "xmlrpc", "zipfile", "zipimport", "zlib",
})
