"""Python package tools: how they are spelled, and where they keep caches."""

import re

PIP_RE = re.compile(r"^pip(\d+(\.\d+)*)?$")
PYTHON_RE = re.compile(r"^python(\d+(\.\d+)*)?$")
# Subcommands that download packages and, by default, keep them in the cache.
PIP_CACHING_SUBCOMMANDS = {"install", "wheel", "download"}
# pip options that take a separate value (so the value is not mistaken for the subcommand).
PIP_GLOBAL_OPTS_WITH_VALUE = {"--proxy", "--log", "--cache-dir", "--timeout", "--retries", "--exists-action",
                              "--trusted-host", "--cert", "--client-cert", "--python", "--use-feature",
                              "--use-deprecated", "--keyring-provider", "--progress-bar"}
PIP_NO_CACHE_FLAG = "--no-cache-dir"
PIP_CACHE_DIR = "{home}/.cache/pip"

UV_CACHING = {("pip", "install"), ("pip", "sync"), ("sync",), ("tool", "install")}
UV_NO_CACHE_FLAG = "--no-cache"
UV_CACHE_DIR = "{home}/.cache/uv"

CONDA_TOOLS = {
    # tool -> the command that empties its package cache and index
    "conda": "conda clean -afy",
    "mamba": "mamba clean -afy",
    "micromamba": "micromamba clean --all --yes",
}
CONDA_CACHING = {("install",), ("create",), ("update",), ("env", "create"), ("env", "update")}
CONDA_PKGS_DIRS = ("/opt/conda/pkgs", "{home}/.cache/mamba", "{home}/micromamba/pkgs")

POETRY_CACHING = {("install",), ("sync",), ("add",), ("update",)}
POETRY_CLEAN = 'rm -rf "$(poetry config cache-dir)"'
POETRY_CACHE_DIR = "{home}/.cache/pypoetry"

