"""SLM009's secrets *files*: COPY/ADD of ``.env``, keys and credentials, and those a whole-context
COPY takes along (split from ``secrets_out``, which holds the rule and its docstring)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from .. import dockerignore as DI
from ..dockerfile import Document, Instruction, shell_words
from ..engine import Edit, Fix
from ..knowledge import secrets as K
from . import _helpers as H
from . import secrets_out as S

_RULE = S


# -- files ------------------------------------------------------------------------------------------------
def _glob(s: str) -> bool:
    return any(c in s for c in "*?[")


@lru_cache(maxsize=4096)  # pure: file names repeat across Dockerfiles and passes
def _name_kind(base: str) -> K.SecretFile | bool | None:
    """The secret-file kind a file name matches; False for an example/template file (never a
    secret, wherever it is); None when no pattern matches."""
    if any(fnmatchcase(base, p) for p in K.NOT_SECRET_FILES):
        return False
    return next((kind for kind in K.SECRET_FILES if any(fnmatchcase(base, p) for p in kind.patterns)), None)


def file_kind(ctx, rel: str) -> tuple[K.SecretFile | None, bool]:
    """(kind, certain) of a context path: certain=False when its content could not be checked."""
    base = posixpath.basename(rel)
    if base in K.SECRET_DIRS:
        return K.SECRET_DIRS[base], True
    kind = _name_kind(base)
    if kind is False:
        return None, True
    if kind is not None:
        if kind.marker is None:
            return kind, True
        text = ctx.read_context_file(rel, limit=200_000) if ctx is not None and ctx.context_dir is not None else None
        if text is None:
            return (kind, True) if kind.unreadable_is_secret else (kind, False)
        return (kind, True) if kind.marker.search(text) else (None, True)
    parts = rel.split("/")
    for d in parts[:-1]:
        if d in K.SECRET_DIRS:
            return K.SECRET_DIRS[d], True
    return None, True


@dataclass
class Source:
    word: str
    rel: str | None  # normalized context path; None for URLs, heredocs, variables
    start: int | None  # file span of the word (None in exec form)
    end: int | None


def copy_sources(instr: Instruction) -> tuple[list[Source], str]:
    """(sources, destination) of a COPY/ADD from the build context."""
    if instr.json is not None:
        words = [(w, None, None) for w in instr.json]
    else:
        raw = shell_words(instr.args, raw=True)
        plain = shell_words(instr.args, raw=False)
        words = []
        for (_, a, b), (w, _, _) in zip(raw, plain):
            s, e = instr.args_span(a, b)
            words.append((w, s, e))
    if len(words) < 2:
        return [], ""
    out = []
    for w, s, e in words[:-1]:
        if w.startswith(("<<", "git@")) or "://" in w or "$" in w:
            out.append(Source(w, None, s, e))
        else:
            out.append(Source(w, DI.context_source(w), s, e))
    return out, words[-1][0]


def _after(doc: Document, instr: Instruction) -> list[Instruction]:
    stage = doc.stage_of(instr)
    if stage is None:
        return []
    pos = stage.instructions.index(instr)
    out = list(stage.instructions[pos + 1 :])
    for child in S._children(doc, stage):
        out.extend(child.instructions)
    return out


def file_used(doc: Document, instr: Instruction, names: set[str], kind: K.SecretFile) -> Instruction | None:
    """A RUN after ``instr`` that reads the copied file at build time (names it or runs its reader)."""
    pats = [re.compile(r"(?<![\w.\-])" + re.escape(n) + r"(?![\w.\-])") for n in names if n and n not in (".", "/")]
    for i in _after(doc, instr):
        if i.keyword != "RUN":
            continue
        src = S._run_source(doc, i)
        if any(p.search(src) for p in pats):
            return i
        for argv in S._programs(doc, i):
            if H.basename(argv[0]) in kind.consumers:
                return i
    return None


def _ignore_state(ctx):
    """(ignore file relative path, its text, its patterns) or None when it cannot be edited."""
    if ctx is None or ctx.context_dir is None or ctx.context_note:
        return None
    rel = H.ignore_file(ctx)
    if rel is None:
        return None
    text = ctx.read_context_file(rel) or ""
    try:
        pats = DI.parse_patterns(text)
    except DI.PatternError:
        return None
    return rel, text, pats


def _ignore_edit(state, lines: list[str]) -> Edit | None:
    if state is None:
        return None
    rel, text, pats = state
    present = {p.text for p in pats if not p.exclusion}
    new = []
    for line in lines:
        norm = DI.normalize_line(line)
        if norm is None or norm in present or norm in new:
            continue
        if not _glob(norm) and DI.is_excluded(norm, pats):
            continue
        new.append(norm)
    if not new:
        return None
    return Edit(len(text), len(text), H.ignore_block(text, new, K.DOCKERIGNORE_HEADER), path=rel)


def _explicit_paths(doc: Document, ctx) -> set[str]:
    """Context paths that some COPY/ADD (here or in a sibling Dockerfile) names literally."""
    docs = [doc]
    if ctx is not None and ctx.context_dir is not None:
        rel = H.ignore_file(ctx)
        if rel == ".dockerignore":
            docs += [d for _, d in ctx.sibling_dockerfiles()]
    out: set[str] = set()
    for d in docs:
        for i in d.instructions:
            if i.keyword in ("COPY", "ADD") and i.flag("from") is None:
                for s in copy_sources(i)[0]:
                    if s.rel and not _glob(s.rel):
                        out.add(s.rel)
    return out


def _escape(path: str) -> bool:
    return not any(c in path for c in "*?[\\!#") and not path.startswith(" ")


def file_findings(doc: Document, ctx):
    state = _ignore_state(ctx)
    whole: list[tuple[Instruction, Source]] = []
    copies = [i for i in doc.instructions if i.keyword in ("COPY", "ADD") and i.flag("from") is None]
    for instr in copies:
        sources, dest = copy_sources(instr)
        secret: list[tuple[Source, K.SecretFile]] = []
        unsure: list[tuple[Source, K.SecretFile]] = []
        for s in sources:
            if s.rel is None:
                continue
            if (
                s.rel == "."
                or _glob(s.rel)
                or (ctx is not None and ctx.is_dir(s.rel) and posixpath.basename(s.rel) not in K.SECRET_DIRS)
            ):
                whole.append((instr, s))
                continue
            kind, certain = file_kind(ctx, s.rel)
            if kind is None:
                continue
            (secret if certain else unsure).append((s, kind))
        for s, kind in unsure:
            yield H.finding(
                _RULE,
                f"`{s.word}` may be a {kind.label}: {instr.keyword} would put it into a filesystem layer",
                instr.start,
                instr.end,
                note="its content could not be read to tell; if it holds a secret, "
                f"{kind.advice} and add it to .dockerignore",
            )
        if not secret:
            continue
        names_desc = ", ".join(f"`{s.word}` ({k.label})" for s, k in secret)
        it = "them" if len(secret) > 1 else "it"
        msg = (
            f"{instr.keyword} puts {names_desc} into a filesystem layer: anyone who can pull the image can read "
            f"{it}, even if a later RUN deletes {it}"
        )
        dest_base = posixpath.basename(dest.rstrip("/")) if dest and not dest.endswith("/") else ""
        users = []
        for s, kind in secret:
            names = {posixpath.basename(s.rel)}
            if len(sources) == 1 and any(fnmatchcase(dest_base, pat) for pat in kind.patterns):
                names.add(dest_base)
            u = file_used(doc, instr, names, kind)
            if u is not None:
                users.append((s, kind, u))
        if users:
            s, kind, u = users[0]
            yield H.finding(
                _RULE,
                msg,
                instr.start,
                instr.end,
                note=f"the RUN at line {u.start_line} reads `{s.word}` at build time: {kind.advice}, "
                "then remove this COPY by hand",
            )
            continue
        named = next(((s, r) for s, _ in secret for r in [_named(doc, ctx, s.rel)] if r is not None), None)
        if named is not None:
            s, r = named
            yield H.finding(
                _RULE,
                msg,
                instr.start,
                instr.end,
                note=f"{_origin(r)} names `{s.word}`: the app reads it from the image, and removing it "
                f"breaks that -- give it at run time (a mounted file, `--env-file`, a secret) and "
                "remove this COPY by hand",
            )
            continue
        edits: list[Edit] = []
        if len(secret) == len(sources):
            edits.append(Edit(instr.line_start, instr.line_end, ""))
        elif instr.json is not None:
            yield H.finding(
                _RULE,
                msg,
                instr.start,
                instr.end,
                note="remove the secrets file from the JSON source list by hand and add it to .dockerignore",
            )
            continue
        else:
            order = [s for s in sources] + [None]
            words = shell_words(instr.args, raw=True)
            dest_start = instr.args_span(words[-1][1], words[-1][2])[0]
            for s, _ in secret:
                k = order.index(s)
                nxt = order[k + 1]
                edits.append(Edit(s.start, nxt.start if nxt is not None else dest_start, ""))
        lines = [s.rel for s, _ in secret if _escape(s.rel)]
        side = _ignore_edit(state, lines)
        if side is not None:
            edits.append(side)
        gone = ", ".join(f"`{s.word}`" for s, _ in secret)
        advice = "; ".join(f"for `{s.word}`: {k.advice}" for s, k in secret) if len(secret) > 1 else secret[0][1].advice
        yield H.finding(
            _RULE,
            msg,
            instr.start,
            instr.end,
            Fix.unsafe(
                *edits,
                reason=f"the image no longer contains {gone}; if the app reads {it} at run "
                f"time, {advice}. Rotate what {'they' if len(secret) > 1 else 'it'} "
                f"held: images built before contain {it}"
                + (
                    ""
                    if side is not None
                    else f". Not added to .dockerignore: {ctx.side_files_problem()}"
                    if ctx is not None and ctx.side_files_problem()
                    else ""
                ),
                description=f"remove {gone} from {instr.keyword}"
                + (f" and add {it} to .dockerignore" if side is not None else ""),
            ),
        )
    if whole and state is not None:
        yield from _whole_context(doc, ctx, state, whole)


def _named(doc: Document, ctx, path: str):
    """A file of the build context (or the Dockerfile) that names ``path``: excluding it is then
    never offered (see ``slimml.refs``)."""
    from .. import refs

    if ctx is None or ctx.context_dir is None:
        return None
    key = ("slm009-names", str(ctx.context_dir), doc.text)
    names = ctx.run_cache.get(key)
    if names is None:
        names = ctx.run_cache[key] = refs.Names(ctx, _context_files(ctx), [(_label(ctx), doc)])
    return names.naming(list(DI.segments(path)), refs.needles(path))


def _label(ctx) -> str:
    return ctx.dockerfile.name if ctx.dockerfile is not None else "Dockerfile"


def _origin(ref) -> str:
    return f"`{ref.origin}`"


def _context_files(ctx) -> list[str]:
    """Paths of the context's files (walked once per run: the disk does not change meanwhile)."""
    key = ("slm009-files", str(ctx.context_dir))
    if key not in ctx.run_cache:
        ctx.run_cache[key] = [p for p, _ in ctx.walk_context()]
    return ctx.run_cache[key]


