"""What a base image's config brings into every stage built FROM it (SHELL, build-relevant ENV).

An image built FROM another inherits its SHELL, ENV, WORKDIR and USER. For an image slimml does not
know, none of these can be established statically: a rule whose fix depends on them (merging RUNs
depends on the SHELL's options) treats them as unknown.
"""

# Repositories (normalised as in knowledge.images.ImageRef.normalized) whose images keep Docker's
# default SHELL (``/bin/sh -c``): their Dockerfiles have no SHELL instruction.
DEFAULT_SHELL_REPOS = frozenset(
    {
        "python",
        "debian",
        "ubuntu",
        "alpine",
        "busybox",
        "buildpack-deps",
        "fedora",
        "centos",
        "rockylinux",
        "almalinux",
        "amazonlinux",
        "archlinux",
        "opensuse/leap",
        "nvidia/cuda",
        "nvcr.io/nvidia/cuda",
        "pytorch/pytorch",
        "tensorflow/tensorflow",
        "continuumio/miniconda3",
        "continuumio/anaconda3",
        "condaforge/miniforge3",
        "condaforge/mambaforge",
        "nvcr.io/nvidia/pytorch",
        "nvcr.io/nvidia/tensorflow",
        "nvcr.io/nvidia/tritonserver",
        "ghcr.io/astral-sh/uv",
        "node",
        "golang",
        "rust",
        "openjdk",
        "eclipse-temurin",
        "nginx",
        "registry.access.redhat.com/ubi8/ubi",
        "registry.access.redhat.com/ubi9/ubi",
        "registry.access.redhat.com/ubi8/python-39",
        "registry.access.redhat.com/ubi9/python-311",
    }
)
# ``FROM scratch`` has no config at all.
SCRATCH = "scratch"

# Images known to set a SHELL of their own (what every RUN built on them runs through).
KNOWN_SHELLS: dict[str, tuple[str, ...]] = {
    "mambaorg/micromamba": ("/usr/local/bin/_dockerfile_shell.sh",),
}
# SHELL programs that are wrappers around a POSIX shell: the RUN text is still shell, parsed as such,
# but the wrapper does something at the start of every RUN (``activates``: sources an environment's
# activation scripts), which merging RUNs would run once instead of once per RUN.
POSIX_WRAPPER_SHELLS: dict[str, str] = {
    # mambaorg/micromamba: activates $ENV_NAME, then `exec bash -c "$@"`-style.
    "/usr/local/bin/_dockerfile_shell.sh": "activates",
}


# ``SHELL ["conda", "run", "-n", "serve", "/bin/bash", "-c"]``: every RUN runs its script with bash inside the
# activated environment (conda, mamba and micromamba spell it the same).
CONDA_RUN_TOOLS = frozenset({"conda", "mamba", "micromamba"})
_CONDA_RUN_VALUE_OPTS = frozenset({"-n", "--name", "-p", "--prefix", "--cwd", "-r", "--root-prefix"})
_CONDA_RUN_FLAGS = frozenset(
    {
        "--no-capture-output",
        "--live-stream",
        "-a",
        "--attach",
        "--debug-wrapper-scripts",
        "--no-capture",
        "-s",
        "--no-banner",
    }
)


def conda_run_shell(argv) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """({option: value} of ``conda run``, the shell argv it runs) when ``argv`` is a conda-run SHELL, else None."""
    if len(argv) < 3 or argv[0].rsplit("/", 1)[-1] not in CONDA_RUN_TOOLS or argv[1] != "run":
        return None
    opts: dict[str, str] = {}
    i = 2
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if "=" in a and a.startswith("--"):
            k, _, v = a.partition("=")
            opts[k] = v
        elif a in _CONDA_RUN_VALUE_OPTS and i + 1 < len(argv):
            opts[a] = argv[i + 1]
            i += 1
        elif a not in _CONDA_RUN_FLAGS:
            return None
        i += 1
    inner = tuple(argv[i:])
    return (opts, inner) if inner else None
