"""Dependency manifests: which files each Python installer reads, and its "dependencies only" spelling.

Used by SLM004 (deps-before-source) to copy just the manifests before the install and the
sources after it. Paths are relative to the directory the tool runs in (its project directory).
"""

import re

# -- pip (and ``uv pip``) ---------------------------------------------------------------------------
# Options naming a requirements file: pip reads it (and the files it includes) before installing.
REQUIREMENT_OPTS = {"-r", "--requirement"}
CONSTRAINT_OPTS = {"-c", "--constraint"}
# uv pip only: more files in requirements format.
UV_REQUIREMENT_LIKE_OPTS = {"--override", "--overrides", "-b", "--build-constraint", "--build-constraints"}
EDITABLE_OPTS = {"-e", "--editable"}
FIND_LINKS_OPTS = {"-f", "--find-links"}
# pip >= 25.1: ``--group [path:]name`` reads [dependency-groups] from pyproject.toml.
GROUP_OPTS = {"--group"}
# Options that write outside the interpreter's site-packages (checked against the copied sources).
PIP_WRITE_OPTS = {"-t", "--target", "--prefix", "--root", "--src", "-d", "--dest", "-w", "--wheel-dir"}
# Other options that take a separate value (so the value is not taken for a requirement).
PIP_OPTS_WITH_VALUE = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "--upgrade-strategy",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--no-binary",
    "--only-binary",
    "--progress-bar",
    "--global-option",
    "--config-settings",
    "-C",
    "--trusted-host",
    "--proxy",
    "--cache-dir",
    "--log",
    "--timeout",
    "--retries",
    "--cert",
    "--client-cert",
    "--exists-action",
    "--python",
    "-p",
    "--report",
    "--keyring-provider",
    "--use-feature",
    "--use-deprecated",
    "--root-user-action",
    "--index-strategy",
    "--resolution",
    "--prerelease",
    "--exclude-newer",
    "--link-mode",
    "--compile-bytecode-level",
    "--extra",
    "--format",
}
# Short options that take a value: ``-rrequirements.txt`` / ``-qr requirements.txt``.
PIP_SHORT_WITH_VALUE = set("rcefitdwbCp")


def pip_install_value_opts(uv: bool) -> set[str]:
    """The options of `pip install` (`uv pip install` with ``uv``) that take a value as the next word."""
    from .python_tools import PIP_GLOBAL_OPTS_WITH_VALUE

    v = (
        REQUIREMENT_OPTS
        | CONSTRAINT_OPTS
        | EDITABLE_OPTS
        | FIND_LINKS_OPTS
        | GROUP_OPTS
        | PIP_WRITE_OPTS
        | PIP_OPTS_WITH_VALUE
        | set(PIP_GLOBAL_OPTS_WITH_VALUE)
    )
    return v | UV_REQUIREMENT_LIKE_OPTS if uv else v