def _secret_files(ctx, files: list[str]) -> list[tuple[str, K.SecretFile]]:
    """The context files that certainly are secrets files (once per run)."""
    key = ("slm009-secret-files", str(ctx.context_dir))
    if key not in ctx.run_cache:
        out = []
        for path in files:
            kind, certain = file_kind(ctx, path)
            if kind is not None and certain:
                out.append((path, kind))
        ctx.run_cache[key] = out
    return ctx.run_cache[key]


def _whole_context(doc: Document, ctx, state, whole: list[tuple[Instruction, Source]]):
    rel_ignore, _text, pats = state
    explicit = _explicit_paths(doc, ctx)
    found: dict[str, tuple[K.SecretFile, Instruction]] = {}
    files = _context_files(ctx)
    for path, kind in _secret_files(ctx, files):
        if DI.is_excluded(path, pats):
            continue
        for instr, src in whole:
            if any(x.matches_or_parent(path) for x in H.copy_excludes(instr)):
                continue
            if src.rel == "." or DI.Pattern.make(src.rel).matches_or_parent(path):
                found.setdefault(path, (kind, instr))
                break
    kept: list[tuple[str, Instruction]] = []
    lines: list[str] = []
    for path, (kind, instr) in sorted(found.items()):
        if path in explicit or any(path.startswith(e.rstrip("/") + "/") for e in explicit) or not _escape(path):
            continue
        u = file_used(doc, instr, {posixpath.basename(path)}, kind)
        if u is not None:
            kept.append(
                (
                    path,
                    f"the RUN at line {u.start_line} reads it at build time: give that RUN a secret "
                    "mount with the file's path instead, then add it to .dockerignore",
                )
            )
            continue
        r = _named(doc, ctx, path)
        if r is not None:
            kept.append(
                (
                    path,
                    f"{_origin(r)} names it: the app reads it from the image -- give it at run time (a "
                    "mounted file, `--env-file`, a secret), then add it to .dockerignore",
                )
            )
            continue
        lines.append(path)
    for path, note in kept[:1]:
        first = next(i for i, _ in whole)
        yield H.finding(
            _RULE,
            f"`{path}` (a secrets file in the build context) is copied into a filesystem layer",
            first.start,
            first.end,
            note=note,
        )
    if not lines:
        return
    root_env = [p for p in lines if "/" not in p and (p == ".env" or p.startswith(".env."))]
    out_lines = [p for p in lines if p not in root_env]
    if root_env:
        visible_root = [p for p in files if "/" not in p and p.startswith(".env.") and not DI.is_excluded(p, pats)]
        star_ok = all(p in root_env for p in visible_root) and not any(
            e.startswith(".env.") and "/" not in e for e in explicit
        )
        head = [".env"] if ".env" in root_env else []
        if star_ok:
            head.append(".env.*")
        else:
            head += [p for p in root_env if p != ".env"]
        out_lines = head + out_lines
    edit = _ignore_edit(state, out_lines)
    if edit is None:
        return
    instr = found[lines[0]][1]
    copied = ", ".join(f"`{p}`" for p in lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
    summary = " ".join(instr.args.split())
    env_note = ""
    if root_env:
        env_note = (
            "the app may read `.env` at run time: pass its variables with `docker run --env-file .env`, "
            "compose `env_file:` or a Kubernetes secret instead; "
        )
    yield H.finding(
        _RULE,
        f"`{instr.keyword} {summary}` copies secrets files from the build context into a filesystem layer: {copied}",
        instr.start,
        instr.end,
        Fix.unsafe(
            edit,
            reason=f"{env_note}excluding them from the context removes them from the image "
            "-- mount what the app needs at run time; rotate what they hold",
            description=f"exclude {', '.join(out_lines)} in {rel_ignore}",
        ),
    )
