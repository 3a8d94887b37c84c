"""Programs slimml reads through or treats as plain tools (semantics.programs)."""

import re

PYTHON_RE = re.compile(r"^python(\d+(\.\d+)*)?$")
PIP_RE = re.compile(r"^pip(\d+(\.\d+)*)?$")
MAKE_PROGRAMS = frozenset({"make", "gmake"})
# Programs that do their own job and run no code a Dockerfile author wrote: called by a path
# (`/usr/sbin/useradd`, `/opt/conda/bin/conda`) they are still these tools.
TRANSPARENT_PROGRAMS = frozenset(
    {
        "pip",
        "uv",
        "conda",
        "mamba",
        "micromamba",
        "poetry",
        "pdm",
        "pipenv",
        "pipx",
        "npm",
        "node",
        "yarn",
        "useradd",
        "groupadd",
        "adduser",
        "addgroup",
        "usermod",
        "chown",
        "chmod",
        "chgrp",
        "mkdir",
        "rm",
        "cp",
        "mv",
        "ln",
        "ls",
        "cat",
        "echo",
        "printf",
        "sed",
        "awk",
        "grep",
        "tar",
        "gzip",
        "gunzip",
        "unzip",
        "curl",
        "wget",
        "git",
        "find",
        "xargs",
        "tee",
        "touch",
        "test",
        "true",
        "false",
        "env",
        "id",
        "whoami",
        "uname",
        "ldconfig",
        "locale-gen",
        "update-alternatives",
        "update-ca-certificates",
        "dpkg",
        "dpkg-reconfigure",
        "sh",
        "bash",
        "dash",
        "gosu",
        "tini",
        "jq",
        "sort",
        "head",
        "tail",
        "cut",
        "tr",
        "wc",
        "install",
        "strip",
        "file",
        "which",
        "sleep",
        "date",
        "hostname",
        "ssh-keyscan",
        "gpg",
        "openssl",
    }
)
# Programs that read the apt package lists themselves (besides apt, apt-get, apt-cache).
APT_LIST_READERS = frozenset(
    {
        "aptitude",
        "apt-file",
        "mk-build-deps",
        "unattended-upgrade",
        "unattended-upgrades",
        "apt-show-versions",
        "rosdep",
        "apt-rdepends",
    }
)
# Programs that download the lists themselves before reading them (`install_packages` of the
# bitnami images runs `apt-get update` first; add-apt-repository updates after adding a source).
APT_LIST_WRITERS = frozenset({"install_packages", "add-apt-repository", "apt-add-repository"})
# Text that uses apt, in code slimml reads as text only (Python, Makefiles, other scripts).
APT_TEXT_READ_RE = re.compile(
    r"\b(?:apt-get|apt-cache|aptitude)\b|\bapt[ \t]+(?:-\S+[ \t]+)*"
    r"(?:install|reinstall|upgrade|full-upgrade|dist-upgrade|build-dep|source|download|show|"
    r"search|policy|list)\b"
)
APT_TEXT_UPDATE_RE = re.compile(r"\bapt(?:-get)?[ \t]+(?:-\S+[ \t]+)*update\b")
