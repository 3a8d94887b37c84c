"""What the runtime stage still runs (RUN, CMD, ENTRYPOINT, HEALTHCHECK and the scripts they start), and the
requirements files the installs read."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from ...dockerfile import Document, Instruction, shell_words
from ...dockerfile.shell import unwrap
from ...knowledge import manifests as M
from .. import _helpers as H
from .common import NAME_RE, canon, has_var, strip_extras

if TYPE_CHECKING:
    from .runs import RunInfo


def runtime_commands(
    doc: Document,
    ctx,
    instrs: list[Instruction],
    infos: dict[int, RunInfo],
    copies: list[Instruction],
    notes: list[str],
    envs: tuple[str, ...] = (),
) -> set[str]:
    """Programs the stage still runs: RUNs kept in it, CMD/ENTRYPOINT/HEALTHCHECK, scripts they start."""
    used: set[str] = set()
    for ins in instrs:
        if ins.keyword == "RUN":
            info = infos[ins.index]
            if info.kind in ("other", "apt"):
                used.update(info.programs)
                for sc in info.scripts:
                    used |= script_commands(doc, ctx, copies, ins, sc, notes, envs)
        elif ins.keyword in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            progs, scripts = instruction_programs(ins)
            used.update(progs)
            wd = H.workdir_at(doc, ins)
            for sc in scripts:
                used |= script_commands(
                    doc, ctx, copies, ins, sc if sc.startswith("/") else H.join_path(wd, sc), notes, envs
                )
    return used


def instruction_programs(ins: Instruction) -> tuple[list[str], list[str]]:
    """(programs, scripts) a CMD/ENTRYPOINT/HEALTHCHECK runs."""
    args = ins.args.strip()
    if ins.keyword == "HEALTHCHECK":
        if args.upper().startswith("NONE"):
            return [], []
        if args[:3].upper() == "CMD":
            args = args[3:].strip()
    if args.startswith("["):
        try:
            import json

            argv = json.loads(args)
        except ValueError:
            argv = None
        if isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv):
            prog = H.basename(argv[0])
            if prog in ("sh", "bash", "dash") and len(argv) >= 3 and argv[1] == "-c":
                return line_programs(argv[2])
            progs, scripts = [prog], []
            if "/" in argv[0] or argv[0].endswith(".sh"):
                scripts.append(argv[0])
            elif prog in ("sh", "bash", "dash") and len(argv) >= 2 and not argv[1].startswith("-"):
                scripts.append(argv[1])
            return progs, scripts
    return line_programs(args)


_COMMENT_RE = re.compile(r"\s#")
_SPLIT_RE = re.compile(r"&&|\|\||[;|&\n]|\$\(|`|\bthen\b|\bdo\b|\belse\b")


def line_programs(line: str) -> tuple[list[str], list[str]]:
    """Command names of a shell line (best effort: the first word after each separator)."""
    progs, scripts = [], []
    for part in _SPLIT_RE.split(line):
        words = [w for w, _, _ in shell_words(part.strip(), raw=False)]
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if not words:
            continue
        i = unwrap(words, run_wrappers=False)
        if i >= len(words):
            continue
        w0 = words[i]
        if w0 in ("if", "while", "until", "for", "case", "fi", "done", "esac", "{", "}", "(", ")", "!"):
            continue
        progs.append(H.basename(w0))
        if H.basename(w0) == "git" and i + 1 < len(words) and words[i + 1] == "lfs":
            progs.append("git-lfs")
        if "/" in w0 or w0.endswith(".sh"):
            scripts.append(w0)
        elif H.basename(w0) in ("sh", "bash", "dash") and i + 1 < len(words) and not words[i + 1].startswith("-"):
            scripts.append(words[i + 1])
    return progs, scripts


def context_rel(doc: Document, ctx, copies: list[Instruction], before: Instruction, path: str) -> str | None:
    """Context-relative path of the file a COPY put at absolute ``path`` (before ``before``)."""
    for ins in reversed([c for c in copies if c.index < before.index]):
        ops = copy_operands(ins)
        if not ops or len(ops) < 2:
            continue
        srcs, dest = ops[:-1], ops[-1]
        if has_var(dest):
            continue
        dest_abs = H.join_path(H.workdir_at(doc, ins), dest)
        dest_dir = dest.endswith("/") or len(srcs) > 1 or dest in (".", "./")
        for src in srcs:
            s = src.rstrip("/") or "."
            if s in (".", "./") or s == "":
                if H.path_under(path, dest_abs):
                    return posixpath.relpath(path, dest_abs)
                continue
            if any(ch in s for ch in "*?[") or has_var(s):
                continue
            s = H.norm_path(s).lstrip("/")
            if ctx.context_dir is not None and ctx.is_dir(s):
                if H.path_under(path, dest_abs):
                    rel = posixpath.relpath(path, dest_abs)
                    return s if rel == "." else f"{s}/{rel}"
                continue
            target = H.join_path(dest_abs, posixpath.basename(s)) if dest_dir or dest_abs == "/" else dest_abs
            if path == target:
                return s
    return None


def copy_operands(ins: Instruction) -> list[str] | None:
    if ins.is_exec_form:
        return list(ins.json)
    if ins.heredocs:
        return None
    return [w for w, _, _ in shell_words(ins.args, raw=False)]


def script_commands(
    doc: Document,
    ctx,
    copies: list[Instruction],
    at: Instruction,
    path: str,
    notes: list[str],
    envs: tuple[str, ...] = (),
) -> set[str]:
    if any(H.path_under(path, H.join_path(e, "bin")) for e in envs):
        return set()  # an environment's own interpreter or entry point: the environment is copied whole
    rel = context_rel(doc, ctx, copies, at, path)
    text = ctx.read_context_file(rel) if rel is not None and ctx.context_dir is not None else None
    if text is None:
        note = f"`{path}` (not read: check it needs no tool the runtime base lacks)"
        if note not in notes:
            notes.append(note)
        return set()
    out: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        c = _COMMENT_RE.search(line)  # `\s#.*$` as a sub is quadratic on many ` #` in a line
        progs, _ = line_programs(line[: c.start()] if c else line)
        out.update(progs)
    return out


def read_requirements_file(
    doc, ctx, copies, at: Instruction, path: str, cwd: str, seen: set[str], unread: list[str]
) -> tuple[list[str], list[str]]:
    """(package names, absolute directories of local ``-e`` lines) of a requirements file and its includes."""
    if path in seen or len(seen) > 20:
        return [], []
    seen.add(path)
    rel = context_rel(doc, ctx, copies, at, path)
    text = ctx.read_context_file(rel) if rel is not None and ctx.context_dir is not None else None
    if text is None:
        unread.append(f"`{path}`")
        return [], []
    names: list[str] = []
    editables: list[str] = []
    for line in text.splitlines():
        line = M.REQUIREMENTS_COMMENT_RE.sub("", line).strip()
        if not line:
            continue
        m = re.match(r"^(-r|--requirement|-e|--editable)(=|\s+|(?=[^\s-]))(.+)$", line)
        if m and m.group(1) in ("-r", "--requirement"):
            inc = m.group(3).strip()
            if inc and not has_var(inc):
                n, e = read_requirements_file(
                    doc, ctx, copies, at, H.join_path(posixpath.dirname(path), inc), cwd, seen, unread
                )
                names += n
                editables += e
            continue
        if m:
            spec = m.group(3).strip()
            if re.match(r"^(git|hg|svn|bzr)\+", spec) or "://" in spec:
                continue
            local = strip_extras(spec)
            editables.append(local if has_var(local) else H.join_path(cwd, local))
            continue
        if line.startswith("-"):
            continue
        m = NAME_RE.match(line)
        if m:
            names.append(canon(m.group(1)))
    return names, editables
