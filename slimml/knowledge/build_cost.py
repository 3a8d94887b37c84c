"""What makes a RUN expensive to re-run, and what a RUN removes: when merging RUNs pays.

Merging saves bytes only where a later RUN removes files an earlier one wrote (the files then never
reach a layer), and costs build time where it joins independent expensive steps: one failure or
one edit then re-runs all of them. Source builds (compilers, CUDA extensions) are kept apart.
"""

# Programs that compile (the build systems are in knowledge.images.BUILD_SYSTEMS).
COMPILERS = frozenset({"gcc", "g++", "cc", "c++", "clang", "clang++", "nvcc", "rustc", "javac", "ld"})
# `<tool> <sub>` that builds from source.
BUILD_SUBCOMMANDS = {
    "cargo": frozenset({"build", "install"}),
    "go": frozenset({"build", "install"}),
    "bazel": frozenset({"build"}),
    "npm": frozenset({"run"}),
    "mvn": frozenset({"package", "install"}),
    "cmake": frozenset({"--build"}),
}
# Environment variables that only a source build reads (besides knowledge.images.CUDA_BUILD_ENV).
BUILD_ENV = frozenset({"MAX_JOBS", "NINJA_JOBS", "CMAKE_ARGS", "CMAKE_BUILD_PARALLEL_LEVEL", "MAKEFLAGS"})
# pip options that force a source build.
PIP_SOURCE_BUILD_OPTS = frozenset({"--no-binary", "--no-build-isolation"})
# Requirement spellings that are source builds: VCS URLs and local directories.
VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
# Commands whose only job is removing files or caches: a RUN made of them is a clean-up step.
CLEANUP_PROGRAMS = frozenset({"rm", "rmdir", "find", "true", ":"})
CLEANUP_SUBCOMMANDS = {
    "apt-get": frozenset({"clean", "autoclean", "autoremove", "purge", "remove"}),
    "apt": frozenset({"clean", "autoclean", "autoremove", "purge", "remove"}),
    "pip": frozenset({"uninstall"}),
    "conda": frozenset({"clean", "remove", "uninstall"}),
    "mamba": frozenset({"clean", "remove", "uninstall"}),
    "micromamba": frozenset({"clean", "remove"}),
    "yum": frozenset({"clean", "remove"}),
    "dnf": frozenset({"clean", "remove"}),
    "apk": frozenset({"del"}),
    "npm": frozenset({"cache"}),
}
# Shell startup files: a RUN writing one changes what the *next* RUN's login/interactive shell runs.
STARTUP_FILE_MARKERS = (
    ".bashrc",
    ".bash_profile",
    ".profile",
    ".bash_login",
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    ".zshrc",
    "/etc/zsh",
)
# `<tool> init` style commands that write startup files.
STARTUP_WRITERS = {
    "conda": frozenset({"init"}),
    "mamba": frozenset({"init"}),
    "micromamba": frozenset({"shell"}),
    "pyenv": frozenset({"init"}),
    "nvm": frozenset({"install", "use"}),
}
