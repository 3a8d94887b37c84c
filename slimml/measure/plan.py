"""What ``slimml measure`` builds: the rewrite of a *copy* of the Dockerfile and its context.

The user's files are never written: the context is copied to a temp folder ("before"), a second
tree is hard-linked from that copy ("after"), and the rewritten Dockerfile and the side files the
rewrite creates or edits (``.dockerignore``, init scripts) replace their links there. Every later
write (the source-only change) is a write-to-temp + rename, which breaks the link, so the two
trees never affect each other.

Also here, as pure functions on Dockerfile text (tests and ``verify`` use them directly): which
builder a file needs, its ``# syntax=`` directive, the base image of the final stage, the map of
what COPY/ADD puts where, and the application file a source-only change edits.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..shellvars import VarRefs
from .engine import MeasureError

# Flags and constructs only BuildKit understands (the classic builder rejects them).
BUILDKIT_RUN_FLAGS = frozenset({"mount", "network", "security", "device"})
BUILDKIT_COPY_FLAGS = frozenset({"chmod", "link", "parents", "exclude", "checksum", "keep-git-dir"})
# ...and those that need a newer Dockerfile frontend than the one built into a Docker 20.10 engine
# (so a `# syntax=` directive, i.e. a frontend image from a registry, is required for them).
NEWER_FRONTEND_RUN_FLAGS = frozenset({"network", "security", "device"})
NEWER_FRONTEND_COPY_FLAGS = frozenset({"link", "parents", "exclude", "checksum", "keep-git-dir"})

# Files a source-only change must not edit: dependency manifests and lock files.
MANIFEST_NAMES = frozenset(
    {
        "requirements.txt",
        "constraints.txt",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "Pipfile",
        "Pipfile.lock",
        "poetry.lock",
        "uv.lock",
        "pdm.lock",
        "environment.yml",
        "environment.yaml",
        "conda.yml",
        "conda.yaml",
        "package.json",
        "package-lock.json",
        "yarn.lock",
        "go.mod",
        "go.sum",
        "Cargo.toml",
        "Cargo.lock",
    }
)
MANIFEST_RE = re.compile(r"^(requirements|constraints)([-_.][\w.-]*)?\.(txt|in)$", re.IGNORECASE)
# Comment syntax per extension, for the line the source-only change appends.
COMMENT_PREFIX = {
    ".py": "#",
    ".sh": "#",
    ".rb": "#",
    ".r": "#",
    ".pl": "#",
    ".yaml": "#",
    ".yml": "#",
    ".toml": "#",
    ".cfg": "#",
    ".ini": ";",
    ".js": "//",
    ".ts": "//",
    ".go": "//",
    ".c": "//",
    ".h": "//",
    ".cc": "//",
    ".cpp": "//",
    ".cu": "//",
    ".java": "//",
    ".rs": "//",
    ".html": None,
    ".css": None,
}
SYSTEM_DIRS = frozenset(
    {
        "/",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
        "/usr",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/lib",
        "/usr/share",
        "/etc",
        "/var",
        "/opt",
        "/home",
        "/root",
        "/tmp",
        "/run",
        "/dev",
        "/proc",
        "/sys",
    }
)


# -- Dockerfile facts (pure) ----------------------------------------------------------------------------
def _doc(text: str):
    from ..dockerfile import parse

    return parse(text)


def syntax_directive(text: str) -> str | None:
    """The frontend image of a ``# syntax=`` parser directive, or None."""
    return _doc(text).directives.get("syntax") or None


# (only the name is read; a value part ``[ \t]*(.*?)[ \t]*$`` always matched the rest of the line, and was
# quadratic on a long run of blanks followed by a non-blank)
_DIRECTIVE_RE = re.compile(r"^[ \t]*#[ \t]*([A-Za-z]+)[ \t]*=")


