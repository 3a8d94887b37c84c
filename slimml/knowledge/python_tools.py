"""Python package tools: how they are spelled, and where they keep caches."""

import re

PIP_RE = re.compile(r"^pip(\d+(\.\d+)*)?$")
PYTHON_RE = re.compile(r"^python(\d+(\.\d+)*)?$")
# Subcommands that download packages and, by default, keep them in the cache.
PIP_CACHING_SUBCOMMANDS = {"install", "wheel", "download"}
# pip options that take a separate value (so the value is not mistaken for the subcommand).
PIP_GLOBAL_OPTS_WITH_VALUE = {
    "--proxy",
    "--log",
    "--cache-dir",
    "--timeout",
    "--retries",
    "--exists-action",
    "--trusted-host",
    "--cert",
    "--client-cert",
    "--python",
    "--use-feature",
    "--use-deprecated",
    "--keyring-provider",
    "--progress-bar",
}
PIP_NO_CACHE_FLAG = "--no-cache-dir"
PIP_CACHE_DIR = "{home}/.cache/pip"

UV_CACHING = {("pip", "install"), ("pip", "sync"), ("sync",), ("tool", "install")}
UV_NO_CACHE_FLAG = "--no-cache"
# Every spelling uv accepts for "no cache" (clap aliases; uv exits 2 when the option is given twice).
UV_NO_CACHE_SPELLINGS = frozenset({"--no-cache", "--no-cache-dir", "-n"})
# uv's short flags that take no value: a cluster of them (``-qn``) may hold ``-n``.
UV_SHORT_BOOLEAN_FLAGS = frozenset("nqvU")
UV_CACHE_DIR = "{home}/.cache/uv"

CONDA_TOOLS = {
    # tool -> the arguments that empty its package cache and index (run with the program exactly as
    # the install spelled it: `/opt/conda/bin/conda` need not be on PATH)
    "conda": "clean -afy",
    "mamba": "clean -afy",
    "micromamba": "clean --all --yes",
}
CONDA_CACHING = {("install",), ("create",), ("update",), ("env", "create"), ("env", "update")}
CONDA_PKGS_DIRS = ("/opt/conda/pkgs", "{home}/.cache/mamba", "{home}/micromamba/pkgs")

POETRY_CACHING = {("install",), ("sync",), ("add",), ("update",)}
# Poetry keeps its virtualenvs under {cache-dir}/virtualenvs by default: only the download caches
# (``cache/`` and ``artifacts/``) may go, never the whole cache dir.
POETRY_CLEAN = 'rm -rf "$({poetry} config cache-dir)/cache" "$({poetry} config cache-dir)/artifacts"'
POETRY_CACHE_DIR = "{home}/.cache/pypoetry"


# A later install that reads the cache instead of the network: removing the cache breaks it.
OFFLINE_FLAGS = {
    "uv": frozenset({"--offline"}),
    "conda": frozenset({"--offline", "--use-local"}),
    "mamba": frozenset({"--offline", "--use-local"}),
    "micromamba": frozenset({"--offline"}),
    "poetry": frozenset(),
    "pip": frozenset(),
}
OFFLINE_VARS = {
    "uv": ("UV_OFFLINE",),
    "conda": ("CONDA_OFFLINE",),
    "mamba": ("CONDA_OFFLINE", "MAMBA_OFFLINE"),
    "micromamba": ("MAMBA_OFFLINE", "CONDA_OFFLINE"),
    "poetry": (),
    "pip": (),
}
