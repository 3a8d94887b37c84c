"""Oracles the suite judges rewrites with, independent of slimml's own code: Docker's
.dockerignore semantics, BuildKit's parser, and "is this file copied before that RUN"."""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from pathlib import Path

from .cases import REPO, Case

# -- .dockerignore, as Docker reads it (an independent oracle, not slimml's own matcher) ----------------
def _ignore_regex(pattern: str) -> re.Pattern:
    """moby/patternmatcher: ``**`` any depth, ``*`` and ``?`` within one path element."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                if i + 1 == len(pattern):
                    out += ".*"
                else:
                    out += "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif ch == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(ch)
            else:
                out += pattern[i:j + 1]
                i = j
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$")


def dockerignore_excludes(text: str, path: str) -> bool:
    """Whether ``path`` (relative to the context) is left out by an ignore file's ``text``."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        if neg:
            line = line[1:].strip()
        pat = os.path.normpath(line)
        if pat.startswith("/") and len(pat) > 1:
            pat = pat[1:]
        if pat == ".":
            continue
        rules.append((neg, pat, _ignore_regex(pat)))
    parts = path.split("/")
    excluded = False
    for neg, pat, rx in rules:
        hit = bool(rx.match(path))
        if not hit:
            depth = len(pat.split("/"))
            for k in range(1, min(depth, len(parts) - 1) + 1):
                if rx.match("/".join(parts[:k])):
                    hit = True
                    break
        if hit:
            excluded = not neg
    return excluded


def ignore_file_for(root: Path, case: Case, dockerfile: str) -> Path:
    df = root / dockerfile
    own = df.with_name(df.name + ".dockerignore")
    return own if own.is_file() else root / case.context / ".dockerignore"


# -- BuildKit's reading of a rewrite ---------------------------------------------------------------------
def buildkit_problem(text: str) -> str | None:
    import dockerfile

    try:
        dockerfile.parse_string(text)
    except dockerfile.GoParseError as e:
        return f"BuildKit cannot parse the rewrite: {e}"
    return None


def boundaries_problem(text: str) -> str | None:
    sys.path.insert(0, str(REPO))
    from tests.oracle import buildkit_boundaries, our_boundaries

    try:
        ours, theirs = our_boundaries(text), buildkit_boundaries(text)
    except Exception as e:  # noqa: BLE001
        return f"instruction boundaries could not be compared: {e}"
    if ours != theirs:
        return f"slimml and BuildKit disagree on the rewrite's instructions: {ours} vs {theirs}"
    return None


def run_texts(text: str) -> list[tuple[int, int]]:
    """(line, bytes of shell text) of every RUN, as BuildKit reads it."""
    import dockerfile

    out = []
    try:
        for c in dockerfile.parse_string(text):
            if c.cmd.upper() == "RUN":
                out.append((c.start_line, len(" ".join(c.value).encode())))
    except dockerfile.GoParseError:
        pass
    return out


def _covers(src: str, rel: str) -> bool:
    """Whether a COPY source (as written, context-relative) brings context file ``rel`` along."""
    s = src.strip()
    while s.startswith("./"):
        s = s[2:]
    s = s.lstrip("/").rstrip("/")
    if s in ("", "."):
        return True
    parts = rel.split("/")
    prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    if any(ch in s for ch in "*?["):
        return any(fnmatch.fnmatchcase(p, s) for p in prefixes)
    return s in prefixes


def copied_before_problems(text: str, spec: dict) -> list[str]:
    """The first RUN matching ``spec["run"]`` must come after COPY/ADD instructions that bring
    every file in ``spec["files"]`` (what the installer reads) into the image."""
    import dockerfile

    try:
        cmds = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return []
    sources: list[str] = []
    for c in cmds:
        kw = c.cmd.upper()
        if kw == "RUN" and re.search(spec["run"], c.original):
            missing = [f for f in spec["files"] if not any(_covers(x, f) for x in sources)]
            if missing:
                return [f"line {c.start_line}: `{c.original[:120]}` runs before {', '.join(missing)} "
                        f"(which it reads) is copied"]
            return []
        if kw in ("COPY", "ADD") and not any(f.lower().startswith("--from") for f in c.flags):
            sources.extend(c.value[:-1])
    return [f"no RUN matches {spec['run']!r} any more"]