def strip_syntax_directive(text: str) -> str:
    """``text`` without its ``# syntax=`` line (parser directives are the leading ``# k=v`` lines)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = _DIRECTIVE_RE.match(line.rstrip("\r\n"))
        if not m:
            break
        if m.group(1).lower() == "syntax":
            return "".join(lines[:i] + lines[i + 1 :])
    return text


@dataclass(frozen=True)
class Features:
    buildkit: tuple[str, ...]  # why BuildKit is needed (empty: the classic builder can build it)
    newer_frontend: tuple[str, ...]  # what needs a newer frontend than the engine's built-in one


def features(text: str) -> Features:
    doc = _doc(text)
    bk, newer = [], []
    if doc.directives.get("syntax"):
        bk.append(f"# syntax={doc.directives['syntax']}")
    for ins in doc.instructions:
        for target in (ins, ins.inner) if ins.inner else (ins,):
            if target.heredocs:
                bk.append(f"heredoc (line {ins.start_line})")
                newer.append(f"heredoc (line {ins.start_line})")
            flags = {f.name for f in target.flags}
            if target.keyword == "RUN":
                for f in sorted(flags & BUILDKIT_RUN_FLAGS):
                    bk.append(f"RUN --{f} (line {ins.start_line})")
                for f in sorted(flags & NEWER_FRONTEND_RUN_FLAGS):
                    newer.append(f"RUN --{f} (line {ins.start_line})")
            if target.keyword in ("COPY", "ADD"):
                for f in sorted(flags & BUILDKIT_COPY_FLAGS):
                    bk.append(f"{target.keyword} --{f} (line {ins.start_line})")
                for f in sorted(flags & NEWER_FRONTEND_COPY_FLAGS):
                    newer.append(f"{target.keyword} --{f} (line {ins.start_line})")
    return Features(tuple(dict.fromkeys(bk)), tuple(dict.fromkeys(newer)))


_VAR_RE = VarRefs(r"[A-Za-z_][A-Za-z0-9_]*", ":?-")  # linear-time ${NAME}, ${NAME:-x}, $NAME


def _subst(s: str, env: dict[str, str]) -> str:
    def rep(m):
        name = m.group(1) or m.group(3)
        if name in env:
            return env[name]
        return m.group(2) if m.group(2) is not None else m.group(0)

    return _VAR_RE.sub(rep, s)


def _global_args(doc) -> dict[str, str]:
    out = {}
    for ins in doc.global_args:
        for w in ins.words():
            if "=" in w:
                k, v = w.split("=", 1)
                out[k] = v.strip("\"'")
    return out


def final_base_image(text: str) -> str | None:
    """The external image the final stage is built on (following ``FROM <stage>`` chains)."""
    doc = _doc(text)
    if not doc.stages:
        return None
    args = _global_args(doc)
    names = {s.name: s for s in doc.stages if s.name}
    stage = doc.stages[-1]
    for _ in range(len(doc.stages)):
        image = _subst(stage.image, args)
        prev = names.get(image.lower())
        if prev is None or prev.index >= stage.index:
            return None if "$" in image else image
        stage = prev
    return None


@dataclass(frozen=True)
class CopyEntry:
    src: str  # relative to the context ("." for all of it)
    dest: str  # absolute path in the image
    kind: str  # "dir": src's contents land in dest; "into": src lands in dest/<name>; "file": src is dest


def _copy_words(ins) -> list[str]:
    if ins.json is not None:
        return list(ins.json)
    from ..dockerfile.parser import shell_words

    return [w for w, _, _ in shell_words(ins.args, raw=False)] if ins.args else []


def copy_map(text: str, context_dir: str | os.PathLike | None = None) -> list[CopyEntry]:
    """Where the final stage's COPY/ADD instructions put files from the build context."""
    doc = _doc(text)
    if not doc.stages:
        return []
    stage = doc.stages[-1]
    env: dict[str, str] = {}
    workdir = "/"
    out: list[CopyEntry] = []
    for ins in stage.instructions:
        kw = ins.keyword
        if kw == "WORKDIR":
            w = _subst(ins.args.strip(), env)
            workdir = posixpath.normpath(posixpath.join(workdir, w)) if w else workdir
        elif kw in ("ENV", "ARG"):
            for w in ins.words():
                if "=" in w:
                    k, v = w.split("=", 1)
                    env[k] = v.strip("\"'")
        elif kw in ("COPY", "ADD") and not ins.flag("from") and not ins.heredocs:
            words = _copy_words(ins)
            if len(words) < 2:
                continue
            srcs, dest = words[:-1], _subst(words[-1], env)
            dest_is_dir = dest.endswith("/") or len(srcs) > 1 or dest in (".", "./")
            dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
            for src in srcs:
                if "://" in src or src.startswith("git@"):
                    continue
                src = _subst(src, env)
                rel = posixpath.normpath(src.lstrip("/")) if src.strip("/") else "."
                is_dir = rel == "." or any(c in rel for c in "*?[")
                if context_dir is not None and not is_dir:
                    is_dir = os.path.isdir(os.path.join(os.fspath(context_dir), rel))
                if is_dir:
                    out.append(CopyEntry(rel, dest_abs, "dir" if not any(c in rel for c in "*?[") else "into"))
                elif dest_is_dir:
                    out.append(CopyEntry(rel, dest_abs, "into"))
                else:
                    out.append(CopyEntry(rel, dest_abs, "file"))
    return out


