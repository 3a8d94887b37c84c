"""Weights downloaded over HTTP: ``ADD https://...``, ``wget`` and ``curl`` in a RUN."""

from __future__ import annotations

import posixpath

from ...dockerfile.shell import Command
from ...knowledge import weights as K
from ..bake import Bake, abspath, dest_of, hub_repo, new_bake, nkey, url_basename
from ..sources import Source


def add_url(doc, ins, url, dest, multi, label) -> Bake | None:
    hub = hub_repo(url)
    is_git = url.endswith(".git") or url.startswith("git@")
    if not (K.looks_like_weight_file(url) or (hub and is_git)):
        from .archives import is_model_archive_url, remote_archive_bake

        return remote_archive_bake(doc, ins, url, dest, multi, label) if is_model_archive_url(url) else None
    b = Bake(ins, ins.start, ins.end, label, kind="url")
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, is_dir = dest_of(ins, doc, dest)
    if hub and is_git:
        rtype, repo = hub
        b.sources.append(
            Source(
                "hf",
                target=dest_abs,
                is_dir=True,
                repo=repo,
                repo_type=rtype,
                mode="snapshot",
                origin=f"{label} (line {ins.start_line})",
            )
        )
        b.targets.append(dest_abs)
        b.caveats.append("the git history of the repository is not recreated, only its files")
        return b
    target = posixpath.join(dest_abs, url_basename(url)) if (is_dir or multi) else dest_abs
    b.sources.append(Source("uri", target=target, uri=url, origin=f"{label} (line {ins.start_line})"))
    b.targets.append(target)
    if ins.flag("checksum"):
        b.caveats.append("the ADD --checksum verification is not repeated at start")
    return b


def wget(ins, cmd, args, cwd) -> Bake:
    b = new_bake(ins, cmd)
    out_file = prefix = None
    urls = []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, val = a.partition("=") if a.startswith("--") else (a, "", "")
        if a in ("-O", "--output-document"):
            out_file = args[i + 1] if i + 1 < len(args) else None
            i += 2
            continue
        if name == "--output-document" and eq:
            out_file = val
        elif a.startswith("-O") and len(a) > 2 and not a.startswith("--"):
            out_file = a[2:]
        elif a in ("-P", "--directory-prefix"):
            prefix = args[i + 1] if i + 1 < len(args) else None
            i += 2
            continue
        elif name == "--directory-prefix" and eq:
            prefix = val
        elif a.startswith("-P") and len(a) > 2 and not a.startswith("--"):
            prefix = a[2:]
        elif a in K.WGET_HARMLESS or name in K.WGET_HARMLESS:
            pass
        elif name in K.WGET_HARMLESS_VALUE:
            if not eq and not a.startswith("--progress"):
                i += 1
        elif a in ("-qO", "-qO-", "-nvO") or (a.startswith("-q") and "O" in a):
            rest = a[a.index("O") + 1 :]
            if rest:
                out_file = rest
            else:
                out_file = args[i + 1] if i + 1 < len(args) else None
                i += 1
        elif a.startswith("-"):
            b.problem = f"wget option {a} cannot be carried over to the init script"
            return b
        else:
            urls.append(a)
        i += 1
    return _http_result(b, urls, out_file, prefix, cwd, ins)


def curl(ins, cmd, args, cwd) -> Bake:
    b = new_bake(ins, cmd)
    out_file = out_dir = None
    remote_name = False
    urls = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if name == "--output":
                out_file = val if eq else (args[i + 1] if i + 1 < len(args) else None)
                i += 1 if eq else 2
                continue
            if name == "--output-dir":
                out_dir = val if eq else (args[i + 1] if i + 1 < len(args) else None)
                i += 1 if eq else 2
                continue
            if name == "--remote-name":
                remote_name = True
            elif name in K.CURL_HARMLESS:
                pass
            elif name in K.CURL_HARMLESS_VALUE:
                if not eq:
                    i += 1
            elif name == "--url":
                urls.append(val if eq else args[i + 1])
                if not eq:
                    i += 1
            else:
                b.problem = f"curl option {name} cannot be carried over to the init script"
                return b
            i += 1
            continue
        if a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                ch = a[j]
                if ch == "O":
                    remote_name = True
                elif ch in "o":
                    v = a[j + 1 :] or (args[i + 1] if i + 1 < len(args) else None)
                    if not a[j + 1 :]:
                        i += 1
                    out_file = v
                    break
                elif ch in "Cm":
                    if not a[j + 1 :]:
                        i += 1
                    break
                elif "-" + ch in K.CURL_HARMLESS:
                    pass
                else:
                    b.problem = f"curl option -{ch} cannot be carried over to the init script"
                    return b
                j += 1
            i += 1
            continue
        urls.append(a)
        i += 1
    if out_file is None and not remote_name:
        redirect = _stdout_redirect(cmd)
        if redirect is None:
            b.problem = "curl writes to standard output here (a pipe): the downloaded data is processed, not stored"
            return b
        out_file = redirect
    return _http_result(b, urls, out_file, out_dir, cwd, ins)


def _stdout_redirect(cmd: Command | None) -> str | None:
    if cmd is None:
        return None
    p = cmd.node.parent
    if p is None or p.type != "redirected_statement" or nkey(p.children[0]) != nkey(cmd.node):
        return None
    for ch in p.children[1:]:
        if ch.type == "file_redirect":
            kids = [c for c in ch.children]
            ops = [c.type for c in kids if not c.is_named]
            fds = [c for c in kids if c.type == "file_descriptor"]
            if ops in ([">"], [">|"]) and not fds:
                tgt = [c for c in kids if c.is_named]
                if tgt:
                    return cmd.script.node_text(tgt[-1]).strip("'\"")
    return None


def _http_result(b: Bake, urls, out_file, out_dir, cwd, ins) -> Bake:
    if len(urls) != 1 or not urls[0].startswith(("http://", "https://")):
        b.problem = "one command downloads several URLs" if len(urls) > 1 else "no http(s) URL found"
        return b
    url = urls[0]
    if out_file == "-":
        b.problem = "the download is written to standard output (a pipe): the data is processed, not stored"
        return b
    if cwd is None:
        b.problem = "the working directory is not known (cd to a computed path)"
        return b
    if out_file:
        target = abspath(out_file, abspath(out_dir, cwd) if out_dir else cwd)
    else:
        name = url_basename(url)
        if not name:
            b.problem = "the file name cannot be derived from the URL"
            return b
        target = abspath(name, abspath(out_dir, cwd) if out_dir else cwd)
    b.sources.append(Source("uri", target=target, uri=url, origin=f"{b.label} (line {ins.start_line})"))
    b.targets.append(target)
    return b
