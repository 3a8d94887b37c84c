"""Where Python installers read their configuration: environment variables and config files.

Each entry is what the tool's own documentation says it reads (pip's "Configuration" page, uv's
"Configuration files" and "Environment variables", poetry's "Configuration", pdm's, pipenv's,
conda's ".condarc"). A dependency install moved before the source COPY must still find every one of
them that the sources would have provided, or it silently installs from somewhere else.
"""

# -- pip ----------------------------------------------------------------------------------------------
# Variables naming a config file, and options whose value is a file or directory (PIP_<OPTION>).
PIP_CONFIG_FILE_VAR = "PIP_CONFIG_FILE"
PIP_FILE_VARS = ("PIP_CONSTRAINT", "PIP_REQUIREMENT", "PIP_BUILD_CONSTRAINT")  # space-separated lists
PIP_LINK_VARS = ("PIP_FIND_LINKS",)
# Config files, in pip's order (later ones override): global, user, site ({prefix} = sys.prefix).
# ({xdg_dir}: each of XDG_CONFIG_DIRS, default /etc/xdg; {xdg_home}: XDG_CONFIG_HOME, default ~/.config)
PIP_CONFIG_FILES = (
    "{xdg_dir}/pip/pip.conf",
    "/etc/pip.conf",
    "{home}/.pip/pip.conf",
    "{xdg_home}/pip/pip.conf",
    "{prefix}/pip.conf",
)
# Keys of a pip config file whose value names files or directories.
PIP_CONFIG_FILE_KEYS = frozenset({"constraint", "requirement", "build-constraint"})
PIP_CONFIG_LINK_KEYS = frozenset({"find-links"})
PIP_CONFIG_SECTIONS = ("global", "install", "download", "wheel")

# -- uv -----------------------------------------------------------------------------------------------
UV_CONFIG_FILE_VAR = "UV_CONFIG_FILE"
UV_NO_CONFIG_VAR = "UV_NO_CONFIG"
UV_FILE_VARS = ("UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT", "UV_REQUIRE_HASHES_FILE")
UV_LINK_VARS = ("UV_FIND_LINKS",)
# Project-level config: in the working directory or any parent (the first found wins).
UV_PROJECT_CONFIG = ("uv.toml", "pyproject.toml")
UV_USER_CONFIG = ("{xdg_home}/uv/uv.toml",)
UV_SYSTEM_CONFIG = ("/etc/uv/uv.toml", "{xdg_dir}/uv/uv.toml")
UV_CONFIG_LINK_KEYS = frozenset({"find-links"})
UV_CONFIG_FILE_KEYS = frozenset({"constraint", "override", "build-constraint"})

# -- poetry, pdm, pipenv, conda ---------------------------------------------------------------------
POETRY_LOCAL_CONFIG = "poetry.toml"
POETRY_CONFIG_DIR_VAR = "POETRY_CONFIG_DIR"
PDM_LOCAL_CONFIG = ("pdm.toml", ".pdm-python", ".pdm.toml")
PIPENV_FILE_VARS = ("PIPENV_PIPFILE",)
CONDA_FILE_VARS = ("CONDARC",)
CONDA_CONFIG_FILES = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/opt/conda/.condarc",
    "{home}/.condarc",
    "{xdg_home}/conda/.condarc",
    "{home}/.conda/.condarc",
)
XDG_HOME_VAR, XDG_DIRS_VAR = "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS"

# Installer config file names worth copying early wherever the sources have them.
CONFIG_FILE_NAMES = frozenset(
    {"pip.conf", "pip.ini", "uv.toml", "poetry.toml", "pdm.toml", ".pdm-python", ".condarc", "condarc"}
)

# -- read by every installer that talks HTTPS (requests, urllib3, reqwest, conda) ------------------------
# Credentials and CA bundles: a private index behind them fails -- or falls back to public PyPI --
# when the file is not there yet.
NETRC_VAR = "NETRC"
NETRC_FILE = "{home}/.netrc"
TLS_FILE_VARS = (
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "UV_CERT",
    "SSL_CERT_DIR",
)
# Variables naming where pip writes (a target inside the sources would be overwritten by them).
PIP_WRITE_VARS = ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_SRC")
# Python-based installers import their code at start-up; a module of the sources on sys.path (the
# working directory for `python -m pip`, PYTHONPATH for any of them) with one of these names, or a
# standard-library name, would be imported instead of the real one.
SHADOWABLE_EXTRA = frozenset(
    {
        "pip",
        "setuptools",
        "wheel",
        "pkg_resources",
        "_distutils_hack",
        "distutils",
        "sitecustomize",
        "usercustomize",
        "requests",
        "urllib3",
        "certifi",
        "packaging",
        "poetry",
        "pdm",
        "pipenv",
        "conda",
        "virtualenv",
        "keyring",
    }
)
PYTHON_INSTALLERS = frozenset({"pip", "poetry", "pdm", "pipenv", "conda"})