def image_to_context(path: str, entries: list[CopyEntry]) -> str | None:
    """The context path a file at ``path`` in the image was copied from (last COPY wins), or None."""
    found = None
    for e in entries:
        if e.kind == "dir":
            if path == e.dest or path.startswith(e.dest.rstrip("/") + "/"):
                rel = posixpath.relpath(path, e.dest)
                found = posixpath.normpath(posixpath.join(e.src, rel)) if e.src != "." else rel
        elif e.kind == "into":
            parent, name = posixpath.split(path)
            if parent == e.dest:
                if any(c in e.src for c in "*?["):
                    if fnmatch.fnmatchcase(name, posixpath.basename(e.src)):
                        found = posixpath.join(posixpath.dirname(e.src), name).lstrip("./") or name
                elif posixpath.basename(e.src) == name:
                    found = e.src
        elif e.kind == "file" and path == e.dest:
            found = e.src
    return found


def app_roots(workdir: str | None, entries: list[CopyEntry]) -> list[str]:
    """Folders (and single files) holding the application: WORKDIR and the COPY destinations."""
    roots: list[str] = []
    if workdir and posixpath.normpath(workdir) not in SYSTEM_DIRS:
        roots.append(posixpath.normpath(workdir))
    for e in entries:
        target = (
            posixpath.join(e.dest, posixpath.basename(e.src))
            if e.kind == "into" and not any(c in e.src for c in "*?[")
            else e.dest
        )
        if e.kind == "dir" and e.dest in SYSTEM_DIRS:
            continue
        if e.kind == "into" and any(c in e.src for c in "*?[") and e.dest in SYSTEM_DIRS:
            continue
        roots.append(posixpath.normpath(target))
    out: list[str] = []
    for r in sorted(set(roots), key=lambda r: (r.count("/"), r)):
        if not any(r == o or r.startswith(o.rstrip("/") + "/") for o in out):
            out.append(r)
    return out


def documented_env(before_text: str, after_text: str) -> set[str]:
    """ENV keys the rewritten Dockerfile sets and the original does not (visible in the diff)."""

    def keys(text):
        out = set()
        for ins in _doc(text).instructions:
            if ins.keyword == "ENV":
                words = ins.words()
                if len(words) >= 2 and "=" not in words[0]:
                    out.add(words[0])  # legacy `ENV KEY value`
                else:
                    out.update(w.split("=", 1)[0] for w in words if "=" in w)
        return out

    return keys(after_text) - keys(before_text)


def cmd_words(text: str) -> list[str]:
    """Words of the final stage's ENTRYPOINT and CMD (for guessing the main application file)."""
    doc = _doc(text)
    if not doc.stages:
        return []
    words = []
    for ins in doc.stages[-1].instructions:
        if ins.keyword in ("CMD", "ENTRYPOINT"):
            words += list(ins.json) if ins.json is not None else ins.words()
    return words


