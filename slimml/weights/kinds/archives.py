"""Archives of weights. ``ADD model.tar.gz /models/`` of a *local* tar archive (plain, gzip, bzip2
or xz -- told by its content, as Docker does, not by its name) unpacks it into the destination;
``ADD https://.../model.tar.gz /models/`` does *not* unpack (unless ``--unpack=true``): the
image holds the archive file itself.

A local archive is listed (``tarfile``, streaming) to establish what it puts into the image: only
weight files and their companions (configs, tokenizers) -- no code, no links, nothing outside
the destination -- else a note says why it stays.
"""

from __future__ import annotations

import posixpath
import tarfile

from ...dockerfile import Document, Instruction
from ...knowledge import weights as K
from ...rules import _helpers as H
from ...units import human_bytes as human
from ..bake import Bake, abspath, dest_of, url_basename, workdir_is
from ..sources import Source


def unpacks(ins: Instruction, remote: bool) -> bool:
    """ADD unpacks this source: local tar archives by default, remote ones with ``--unpack=true``."""
    flag = ins.flag("unpack")
    if flag is None:
        return not remote
    return (flag.value or "true").lower() in ("true", "1", "")


def _members(ctx, rel: str):
    """[(name, size, is_file)] of a local tar archive, None when it is not one, or a str: why it
    cannot be moved (links, absolute paths, unreadable)."""
    path = ctx.context_path(rel)
    if path is None or not path.is_file():
        return None
    st = path.stat()
    key = ("slm010-archive", str(path), st.st_size, st.st_mtime_ns)
    if key in ctx.run_cache:
        return ctx.run_cache[key]
    with open(path, "rb") as f:
        head = f.read(512)
    compressed = any(head.startswith(m) for m, _ in K.ARCHIVE_MAGIC)
    out: list | str | None = None
    if compressed or head[257:262] == b"ustar":
        try:
            out = []
            with tarfile.open(path, "r|*") as tar:
                for m in tar:
                    name = m.name
                    while name.startswith("./"):
                        name = name[2:]
                    name = posixpath.normpath(name or ".")
                    if m.issym() or m.islnk() or not (m.isfile() or m.isdir()):
                        out = f"it holds links or special files ({m.name})"
                        break
                    if m.name.startswith("/") or name.startswith(".."):
                        out = f"it holds paths outside its folder ({m.name})"
                        break
                    if name != ".":
                        out.append((name, m.size, m.isfile()))
        except (tarfile.TarError, EOFError, OSError):
            out = None  # compressed but not a tar: Docker copies it as it is
    ctx.run_cache[key] = out
    return out


def local_archive_bake(
    doc: Document, ctx, ins: Instruction, rel: str, dest: str | None, min_bytes: int, label: str
) -> Bake | None:
    """The bake of ``ADD <local archive> <dest>``, which unpacks it; None when it is no archive of
    weights."""
    members = _members(ctx, rel)
    if members is None or not unpacks(ins, remote=False):
        return None
    b = Bake(ins, ins.start, ins.end, label, kind="archive", ignore=[rel])
    if isinstance(members, str):
        b.problem = f"{rel} is unpacked by ADD and {members}"
        return b
    files = [(n, s) for n, s, f in members if f]
    weights = [(n, s) for n, s in files if K.looks_like_weight_file(n)]
    wsize = sum(s for _, s in weights)
    if not weights or wsize < min_bytes:
        return None
    b.size = sum(s for _, s in files)
    code = [n for n, _ in files if posixpath.splitext(n)[1].lower() in K.CODE_EXTENSIONS]
    if code:
        b.problem = (
            f"{rel} holds {human(wsize)} of weights together with code ({', '.join(code[:3])}): ADD "
            f"unpacks both into the image; put the weights in an archive of their own first"
        )
        return b
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, _ = dest_of(ins, doc, dest)
    tops = {n.split("/", 1)[0] for n, _, _ in members}
    top_dir = next(iter(tops)) if len(tops) == 1 and any("/" in n for n, _, _ in members) else ""
    target = posixpath.join(dest_abs, top_dir) if top_dir else dest_abs
    from .context import dest_shared

    if not top_dir and (dest_abs == "/" or workdir_is(doc, dest_abs) or dest_shared(doc, ins, dest_abs)):
        b.problem = (
            f"ADD unpacks {rel} into {dest_abs} itself, next to other files: unpack it into a "
            f"directory of its own (e.g. {posixpath.join(dest_abs, 'model')}/) so that a volume can be "
            f"mounted there"
        )
        return b
    b.sources.append(
        Source("uri", target=target, is_dir=True, context_path=rel, origin=f"{label} (line {ins.start_line}), unpacked")
    )
    b.targets.append(target)
    stem = _stem(rel)
    b.caveats.append(
        f"{rel} was unpacked by ADD: to mount the weights, unpack it on the host "
        f"(mkdir -p {stem} && tar -xf {rel} -C {stem}) and mount "
        f"{posixpath.join(stem, top_dir) if top_dir else stem}; or serve the archive and set "
        f"its WEIGHTS_*_URI variable (in the script's header) to the archive's http(s):// URL: it is "
        f"unpacked at start"
    )
    return b


