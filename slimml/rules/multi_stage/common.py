"""Names shared by the parts of SLM008."""

from __future__ import annotations

import re

from ...dockerfile import Document

VENV = "/opt/venv"
NAME_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")  # a requirement's name
VENV_PATH_VALUE = '"/opt/venv/bin:$PATH"'
BUILDER_NAME = "builder"
APT_CLEAN = "rm -rf /var/lib/apt/lists/*"
APT_INSTALL_DEFAULT = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
REASON = (
    "the runtime stage has only the packages listed; run the app / `slimml measure` to verify "
    "(a shared library or tool the old base had, or compiling at run time, needs a package added by hand)"
)


class NoFix(Exception):
    """The file cannot be split safely; the message says why."""


class Nothing(Exception):
    """Splitting would gain nothing."""


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def has_var(s: str) -> bool:
    return "$" in s or "`" in s


def lowercase_file(doc: Document) -> bool:
    lower = sum(1 for i in doc.instructions if i.keyword_raw == i.keyword_raw.lower())
    return lower * 2 > len(doc.instructions)


def strip_extras(spec: str) -> str:
    """``spec`` without a trailing ``[extras]`` -- ``re.sub(r"\\[[^\\]]*\\]$", "", spec)`` in linear time (that
    search restarts at every ``[`` and scans to the end: quadratic on ``[[[[...``)."""
    if not spec.endswith("]"):
        return spec
    q = len(spec) - 1
    p = spec.find("[", spec.rfind("]", 0, q) + 1, q)  # the first `[` with no `]` between it and the last
    return spec[:p] if p >= 0 else spec


def is_requirements_name(name: str) -> bool:
    """``(?i)^[\\w.-]*requirements[\\w.-]*\\.(txt|in)$`` without its quadratic backtracking: word characters,
    dots and dashes, ending in .txt/.in, with "requirements" before that suffix."""
    m = _REQUIREMENTS_NAME_RE.fullmatch(name)
    return m is not None and re.search("requirements", name[: m.start(1) - 1], re.IGNORECASE) is not None


_REQUIREMENTS_NAME_RE = re.compile(r"(?i)[\w.-]*\.(txt|in)")