# -- the copies -------------------------------------------------------------------------------------
def _ignore_patterns(text: str | None):
    from ..dockerignore import PatternError, parse_patterns

    if not text:
        return []
    try:
        return parse_patterns(text)
    except PatternError:
        return []


def _excluded(rel: str, patterns) -> bool:
    from ..dockerignore import is_excluded

    return bool(patterns) and is_excluded(rel, patterns)


def copy_context(src: Path, dst: Path, ignore_texts: list[str | None], always: set[str] = frozenset()) -> int:
    """Copy the build context, skipping what *every* given .dockerignore excludes (Docker never sends
    it). Symlinks stay symlinks; modes and mtimes are kept. Returns the number of files copied."""
    pattern_sets = [_ignore_patterns(t) for t in ignore_texts]
    can_prune = all(not any(p.exclusion for p in ps) for ps in pattern_sets)
    count = 0
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        out_dir = dst / rel_dir if rel_dir else dst
        keep = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                filenames.append(d)  # a symlink to a folder is copied as a link
                continue
            if can_prune and all(_excluded(rel, ps) for ps in pattern_sets) and pattern_sets:
                continue
            keep.append(d)
        dirnames[:] = keep
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if rel not in always and pattern_sets and all(_excluded(rel, ps) for ps in pattern_sets):
                continue
            s = os.path.join(dirpath, f)
            try:
                mode = os.lstat(s).st_mode
            except OSError:
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                continue  # sockets, FIFOs, devices: nothing a build copies (and reading a FIFO blocks)
            try:
                shutil.copy2(s, out_dir / f, follow_symlinks=False)
            except OSError as e:
                raise MeasureError(f"cannot copy the build context: {s}: {e.strerror or e}") from None
            count += 1
        try:
            shutil.copystat(dirpath, out_dir)
        except OSError:
            pass
    return count


def link_tree(src: Path, dst: Path) -> None:
    """A hard-linked twin of ``src`` (a copy where links are impossible). Files are only ever
    replaced by rename afterwards, so the twins stay independent."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        out = dst if rel == "." else dst / rel
        out.mkdir(parents=True, exist_ok=True)
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                filenames.append(d)
        for f in filenames:
            s = os.path.join(dirpath, f)
            if os.path.islink(s):
                os.symlink(os.readlink(s), out / f)
                continue
            try:
                os.link(s, out / f)
            except OSError:
                shutil.copy2(s, out / f)
        shutil.copystat(dirpath, out)


def replace_file(path: Path, data: bytes, mode: int | None = None) -> None:
    from ..io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data, mode=mode)


# -- the plan -------------------------------------------------------------------------------------------
@dataclass
class RewriteOptions:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    context: Path | None = None
    config: Path | None = None
    builtin_frontend: bool = False


@dataclass
class Plan:
    dockerfile: Path  # the user's file (read only)
    context: Path  # the user's build context (read only)
    root: Path | None = None  # temp folder holding both copies
    before_context: Path | None = None
    after_context: Path | None = None
    before_dockerfile: Path | None = None
    after_dockerfile: Path | None = None
    dockerfile_rel: str | None = None  # the Dockerfile's path inside the context (None: outside)
    other: Path | None = None  # --after: the user's other Dockerfile (read only); None: slimml's rewrite
    other_rel: str | None = None  # its path inside the context (None: outside)
    before_text: str = ""
    after_text: str = ""
    changed: bool = False
    applied: dict[str, int] = field(default_factory=dict)
    unsafe_applied: list[str] = field(default_factory=list)
    diff: str = ""
    side_files: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # context-relative
    dockerignore_before: str | None = None
    dockerignore_after: str | None = None
    notes: list[str] = field(default_factory=list)
    files_copied: int = 0

    @property
    def rewrite_changed(self) -> set[str]:
        """Context-relative paths whose content the rewrite itself changed."""
        out = {rel for rel, (b, a) in self.side_files.items() if b != a}
        if self.other is None and self.dockerfile_rel and self.before_text != self.after_text:
            out.add(self.dockerfile_rel)
        return out


def resolve_dockerfile(path: Path) -> Path:
    from ..discovery import find_dockerfiles

    if not path.exists():
        raise MeasureError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / "Dockerfile").is_file():
            return path / "Dockerfile"
        found = find_dockerfiles(path)
        if not found:
            raise MeasureError(f"{path}: no Dockerfile found in this directory")
        if len(found) > 1:
            names = ", ".join(os.path.relpath(f, path) for f in found[:5])
            raise MeasureError(f"{path}: several Dockerfiles ({names}); name the one to measure")
        return found[0]
    return path


def rewrite(path: Path, opts: RewriteOptions) -> Plan:
    """Run the fixer on the user's Dockerfile *without writing anything*."""
    from ..runner import Options, fix_file

    dockerfile = resolve_dockerfile(path)
    report = fix_file(
        dockerfile,
        Options(
            write=False,
            select=opts.select,
            ignore=opts.ignore,
            unsafe_fixes=opts.unsafe_fixes,
            context=opts.context,
            config=opts.config,
        ),
        committed={},
    )
    if report.error:
        raise MeasureError(report.error)
    r = report.result
    context = Path(report.context_dir).resolve()
    plan = Plan(
        dockerfile=dockerfile.resolve(),
        context=context,
        before_text=r.original,
        after_text=r.output,
        changed=r.changed,
        diff=report.diff,
    )
    plan.applied = dict(r.applied_counts())
    plan.unsafe_applied = sorted({f.code for f in r.applied if f.fix.applicability.value == "unsafe"})
    try:
        plan.dockerfile_rel = plan.dockerfile.relative_to(context).as_posix()
    except ValueError:
        plan.dockerfile_rel = None
    for abs_path, (before, after) in r.side_files.items():
        try:
            rel = Path(abs_path).resolve().relative_to(context).as_posix()
        except ValueError:
            raise MeasureError(f"the rewrite writes {abs_path}, outside the build context {context}") from None
        plan.side_files[rel] = (before, after)
    di = context / ".dockerignore"
    plan.dockerignore_before = di.read_text(encoding="utf-8", errors="replace") if di.is_file() else None
    plan.dockerignore_after = (
        plan.side_files[".dockerignore"][1] if ".dockerignore" in plan.side_files else plan.dockerignore_before
    )
    return plan


