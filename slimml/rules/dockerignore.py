"""A build context that sends (and ``COPY . .`` bakes in) VCS data, caches, secrets and weights.

What it does
    Reads the ignore file BuildKit uses for this Dockerfile (``<Dockerfile>.dockerignore`` next
    to it when that exists, else ``.dockerignore`` at the context root) and adds the standard
    exclusions it lacks: junk that no build or service needs (``.git``, ``**/__pycache__``,
    ``**/*.pyc``, caches, ``.venv``, editor folders) and content an application *may* read
    (``.env``, notebooks, ``data/``, ``models/``, weight files such as ``**/*.safetensors``).
    CRLF files stay CRLF; the block starts with a ``# added by slimml (SLM006)`` comment.

    Minimal and true: an existing (curated) file is extended only with patterns that match
    something in the build context (``.git`` when there is one); patterns for files the context
    does not have are not added. A new file gets the standard block, less what the build needs.

    The build context is the one ``docker build`` sends: inferred from the COPY sources
    (``COPY ../x`` means a parent folder; ``$VARS`` resolved from ARG defaults). When it cannot be
    told, nothing is written and the finding asks for ``--context``.

    Never excluded:

    - anything a ``COPY``/``ADD`` (without ``--from``, in any stage, of any Dockerfile sharing the
      file) or a RUN bind mount names (``COPY models/ /models`` keeps ``models/`` and every weight
      pattern that could match inside it), and anything a ``!`` line re-includes;
    - a path that a file the build copies *names* -- a string literal in Python (read with libcst:
      ``load_model('colormodel.h5')`` keeps ``**/*.h5``; f-strings with their holes as wildcards), a
      word of a shell script (tree-sitter-bash), a value of a config file (YAML, JSON, TOML, INI,
      ``.env``), a word of the Dockerfile's RUN/CMD/ENTRYPOINT/ENV -- not even as an unsafe fix;
    - ``.git`` when a step needs it: setuptools-scm and friends in a project file, ``git describe``
      / ``git rev-parse`` in a RUN, in a script, Python file or Makefile the build runs, or in the
      app's own code when ``.git`` is copied into the image. A RUN that runs a program from the
      context slimml cannot read makes the ``.git`` exclusion unsafe, with that reason.

    Safe: junk, and content patterns that match nothing the build copies -- in the tree *and* in
    any checkout: a path the repository's ``.gitignore`` files hide (``weights/``, ``*.onnx``,
    ``.env``; read with git's semantics, overlap judged pattern against pattern) exists where the
    image is built, so an exclusion that can select it while a whole-context ``COPY`` copies it is
    not safe. Unsafe (separate finding): content patterns matching files that ``COPY . .`` copies
    today or that such a hidden path may hold -- excluding them changes what the image contains.
    Needs the build context; a Dockerfile read from stdin is not checked.

Why
    Without a ``.dockerignore`` the whole directory is sent to the builder and ``COPY . .``
    copies all of it: the git history, ``__pycache__``, a local ``.venv``, notebooks, data sets and
    multi-GB checkpoints end up in a layer (and ``.env`` secrets in the image). Every edit of any
    of those files also invalidates the ``COPY . .`` layer cache.

Example
    FROM python:3.11-slim
    WORKDIR /app
    COPY . .

Use instead
    FROM python:3.11-slim
    WORKDIR /app
    COPY . .

    next to a new ``.dockerignore`` whose block ``# added by slimml (SLM006)`` lists ``.git``,
    ``**/__pycache__``, ``**/*.pyc``, ``.venv``, ``.env``, ``notebooks/``, ``data/``, ``**/*.safetensors``
    ... -- and ``models/`` only if nothing the build copies today lives there, nothing the repo's
    ``.gitignore`` hides may lie there and no copied file names it (or with ``--unsafe-fixes``,
    after reading why).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import dockerignore as DI
from ..dockerfile import Document, Instruction
from ..engine import Edit, Fix
from ..knowledge import dockerignore as K
from ..semantics import build as B
from ..units import human_bytes as _human
from . import _helpers as H

CODE = "SLM006"
NAME = "dockerignore"
SUMMARY = "Build context without the standard .dockerignore exclusions (.git, caches, .env, data, weights)"
FIX = "safe+unsafe"
OPTIONS: dict = {}

_RULE = H.rule_of(__name__)
MAX_FILES = 20000


# -- what the Dockerfile takes from the context ----------------------------------------------------
@dataclass
class Source:
    display: str  # as written (for messages)
    segs: list  # dockerignore.segments of the cleaned path
    only_files: bool  # every path it names is a regular file (nothing can lie inside)


@dataclass
class Usage:
    explicit: list[Source] = field(default_factory=list)
    whole: list[tuple[Instruction, list[DI.Pattern]]] = field(default_factory=list)  # (instr, --exclude)


class _Tree:
    """The context's files (with sizes) and directories, as far as they matter.

    Directories the existing ignore file already excludes are not entered when it has no
    ``!`` lines (nothing below them can come back), so a huge ignored ``.venv`` or
    ``node_modules`` neither costs time nor uses up the MAX_FILES budget. ``.git`` is never
    entered (like ``Context.walk_context``).
    """

    def __init__(self, ctx, existing: list[DI.Pattern]):
        self.files: dict[str, int] = {}
        self._ancestry: dict[str, tuple[str, ...]] = {}
        self._existing = existing
        self._visible: list[str] | None = None
        self._hits: dict[str, list[str]] = {}
        self._covered: dict[str, bool] = {}
        self.dirs: set[str] = set()
        self.truncated = False
        root = ctx.context_dir
        if root is None or not root.is_dir():
            return
        prune = bool(existing) and not any(p.exclusion for p in existing)
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            prefix = "" if rel_dir == "." else rel_dir + "/"
            keep = []
            for d in sorted(dirnames):
                rel = prefix + d
                if d == ".git" or (prune and DI.is_excluded(rel, existing)):
                    continue
                keep.append(d)
                self.dirs.add(rel)
            dirnames[:] = keep
            for fn in sorted(filenames):
                if len(self.files) >= MAX_FILES:
                    self.truncated = True
                    return
                try:
                    self.files[prefix + fn] = os.lstat(os.path.join(dirpath, fn)).st_size
                except OSError:
                    continue

    def visible(self) -> list[str]:
        """Files the ignore file does not exclude (computed once; a tree is per pattern set)."""
        if self._visible is None:
            self._visible = [f for f in self.files if not DI.is_excluded(f, self._existing)]
        return self._visible

    def hits(self, norm: str, pat: DI.Pattern) -> list[str]:
        """Visible files a candidate pattern excludes (itself or a parent): per pattern set, not per
        Dockerfile, so every Dockerfile of a run sharing this context reuses it."""
        found = self._hits.get(norm)
        if found is None:
            spelled = _spelled(norm)
            found = self._hits[norm] = [
                f
                for f in self.visible()
                if (spelled is None or spelled in f) and any(pat.match(a) for a in self.ancestry(f))
            ]
        return found

    def covered(self, norm: str) -> bool:
        """The existing patterns already exclude what ``norm`` would (e.g. an allow-list ``*``)."""
        c = self._covered.get(norm)
        if c is None:
            c = self._covered[norm] = _covered(tuple(self._existing), norm)
        return c

    def ancestry(self, path: str) -> tuple[str, ...]:
        """``a/b/c`` -> (``a/b/c``, ``a``, ``a/b``): what ``matches_or_parent`` tries, computed once."""
        memo = self._ancestry
        if path not in memo:
            parts = path.split("/")
            memo[path] = (path, *("/".join(parts[: i + 1]) for i in range(len(parts) - 1)))
        return memo[path]

    def glob(self, segs: list) -> list[str]:
        """Paths (files and dirs) a COPY glob names."""
        if any(s is DI.STAR2 for s in segs):
            return []
        rx = [DI.segment_regex(s) for s in segs]
        if any(r is None for r in rx):
            return []
        out = []
        for p in list(self.files) + sorted(self.dirs):
            parts = p.split("/")
            if len(parts) == len(segs) and all(r.match(x) for r, x in zip(rx, parts)):
                out.append(p)
        return out


def _source(display: str, path: str | None, tree: _Tree, ctx) -> Source | None:
    """A source path as segments; None for the whole context."""
    if path is None:  # unknown variable: could be anything
        return Source(display, [DI.STAR2], False)
    p = DI.context_source(path)
    segs = DI.segments(p)
    if not segs or all(s is DI.STAR2 or s == "*" for s in segs):
        return None
    if all(s is not DI.STAR2 and DI.is_literal(s) for s in segs):
        only_files = ctx.is_file(p)
    else:
        hits = tree.glob(segs)
        only_files = bool(hits) and all(h in tree.files for h in hits)
    return Source(display, segs, only_files)


def _usage(doc: Document, ctx, tree: _Tree) -> Usage:
    from ..discovery import context_sources

    use = Usage()
    for sw in context_sources(doc):
        src = _source(sw.word, sw.path, tree, ctx)
        if src is None:
            use.whole.append((sw.instr, H.copy_excludes(sw.instr) if sw.instr.keyword != "RUN" else []))
        else:
            use.explicit.append(src)
    return use


def _summary(ins: Instruction) -> str:
    flags = " ".join(f.raw for f in ins.flags if f.name != "mount")
    args = " ".join(ins.args.split())
    if ins.keyword == "RUN":
        mount = next((f.raw for f in ins.flags if f.name == "mount"), "")
        return f"RUN {mount}".strip()
    return " ".join(x for x in (ins.keyword, flags, args) if x)


# -- .git ---------------------------------------------------------------------------------------------
def _runs_seeing_context(doc: Document, whole: list) -> list[Instruction]:
    """RUNs that see a copy of the whole context holding ``.git``: after such a COPY in its stage or a
    stage built FROM it, or with the context bind-mounted."""
    out: dict[int, Instruction] = {}
    for ins, excludes in whole:
        if any(x.matches_or_parent(".git") for x in excludes):
            continue
        if ins.keyword == "RUN":
            out[ins.index] = ins
            continue
        stage = doc.stage_of(ins)
        if stage is None:
            continue
        for st in [stage, *B.descendants(doc, stage)]:
            for i in st.instructions:
                if i.keyword == "RUN" and (st is not stage or i.index > ins.index):
                    out[i.index] = i
    return [out[k] for k in sorted(out)]


def _dir_size(path: Path) -> int:
    total = 0
    for dp, _, fns in os.walk(path):
        for fn in fns:
            try:
                total += os.lstat(os.path.join(dp, fn)).st_size
            except OSError:
                pass
    return total


# -- helpers ------------------------------------------------------------------------------------------
def _probes(norm: str) -> list[str] | None:
    """Concrete paths a candidate pattern excludes (for "already covered" checks)."""
    paths = [[]]
    for seg in norm.split("/"):
        if seg == "**":
            paths = [p for q in paths for p in (q, q + ["slimml_probe"])]
            continue
        if "[" in seg or "\\" in seg or "**" in seg:
            return None
        paths = [q + [seg.replace("*", "slimml_probe").replace("?", "q")] for q in paths]
    return ["/".join(p) for p in paths if p]


@lru_cache(maxsize=4096)  # pure: contexts of a run often share one ignore file
def _covered(existing: tuple[DI.Pattern, ...], norm: str) -> bool:
    probes = _probes(norm)
    return probes is not None and bool(probes) and all(DI.is_excluded(p, list(existing)) for p in probes)


@lru_cache(maxsize=1024)
def _spelled(norm: str) -> str | None:
    """Text every path the pattern ``norm`` matches contains (a file whose path lacks it has no
    ancestor it matches either: those are prefixes of the path), or None when that cannot be told
    simply (a character class or an escape)."""
    from .. import refs

    if "[" in norm or "\\" in norm:
        return None
    found = refs.needles(norm)
    return found[0] if found else None


def _plural(items: list[str], one: str, many: str) -> str:
    return one if len(items) == 1 else many


@lru_cache(maxsize=1)
def _candidates() -> list[tuple[str, bool, str, DI.Pattern, list]]:
    """The standard exclusions, compiled once: (line, is content, normalized, pattern, segments)."""
    out = []
    for cand in K.JUNK + K.CONTENT:
        norm = DI.normalize_line(cand)
        out.append((cand, cand in K.CONTENT, norm, DI.Pattern.make(norm), DI.segments(norm)))
    return out


# -- the rule -------------------------------------------------------------------------------------------
def _rel_to_context(ctx, path) -> str:
    rel = ctx.relative(path)
    return "\0outside" if rel is None else rel  # never exists


def _memo_key(doc: Document, ctx, rel: str) -> tuple:
    """Everything the findings depend on. The engine re-checks after every pass, but most
    passes only touch RUN commands this rule does not read, so the answer is reused."""
    anchor = doc.stages[0].from_instruction
    sig = []
    for ins in doc.instructions:
        if ins.keyword in ("COPY", "ADD", "FROM", "ARG", "ENV") or (
            ins.keyword == "RUN" and (ins.flags or "git" in ins.args or ins.heredocs)
        ):
            sig.append(
                (
                    ins.keyword,
                    ins.stage,
                    ins.args,
                    tuple(f.raw for f in ins.flags),
                    tuple(h.body(doc.text) for h in ins.heredocs),
                )
            )
    return ("dockerignore-findings", rel, ctx.read_context_file(rel), anchor.start, anchor.end, tuple(sig))


def check(doc: Document, ctx):
    if ctx.context_dir is None or not doc.stages:
        return
    rel = H.ignore_file(ctx)
    if rel is None:
        return
    key = _memo_key(doc, ctx, rel)
    found = ctx.cache.get(key)
    if found is None:
        found = ctx.cache[key] = list(_check(doc, ctx, rel))
    yield from found


def _copied_files(tree: _Tree, use: Usage, copied) -> list[str]:
    """Visible context files some COPY/ADD/bind mount takes (what the build and the app can read)."""
    explicit = []
    for src in use.explicit:
        try:
            explicit.append(DI.Pattern.make("/".join("**" if s is DI.STAR2 else s for s in src.segs)))
        except DI.PatternError:
            continue  # a source Go's filepath.Match rejects (`COPY \\ /x`): that COPY fails in the build
    return [f for f in tree.visible() if copied(f) or any(p.matches_or_parent(f) for p in explicit)]


def _check(doc: Document, ctx, rel: str):
    from .. import gitignore, refs

    anchor = doc.stages[0].from_instruction
    if ctx.context_note:
        if any(True for _ in _context_uses(doc)):
            yield H.finding(
                _RULE,
                f"cannot tell where the build reads `{rel}`",
                anchor.start,
                anchor.end,
                note=ctx.side_files_problem(),
            )
        return
    current = ctx.read_context_file(rel)
    text = current or ""
    try:
        existing = DI.parse_patterns(text)
    except DI.PatternError as e:
        yield H.finding(
            _RULE,
            f"{rel} has a pattern Docker rejects ({e})",
            anchor.start,
            anchor.end,
            note="fix the pattern by hand; the build fails with it",
        )
        return
    present = set()
    for p in existing:
        if not p.exclusion:
            present.add(p.text)
            if p.text.endswith("/**"):
                present.add(p.text[:-3])
    negations = [(p, DI.segments(p.text), _only_file(p, ctx)) for p in existing if p.exclusion]
    # The walk depends only on the context and the ignore patterns: once per run and pattern set.
    tree_key = ("dockerignore-tree", str(ctx.context_dir), tuple((p.text, p.exclusion) for p in existing))
    tree = ctx.run_cache.get(tree_key)
    if tree is None:
        tree = ctx.run_cache[tree_key] = _Tree(ctx, existing)
    use = _usage(doc, ctx, tree)
    docs = [(ctx.dockerfile.name if ctx.dockerfile else "Dockerfile", doc)]
    if rel == ".dockerignore":
        # The shared ignore file also serves the other Dockerfiles in this context: protect
        # what they copy (those with their own <name>.dockerignore are not affected).
        for path, other in ctx.sibling_dockerfiles():
            if ctx.exists(_rel_to_context(ctx, path.with_name(path.name + ".dockerignore"))):
                continue
            theirs = _usage(other, ctx, tree)
            use.explicit.extend(theirs.explicit)
            use.whole.extend(theirs.whole)
            docs.append((_rel_to_context(ctx, path), other))
    in_image = H.image_stages(doc)
    # The whole-context user named in messages: one that ends up in the image when there is one.
    whole_ins = next(
        (i for i, _ in use.whole if i.stage in in_image and i.keyword != "RUN"), use.whole[0][0] if use.whole else None
    )
    whole_desc = _summary(whole_ins) if whole_ins is not None else ""
    into_image = whole_ins is not None and whole_ins.stage in in_image and whole_ins.keyword != "RUN"

    def copied(path: str, image_only: bool = False) -> bool:
        """Taken by a whole-context COPY/ADD/mount today (so a new exclusion changes the build)."""
        return any(
            not any(x.matches_or_parent(path) for x in exc)
            for ins, exc in use.whole
            if not image_only or (ins.stage in in_image and ins.keyword != "RUN")
        )

    names_key = ("dockerignore-names", str(ctx.context_dir), tree_key, tuple(d.text for _, d in docs))
    names = ctx.run_cache.get(names_key)
    if names is None:
        names = ctx.run_cache[names_key] = refs.Names(ctx, _copied_files(tree, use, copied), docs)
    # A file that existed before this run is extended only with what matches something; one this
    # run creates (in an earlier pass) is still the standard block being written.
    curated = ctx.is_file(rel)
    safe: list[str] = []
    unsafe: list[tuple[str, str]] = []  # (pattern, description for the reason)
    saved = 0
    for cand, content, norm, pat, segs in _candidates():
        if norm in present:
            continue
        blocked = False
        for src in use.explicit:
            covers, inside = DI.overlap(segs, src.segs)
            if covers or (content and inside and not src.only_files):
                blocked = True
                break
        neg_overlap = False
        for _neg, nsegs, neg_file in negations:
            covers, inside = DI.overlap(segs, nsegs)
            if covers:
                blocked = True
            if inside and not neg_file:
                neg_overlap = True
                if content:
                    blocked = True
        if blocked:
            continue
        if not neg_overlap and tree.covered(norm):
            continue  # already excluded by a broader pattern (e.g. an allow-list `*`)
        hits = tree.hits(norm, pat)
        hits_copied = [f for f in hits if copied(f)]
        if names.naming(segs, refs.needles(norm)) is not None:
            continue  # a file the build copies names what this would exclude: never offered
        if cand == ".git" and ctx.exists(".git") and not DI.is_excluded(".git", existing):
            verdict = _git_verdict(doc, ctx, docs, tree, use, names, in_image)
            if verdict.needed:
                continue  # slimml would say it breaks that step: never offered
            if verdict.unknown:
                unsafe.append(
                    (
                        cand,
                        f".git ({_human(_dir_size(ctx.context_path('.git')))}) may be needed by the "
                        f"build: {verdict.unknown}",
                    )
                )
                continue
        elif cand == ".git" and curated:
            continue  # no .git to exclude
        if cand == ".git":
            safe.append(cand)
            continue
        if cand in ("**/*.pyc", "**/*.pyo"):
            sourceless = [f for f in hits if "__pycache__" not in f.split("/") and not _has_source(f, tree)]
            if sourceless:  # bytecode shipped without its source is the module itself: not junk
                copied_ones = [f for f in sourceless if copied(f)]
                if copied_ones:
                    unsafe.append(
                        (
                            cand,
                            f"{cand} ({', '.join(copied_ones[:3])}: bytecode without a .py source, "
                            "which Python imports)",
                        )
                    )
                continue
        if names.truncated and use.whole:
            continue  # could not read every file the build copies: cannot tell
        hidden = gitignore.overlapping(ctx, segs) if content and use.whole else None
        if hidden is not None and not (
            copied(_probe(hidden.segs)) and not DI.is_excluded(_probe(hidden.segs), existing)
        ):
            hidden = None  # hidden, but no whole-context COPY would take it
        if curated and not hits:
            continue  # nothing in the context matches it: adding it would change nothing
        if content and (hits_copied or hidden is not None):
            size = sum(tree.files[f] for f in hits_copied)
            if hits_copied and "*" in norm:
                shown = ", ".join(hits_copied[:3]) + (", ..." if len(hits_copied) > 3 else "")
                desc = f"{cand} ({len(hits_copied)} {_plural(hits_copied, 'file', 'files')}, {_human(size)}: {shown})"
            elif hits_copied:
                desc = f"{cand} ({_human(size)})"
            else:
                desc = cand
            if hidden is not None:
                desc += (
                    f" (hidden by {hidden.origin}: checkouts that build the image may hold files there that "
                    f"this tree does not show)"
                )
            unsafe.append((cand, desc))
            continue
        if content and tree.truncated and use.whole:
            continue  # could not look at every file: only exclude what we could check
        safe.append(cand)
        saved += sum(tree.files[f] for f in hits_copied if copied(f, image_only=True))

    if safe:
        edit = Edit(len(text), len(text), H.ignore_block(text, safe, K.HEADER), path=rel)
        shown = ", ".join(safe[:5]) + (f" and {len(safe) - 5} more" if len(safe) > 5 else "")
        if current is None:
            msg = f"no `{rel}`: the whole directory is sent to the builder; create it excluding {shown}"
        else:
            msg = f"`{rel}` does not exclude {shown}"
        if saved:
            msg += f" ({_human(saved)} that `{whole_desc}` copies into the image today)"
        kw = {}
        if saved:
            kw = {
                "estimate": (saved, saved),
                "estimate_basis": "size of the newly excluded files a whole-context COPY puts in the image",
            }
        facts = (
            f"`{rel}` is the ignore file the build reads (the build context: {ctx.context_dir})",
            "no Dockerfile of the context copies what these patterns exclude, and no file the build copies "
            "(code, scripts, configs) or the Dockerfile names it",
            "nothing the repository's .gitignore hides (present in real checkouts, not in this tree) "
            "overlaps them where a whole-context COPY would take it",
            ".git is excluded only where no step of the build needs it",
        )
        yield H.finding(
            _RULE,
            msg,
            anchor.start,
            anchor.end,
            Fix.safe(edit, description=f"{'extend' if current is not None else 'create'} {rel}", relies_on=facts),
            **kw,
        )
    if unsafe:
        pats = [p for p, _ in unsafe]
        # Recomputed against the file as it is after the safe block, when that is applied first.
        edit = Edit(len(text), len(text), H.ignore_block(text, pats, K.HEADER), path=rel)
        content_descs = [d for p, d in unsafe if p != ".git"]
        parts = []
        if content_descs:
            verb = _plural(content_descs, "is", "are")
            it = _plural(content_descs, "it", "them")
            if into_image:
                parts.append(
                    f"{'; '.join(content_descs)} {verb} copied by `{whole_desc}` today; excluding {it} "
                    f"removes {it} from the image -- the app may read {it} at run time"
                )
            else:
                parts.append(
                    f"{'; '.join(content_descs)} {verb} used by `{whole_desc}` today; excluding {it} "
                    f"hides {it} from that build step -- the build may read {it}"
                )
        parts += [f"{d}; check that step before excluding it" for p, d in unsafe if p == ".git"]
        verb, it = _plural(pats, "is", "are"), _plural(pats, "it", "them")
        yield H.finding(
            _RULE,
            f"{', '.join(pats)} {verb} not excluded by `{rel}`; the build may use {it}",
            anchor.start,
            anchor.end,
            Fix.unsafe(edit, reason=". ".join(parts), description=f"exclude {', '.join(pats)}"),
        )


def _has_source(pyc: str, tree: _Tree) -> bool:
    """``x.pyc`` has its ``x.py`` beside it (then it is a cache, not the module)."""
    return pyc[:-1] in tree.files


def _probe(segs) -> str:
    """A concrete path the segments match (wildcards filled in)."""
    return (
        "/".join("slimml_probe" if x is DI.STAR2 else x.replace("*", "slimml_probe").replace("?", "q") for x in segs)
        or "slimml_probe"
    )


def _git_verdict(doc: Document, ctx, docs, tree, use: Usage, names, in_image: set[int]):
    """Whether the build (or the app, when .git is copied into the image) needs the context's .git."""
    from .. import gitneeds

    verdict = gitneeds.Verdict()
    if not use.whole:
        return verdict
    for _, d in docs:
        whole = _usage(d, ctx, tree).whole
        runs = _runs_seeing_context(d, whole)
        v = gitneeds.git_needed(
            d,
            ctx,
            runs,
            names.files,
            image=d is doc and any(i.stage in in_image and i.keyword != "RUN" for i, _ in whole),
        )
        verdict.needed = verdict.needed or v.needed
        verdict.unknown = verdict.unknown or v.unknown
        if verdict.needed:
            break
    return verdict


def _context_uses(doc: Document):
    from ..discovery import context_sources

    return iter(context_sources(doc))


def _only_file(p: DI.Pattern, ctx) -> bool:
    """A negation naming one existing regular file: nothing can lie below what it re-includes."""
    if not DI.is_literal(p.text):
        return False
    ap = ctx.context_path(p.text)
    return ap is not None and ap.is_file()