def _stem(rel: str) -> str:
    name = posixpath.basename(rel)
    for suf in sorted(K.ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return posixpath.join(posixpath.dirname(rel), name[: -len(suf)] or "weights")
    return rel + ".d"


def is_model_archive_url(url: str) -> bool:
    name = url_basename(url).lower()
    return name.endswith(K.ARCHIVE_SUFFIXES) and bool(K.ARCHIVE_MODEL_WORDS.search(name))


def remote_archive_bake(doc: Document, ins: Instruction, url: str, dest: str | None, multi: bool, label: str) -> Bake:
    """``ADD https://.../model.tar.gz <dest>``: the file as it is (Docker does not unpack a remote
    archive), or unpacked with ``--unpack=true``."""
    b = Bake(ins, ins.start, ins.end, label, kind="url")
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, is_dir = dest_of(ins, doc, dest)
    origin = f"{label} (line {ins.start_line})"
    if unpacks(ins, remote=True):
        from .context import dest_shared

        if url_basename(url).lower().endswith(".zip"):
            b.problem = "ADD --unpack does not unpack zip archives: what the image holds is not certain"
            return b
        if dest_abs == "/" or workdir_is(doc, dest_abs) or dest_shared(doc, ins, dest_abs):
            b.problem = f"ADD --unpack unpacks the archive into {dest_abs} itself, next to other files"
            return b
        b.sources.append(Source("uri", target=dest_abs, is_dir=True, uri=url, origin=origin + ", unpacked"))
        b.targets.append(dest_abs)
        b.caveats.append(f"ADD --unpack put the archive's files into {dest_abs}; the init script unpacks it there")
        return b
    target = posixpath.join(dest_abs, url_basename(url)) if (is_dir or multi) else dest_abs
    b.sources.append(Source("uri", target=target, uri=url, origin=origin))
    b.targets.append(target)
    b.caveats.append(
        "Docker does not unpack an archive ADD downloads: the init script fetches the archive file "
        "itself, as the image had it"
    )
    return b


# ``tar`` options that change nothing about what lands where (``-x`` and the compression ones).
_TAR_FLAGS = frozenset("xvzjJpo")
_TAR_LONG = frozenset(
    {
        "--extract",
        "--get",
        "--verbose",
        "--gzip",
        "--gunzip",
        "--bzip2",
        "--xz",
        "--no-same-owner",
        "--no-same-permissions",
        "--preserve-permissions",
        "--overwrite",
    }
)


def _tar_plan(argv: list[str], cwd: str | None) -> tuple[str, str] | None:
    """(archive, directory) of ``tar -xzf A [-C DIR]`` that unpacks all of A; None for anything else
    (members named, --strip-components, --exclude, -t ...)."""
    args = argv[1:]
    if args and not args[0].startswith("-") and set(args[0]) <= _TAR_FLAGS | {"f"}:
        args = ["-" + args[0]] + args[1:]  # old style: tar xzf A
    archive = where = None
    extract, i = False, 0
    while i < len(args):
        a = args[i]
        name, eq, val = a.partition("=")
        if name in ("--file", "--directory") or a == "-C":
            if not eq:
                if i + 1 >= len(args):
                    return None
                val, i = args[i + 1], i + 1
            if name == "--file":
                archive = val
            else:
                where = val
        elif a in _TAR_LONG:
            extract |= a in ("--extract", "--get")
        elif a.startswith("-") and not a.startswith("--") and set(a[1:]) <= _TAR_FLAGS | {"f"}:
            extract |= "x" in a
            if "f" in a:
                if not a.endswith("f") or i + 1 >= len(args):
                    return None
                archive, i = args[i + 1], i + 1
        else:
            return None  # a member name, or an option that changes what is unpacked
        i += 1
    if not extract or archive is None:
        return None
    if cwd is None and not (archive.startswith("/") and (where or "").startswith("/")):
        return None
    base = cwd or "/"
    return abspath(archive, base), abspath(where, base) if where else base


def _unzip_plan(argv: list[str], cwd: str | None) -> tuple[str, str] | None:
    args = [a for a in argv[1:] if a not in ("-q", "-qq", "-o")]
    if len(args) == 3 and args[1] == "-d" and not args[0].startswith("-"):
        archive, where = args[0], args[2]
    elif len(args) == 1 and not args[0].startswith("-"):
        archive, where = args[0], "."
    else:
        return None
    if cwd is None and not (archive.startswith("/") and where.startswith("/")):
        return None
    return abspath(archive, cwd or "/"), abspath(where, cwd or "/")


def merge_unpack(doc: Document, script, bakes: list[Bake], steps: list) -> None:
    """``wget URL -O /tmp/m.tar.gz && tar -xzf /tmp/m.tar.gz -C /models && rm /tmp/m.tar.gz``: the
    three commands are one download of an archive unpacked into /models -- what the init script
    does for a folder target with an archive URL. Only when the archive is unpacked whole, into a
    folder of its own, and removed afterwards (else the image held the archive too)."""
    from .context import dest_shared

    for b in bakes:
        if (
            b.problem
            or len(b.sources) != 1
            or b.sources[0].kind != "uri"
            or b.sources[0].is_dir
            or not b.sources[0].uri.startswith(("http://", "https://"))
            or not b.remove_cmds
        ):
            continue
        src, dl = b.sources[0], b.remove_cmds[0]
        later = [(c, cwd) for c, cwd in steps if c.start > dl.start]
        unpack = next(((c, cwd) for c, cwd in later if H.basename(c.effective_argv()[0]) in ("tar", "unzip")), None)
        if unpack is None:
            continue
        cmd, cwd = unpack
        argv = cmd.effective_argv()
        plan = (_tar_plan if H.basename(argv[0]) == "tar" else _unzip_plan)(argv, cwd)
        if plan is None or plan[0] != src.target:
            continue
        rm = next(
            (
                c
                for c, w in later
                if c.start > cmd.start
                and H.basename(c.effective_argv()[0]) == "rm"
                and [abspath(a, w or "/") for a in c.effective_argv()[1:] if not a.startswith("-")] == [src.target]
            ),
            None,
        )
        where = plan[1]
        if rm is None or where == "/" or workdir_is(doc, where) or dest_shared(doc, b.instr, where):
            continue
        b.sources = [Source("uri", target=where, is_dir=True, uri=src.uri, origin=src.origin + ", unpacked")]
        b.targets = [where]
        b.remove_cmds += [cmd, rm]
        b.caveats.append(f"the archive is unpacked into {where} at start, as the build did (tar/zip)")