def read_dockerfile(path: Path):
    """A Dockerfile given on the command line, checked: (Source, Document) or a MeasureError with
    one line (a missing file, a folder, binary or empty content, not a Dockerfile)."""
    from ..dockerfile import DockerfileError, parse, require_stages
    from ..io import InputError, read_source

    try:
        source = read_source(path)
        return source, require_stages(parse(source.text))
    except InputError as e:
        raise MeasureError(str(e)) from None
    except DockerfileError as e:
        raise MeasureError(f"{path}: not a valid Dockerfile: {e}") from None


def ignore_file_for(dockerfile: Path, context: Path) -> str | None:
    """The .dockerignore BuildKit applies to a build of ``dockerfile``: ``<Dockerfile>.dockerignore``
    next to it when there is one, else the context's."""
    for p in (dockerfile.parent / f"{dockerfile.name}.dockerignore", context / ".dockerignore"):
        if p.is_file():
            return p.read_text(encoding="utf-8", errors="replace")
    return None


def pair(before: Path, after: Path, context: Path | None = None) -> Plan:
    """Two given Dockerfiles built from the same context (``slimml measure A --after B``)."""
    import difflib

    from ..discovery import infer_context
    from ..secrets import mask

    before = resolve_dockerfile(before)
    src_b, doc_b = read_dockerfile(before)
    src_a, _ = read_dockerfile(after)
    ctx = (context or infer_context(before, doc_b)).resolve()
    plan = Plan(
        dockerfile=before.resolve(),
        context=ctx,
        before_text=src_b.text,
        after_text=src_a.text,
        changed=src_b.text != src_a.text,
        other=after.resolve(),
    )
    for attr, path in (("dockerfile_rel", plan.dockerfile), ("other_rel", plan.other)):
        try:
            setattr(plan, attr, path.relative_to(ctx).as_posix())
        except ValueError:
            setattr(plan, attr, None)
    plan.dockerignore_before = ignore_file_for(plan.dockerfile, ctx)
    plan.dockerignore_after = ignore_file_for(plan.other, ctx)
    # Same text, another .dockerignore (BuildKit's <Dockerfile>.dockerignore): other images all the same.
    plan.changed = plan.changed or plan.dockerignore_before != plan.dockerignore_after
    plan.diff = mask(
        "".join(
            difflib.unified_diff(
                src_b.text.splitlines(keepends=True),
                src_a.text.splitlines(keepends=True),
                f"a/{before.name}",
                f"b/{after.name}",
            )
        )
    )
    return plan