# pip subcommands that install nothing and read no project file.
PIP_HARMLESS_SUBCOMMANDS = {
    "config",
    "cache",
    "list",
    "freeze",
    "show",
    "check",
    "debug",
    "help",
    "inspect",
    "uninstall",
    "--version",
    "-V",
    "--help",
}
PIP_INSTALL_SUBCOMMANDS = {"install", "download", "wheel"}
# The pip option that installs a project without its dependencies.
PIP_NO_DEPS = "--no-deps"
ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".tar", ".zip")
# A requirement that starts with a package name (PEP 508): name, extras, then a version or marker.
NAMED_REQUIREMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*($|[<>=!~;(,])")


# ``name @ url`` (a PEP 508 direct reference).
class _DirectReference:
    """``re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\\[[^\\]]*\\])?\\s*@\\s*(.+)$").match`` in linear time: the regex
    backtracks through the blanks after ``@`` once per blank when ``(.+)$`` fails (a newline further on)."""

    _HEAD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@")

    def match(self, s: str) -> "_Ref | None":
        h = self._HEAD.match(s)
        if h is None:
            return None
        t = s[h.end() :]
        end = len(t) - 1 if t.endswith("\n") else len(t)  # where ``$`` can match
        k = len(t) - len(t.lstrip())  # \s* greedy (str.isspace is \s)
        if k < end:
            start = h.end() + k if "\n" not in t[k:end] else None
        else:  # nothing but blanks: \s* gives back one character to (.+)
            start = h.end() + end - 1 if end > 0 and t[end - 1] != "\n" else None
        if start is None:
            return None
        return _Ref((s[: h.end() + end], h.group(1), s[start : h.end() + end]))


class _Ref:
    """The groups of the regex's match: 0 the whole, 1 the extras, 2 the URL."""

    def __init__(self, groups: tuple[str, str | None, str]):
        self._g = groups

    def group(self, i: int = 0) -> str | None:
        return self._g[i]


DIRECT_REFERENCE_RE = _DirectReference()
# Lines of a requirements file: comments start at a ``#`` preceded by whitespace (pip's COMMENT_RE).
# (a whitespace run is tried from its first character only: the same leftmost match as pip's ``(^|\s+)#.*$``,
# which rescans the run from each of its characters -- quadratic on a long run of blanks)
REQUIREMENTS_COMMENT_RE = re.compile(r"(^|(?<!\s)\s+)#.*$")
# Files that ``uv pip install -r`` reads as project metadata rather than as a requirements list.
PROJECT_METADATA_FILES = {"pyproject.toml"}
SETUP_FILES = {"setup.py", "setup.cfg"}

# pip-tools: ``pip-sync requirements.txt ...`` installs exactly these files.
PIP_SYNC_TOOLS = {"pip-sync"}

# -- project tools --------------------------------------------------------------------------------------
# tool -> (required manifest, optional files read when present) in the project directory.
PROJECT_TOOL_FILES = {
    "poetry": ("pyproject.toml", ("poetry.lock", "poetry.toml")),
    "uv": ("pyproject.toml", ("uv.lock", "uv.toml", ".python-version")),
    "pdm": ("pyproject.toml", ("pdm.lock", "pdm.toml", ".pdm-python")),
    "pipenv": ("Pipfile", ("Pipfile.lock",)),
}
# Subcommands that install from the manifests.
PROJECT_TOOL_INSTALL = {
    "poetry": {"install", "sync"},
    "uv": {"sync"},
    "pdm": {"install", "sync"},
    "pipenv": {"install", "sync"},
}
# Subcommands that neither read nor write the project.
PROJECT_TOOL_HARMLESS = {
    "poetry": {"--version", "-V", "about", "self"},
    "uv": {"--version", "-V", "version", "cache", "python", "help"},
    "pdm": {"--version", "-V"},
    "pipenv": {"--version", "--help", "--clear"},
}
# ``config`` writes a project-local file with this option; without it the user's global config.
PROJECT_TOOL_CONFIG = {"poetry": "--local", "pdm": "--local", "pipenv": None, "uv": None}
# The "dependencies only" variant of the install, and the options meaning it is already that.
DEPS_ONLY_FLAG = {"poetry": "--no-root", "uv": "--no-install-project", "pdm": "--no-self"}
ALREADY_DEPS_ONLY = {
    "poetry": {"--no-root"},
    "uv": {"--no-install-project", "--no-install-workspace"},
    "pdm": {"--no-self"},
}
# Variants that install only the project itself (they need the sources, not the manifests).
PROJECT_ONLY = {"poetry": {"--only-root"}, "uv": {"--only-install-project"}, "pdm": set()}
# Options of the tools that take a separate value.
PROJECT_TOOL_OPTS_WITH_VALUE = {
    "poetry": {"--with", "--without", "--only", "-E", "--extras", "-C", "--directory", "-P", "--project"},
    "uv": {
        "--extra",
        "--group",
        "--no-group",
        "--only-group",
        "-p",
        "--python",
        "--package",
        "--project",
        "--directory",
        "--index-url",
        "--extra-index-url",
        "--index",
        "--default-index",
        "-i",
        "--cache-dir",
        "--python-preference",
        "--link-mode",
        "--resolution",
        "--prerelease",
        "--exclude-newer",
        "--config-file",
        "--find-links",
        "-f",
        "--upgrade-package",
        "-P",
        "--reinstall-package",
        "--no-binary-package",
        "--no-build-package",
        "--no-install-package",
        "--refresh-package",
    },
    "pdm": {"-G", "--group", "-L", "--lockfile", "-p", "--project", "--venv", "-k", "--skip", "--frozen-lockfile"},
    "pipenv": {
        "--python",
        "--pypi-mirror",
        "-r",
        "--requirements",
        "--categories",
        "--extra-pip-args",
        "-e",
        "--editable",
    },
}
# Options that choose another project directory.
PROJECT_DIR_OPTS = {
    "poetry": {"-C", "--directory", "-P", "--project"},
    "uv": {"--project", "--directory"},
    "pdm": {"-p", "--project"},
    "pipenv": set(),
}
# uv: flags that make ``--frozen`` unnecessary or forbidden.
UV_LOCK_FLAGS = {"--locked", "--frozen"}
UV_FROZEN = "--frozen"
# The virtualenv uv creates in the project directory (unless UV_PROJECT_ENVIRONMENT says otherwise).
UV_PROJECT_VENV = ".venv"
UV_PROJECT_ENV_VAR = "UV_PROJECT_ENVIRONMENT"

# Environments the tools create inside the project directory (the moved source COPY must not
# overwrite them). uv and pdm do it by default; poetry and pipenv only when configured to.
PROJECT_VENV_DIRS = {"uv": (".venv",), "pdm": (".venv", "__pypackages__"), "poetry": (".venv",), "pipenv": (".venv",)}
PROJECT_VENV_BY_DEFAULT = {"uv", "pdm"}
# Options of ``pipenv install`` naming a package (a local path installs that directory).
PIPENV_PACKAGE_OPTS = {"-e", "--editable"}

# -- conda family ------------------------------------------------------------------------------------
CONDA_TOOLS = {"conda", "mamba", "micromamba"}
# ``conda env create`` without ``-f`` reads this file in the working directory.
CONDA_DEFAULT_ENV_FILE = "environment.yml"
CONDA_ENV_FILE_SUFFIXES = (".yml", ".yaml")
CONDA_FILE_OPTS = {"-f", "--file"}
CONDA_PREFIX_OPTS = {"-p", "--prefix"}
CONDA_OPTS_WITH_VALUE = {
    "-n",
    "--name",
    "-c",
    "--channel",
    "-p",
    "--prefix",
    "-f",
    "--file",
    "--repodata-fn",
    "--platform",
    "--subdir",
    "-r",
    "--root-prefix",
    "--rc-file",
    "--channel-priority",
}
CONDA_INSTALL_SUBCOMMANDS = {"install", "create", "update", "upgrade"}
CONDA_ENV_SUBCOMMANDS = {"create", "update"}
CONDA_LOCAL_PACKAGE_SUFFIXES = (".tar.bz2", ".conda")
CONDA_HARMLESS_SUBCOMMANDS = {
    "clean",
    "config",
    "info",
    "list",
    "init",
    "shell",
    "--version",
    "-V",
    "activate",
    "deactivate",
}

# -- virtual environments -------------------------------------------------------------------------------
VENV_MODULES = {"venv", "virtualenv"}
VENV_TOOLS = {"virtualenv"}
PYTHON_HARMLESS_FLAGS = {"--version", "-V", "-VV"}

# -- everything else a dependency RUN commonly does ---------------------------------------------------
# System package managers: they read package names (local package files are checked separately).
SYSTEM_PACKAGE_TOOLS = {"apt-get", "apt", "apk", "yum", "dnf", "microdnf", "zypper", "tdnf", "apt-key"}
LOCAL_PACKAGE_SUFFIXES = (".deb", ".rpm", ".apk")
# Commands that read no file of the project (their redirections are checked separately).
HARMLESS_COMMANDS = {
    "echo",
    "printf",
    "true",
    ":",
    "set",
    "export",
    "unset",
    "umask",
    "ldconfig",
    "update-ca-certificates",
    "useradd",
    "groupadd",
    "adduser",
    "addgroup",
    "usermod",
    "sleep",
    "whoami",
    "id",
    "uname",
    "date",
    "nproc",
    "which",
    "command",
    "hash",
    "pwd",
}
# Commands that fail when run twice (the two-step install runs its RUN twice).
NOT_REPEATABLE_COMMANDS = {"useradd", "groupadd", "adduser", "addgroup", "usermod", "groupmod"}
# mkdir fails on an existing directory unless told otherwise.
MKDIR_PARENTS_FLAGS = {"-p", "--parents"}
# Commands whose non-option arguments are paths they create or delete (-> what they do to them).
PATH_WRITING_COMMANDS = {"rm": "removes", "rmdir": "removes", "mkdir": "creates", "touch": "creates"}
# Commands whose first non-option argument is a mode/owner, the rest paths they change.
MODE_COMMANDS = {"chmod": "changes the mode of", "chown": "changes the owner of", "chgrp": "changes the group of"}
# Redirection targets that are not files.
DEVICE_PREFIX = "/dev/"
# Mount types that expose build-context (or other) files to a RUN.
READING_MOUNT_TYPES = {"bind"}

# -- COPY ---------------------------------------------------------------------------------------------
# Sources that mean "the whole build context".
WHOLE_CONTEXT_SOURCES = {".", "./"}
# Flags of the source COPY that the manifest COPY takes over unchanged.
CARRIED_COPY_FLAGS = ("chown", "chmod", "link")
# Flags that change nothing about which files land where.
IGNORABLE_COPY_FLAGS = {"keep-git-dir", "checksum"}
# Paths we write into a new COPY line (anything else needs quoting or is a pattern).
PLAIN_PATH_RE = re.compile(r"^[A-Za-z0-9._+@%=,:/-]+$")

# A path leaving the package directory in its build configuration (``version = {file = "../VERSION"}``,
# ``readme = "../../README.md"``, ``long_description = file: ../README.rst``).
OUTSIDE_PATH_RE = re.compile(r"""(?:^|[\s"'=:,\[{])\.\.[/\\]""", re.MULTILINE)
# Index options: a `file://` URL or a path is a local index the install reads.
INDEX_URL_OPTS = {"-i", "--index-url", "--extra-index-url"}
HREF_RE = re.compile(r"""href\s*=\s*["']([^"']{1,4096})["']""", re.IGNORECASE)
