"""What a build context of a Python/ML service should leave out (``.dockerignore`` entries).

Patterns are written in Docker's syntax (root-anchored: ``**/`` for "at any depth"), exactly
as they are appended to the file. Two kinds:

- JUNK: never needed by a build or at run time (VCS data, caches, editor/OS litter, local
  virtualenvs that only work on the host). Always safe to exclude.
- CONTENT: things an application *may* read (secrets files, notebooks, data, model weights).
  Excluding them is safe only when nothing in the build copies them today.
"""

from __future__ import annotations

JUNK: tuple[str, ...] = (
    ".git",
    "**/__pycache__",
    "**/*.pyc",
    "**/*.pyo",
    "**/.pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".venv",
    "**/.ipynb_checkpoints",
    ".DS_Store",
    ".idea",
    ".vscode",
    ".coverage",
    "htmlcov",
    ".tox",
)

# Weight/serialized-model formats that are unambiguous (``.bin``, ``.pb``, ``.model`` and
# ``.pkl`` are also used for other things, so they are not excluded preventively).
WEIGHT_PATTERNS: tuple[str, ...] = (
    "**/*.safetensors",
    "**/*.ckpt",
    "**/*.pt",
    "**/*.pth",
    "**/*.gguf",
    "**/*.ggml",
    "**/*.onnx",
    "**/*.h5",
    "**/*.tflite",
)

CONTENT: tuple[str, ...] = (
    ".env",
    ".env.*",
    "notebooks/",
    "**/*.ipynb",
    "data/",
    "models/",
    *WEIGHT_PATTERNS,
)

# The comment line that starts the block slimml appends.
HEADER = "# added by slimml (SLM006)"

# `.git` is junk unless the build reads it: tools that derive the package version from git
# metadata (a `pip install .` of such a project fails without `.git`).
VCS_VERSION_MARKERS: tuple[str, ...] = (
    "setuptools_scm",
    "setuptools-scm",
    "hatch-vcs",
    "hatch_vcs",
    "versioneer",
    "dunamai",
    "poetry-dynamic-versioning",
    "pdm-backend-scm",
    "vcs-versioning",
    "uv-dynamic-versioning",
    "pbr",
    "versioningit",
    "setuptools-git-versioning",
    "setuptools_git_versioning",
    "miniver",
    "flit_scm",
    "flit-scm",
    "dynamic-versioning",
)
# Project files where those markers show up.
PROJECT_FILES: tuple[str, ...] = ("pyproject.toml", "setup.cfg", "setup.py")
# `git <sub>` in a RUN that does not need the context's `.git` (it fetches or configures).
GIT_SUBCOMMANDS_WITHOUT_WORKTREE = frozenset({"clone", "config", "init", "ls-remote", "version", "help"})