def materialize(plan: Plan, resources, builtin_frontend: bool = False, tmp_parent: str | None = None) -> None:
    """Write the two build trees into a temp folder (registered with ``resources`` for removal)."""
    from ..io import read_source

    before_text, after_text = plan.before_text, plan.after_text
    if builtin_frontend:
        for label, text in (("original", before_text), ("rewritten", after_text)):
            newer = features(text).newer_frontend
            if newer:
                raise MeasureError(
                    f"--builtin-frontend: the {label} Dockerfile uses {', '.join(newer)}, which the "
                    "engine's built-in Dockerfile frontend may not support; build it with its "
                    "`# syntax=` frontend (give the builder registry access, or use --builder)"
                )
        stripped = [strip_syntax_directive(t) for t in (before_text, after_text)]
        if stripped != [before_text, after_text]:
            plan.notes.append(
                "--builtin-frontend: the `# syntax=` line was removed from the temporary copies; "
                "both images were built with the engine's built-in Dockerfile frontend"
            )
        before_text, after_text = stripped

    root = Path(tempfile.mkdtemp(prefix="slimml-measure-", dir=tmp_parent))
    resources.dirs.append(str(root))
    plan.root = root
    plan.before_context, plan.after_context = root / "before", root / "after"
    after_rel = plan.other_rel if plan.other is not None else plan.dockerfile_rel
    always = {r for r in (plan.dockerfile_rel, after_rel) if r}
    plan.files_copied = copy_context(
        plan.context, plan.before_context, [plan.dockerignore_before, plan.dockerignore_after], always=always
    )
    link_tree(plan.before_context, plan.after_context)
    source = read_source(plan.dockerfile)
    source_after = read_source(plan.other) if plan.other is not None else source
    plan.before_dockerfile = (
        plan.before_context / plan.dockerfile_rel if plan.dockerfile_rel else root / "before.Dockerfile"
    )
    plan.after_dockerfile = plan.after_context / after_rel if after_rel else root / "after.Dockerfile"
    replace_file(plan.before_dockerfile, source.encode(before_text))
    replace_file(plan.after_dockerfile, source_after.encode(after_text))
    # A Dockerfile written outside the context keeps its own .dockerignore next to it (BuildKit reads it there).
    for df, path, rel in (
        (plan.before_dockerfile, plan.dockerfile, plan.dockerfile_rel),
        (plan.after_dockerfile, plan.other or plan.dockerfile, after_rel),
    ):
        own = path.parent / f"{path.name}.dockerignore"
        if rel is None and own.is_file():
            replace_file(df.parent / f"{df.name}.dockerignore", own.read_bytes())
    for rel, (before, after) in plan.side_files.items():
        if before == after:
            continue
        mode = 0o755 if before is None and after.startswith("#!") else None
        replace_file(plan.after_context / rel, after.encode("utf-8"), mode=mode)
    plan.before_text, plan.after_text = before_text, after_text


# -- the source-only change -----------------------------------------------------------------------------
def is_manifest(name: str) -> bool:
    return name in MANIFEST_NAMES or bool(MANIFEST_RE.match(name)) or name.endswith(".lock")


def source_covers(src: str, rel: str) -> bool:
    """A COPY/ADD source (or a bind mount's source) takes in the context file ``rel``."""
    s = posixpath.normpath(src.lstrip("/")) if src.strip("/") else "."
    if s == "." or rel == s or rel.startswith(s.rstrip("/") + "/"):
        return True
    return any(c in s for c in "*?[") and (
        fnmatch.fnmatchcase(rel, s) or any(fnmatch.fnmatchcase(rel[:i], s) for i in range(len(rel)) if rel[i] == "/")
    )


def copies_from_context(ins, rel: str) -> bool:
    """This COPY/ADD copies the context file ``rel``."""
    if ins.keyword not in ("COPY", "ADD") or ins.flag("from") or ins.heredocs:
        return False
    return any(source_covers(src, rel) for src in _copy_words(ins)[:-1])


def _copied_by(rel: str, text: str) -> bool:
    """Some COPY/ADD from the context (any stage) copies ``rel``."""
    return any(copies_from_context(ins, rel) for ins in _doc(text).instructions)


def choose_source_file(
    context: Path,
    before_text: str,
    after_text: str,
    ignore_before: str | None,
    ignore_after: str | None,
    skip: set[str] = frozenset(),
) -> str | None:
    """An application source file both images copy (not a manifest): the file a developer edits.

    Prefers the module the CMD names (``main.py``, ``app:app`` -> ``app.py``), then Python files
    near the top of the context."""
    pats = [_ignore_patterns(ignore_before), _ignore_patterns(ignore_after)]
    wanted = set()
    for w in cmd_words(after_text) + cmd_words(before_text):
        w = w.split(":", 1)[0] if ":" in w and "/" not in w.split(":", 1)[0] else w
        base = posixpath.basename(w)
        if base.endswith(".py"):
            wanted.add(base)
        elif re.match(r"^[A-Za-z_][\w.]*$", base):
            wanted.add(base.split(".")[-1] + ".py" if "." in base else base + ".py")
    best = None
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = os.path.relpath(dirpath, context)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("__pycache__", "node_modules"))
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}" if rel_dir else f
            ext = os.path.splitext(f)[1].lower()
            if rel in skip or is_manifest(f) or f.startswith(".") or COMMENT_PREFIX.get(ext) is None:
                continue
            if os.path.islink(os.path.join(dirpath, f)):
                continue
            if any(_excluded(rel, p) for p in pats):
                continue
            if not (_copied_by(rel, before_text) and _copied_by(rel, after_text)):
                continue
            score = (0 if f in wanted else 1, 0 if ext == ".py" else 1, rel.count("/"), rel)
            if best is None or score < best[0]:
                best = (score, rel)
    return best[1] if best else None


def apply_source_change(context: Path, rel: str, nonce: str) -> None:
    """Append a comment line to ``rel`` (write-to-temp + rename: hard-linked twins stay apart)."""
    path = context / rel
    data = path.read_bytes()
    prefix = COMMENT_PREFIX.get(os.path.splitext(rel)[1].lower()) or "#"
    nl = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith(b"\n"):
        data += nl
    data += f"{prefix} slimml measure: source-only change {nonce}".encode() + nl
    replace_file(path, data)


def final_stage_copies(text: str) -> list[str]:
    """The final stage's COPY/ADD instructions as one-line text, in order (for naming layers)."""
    doc = _doc(text)
    if not doc.stages:
        return []
    out = []
    for ins in doc.stages[-1].instructions:
        if ins.keyword in ("COPY", "ADD"):
            flags = " ".join(f.raw for f in ins.flags)
            out.append(" ".join(x for x in (ins.keyword, flags, " ".join(ins.args.split())) if x))
    return out


_CLASSIC_COPY_RE = re.compile(r"^(COPY|ADD) (?:dir|file|multi):[0-9a-f]+ in ")


def name_copy_layers(layers, text: str) -> None:
    """Give classic-builder COPY/ADD layers (``COPY dir:<hash> in /app``) their Dockerfile text."""
    copies = final_stage_copies(text)
    own = [la for la in layers if not la.base and la.instruction.split(" ", 1)[0] in ("COPY", "ADD")]
    if len(own) != len(copies):
        return
    for la, src in zip(own, copies):
        if _CLASSIC_COPY_RE.match(la.instruction):
            la.instruction = src
