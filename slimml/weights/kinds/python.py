"""Weights downloaded by Python run at build time (``python -c``, a script from the build context,
a heredoc), analysed with libcst by ``pyscan``, and ``python -m nltk.downloader``."""

from __future__ import annotations

import posixpath

from ... import dockerignore as DI
from ...dockerfile import Document, Instruction
from ...dockerfile.shell import Command
from ...knowledge import weights as K
from ...rules import _helpers as H
from ..bake import Bake, abspath, copy_words, dest_of, hf_cache_dir, hub_repo, image_stages, new_bake, short, under
from ..sources import Source


# -- RUN --------------------------------------------------------------------------------------------------
def python_script_args(args: list[str]) -> tuple[str, str | None, list[str]]:
    """(mode, value, rest) of a python command line: ("c", code, argv) | ("m", module, argv) |
    ("file", path, argv) | ("stdin", None, argv)."""
    i = 0
    with_value = {"-W", "-X", "--check-hash-based-pycs"}
    while i < len(args):
        a = args[i]
        if a == "-c" and i + 1 < len(args):
            return "c", args[i + 1], ["-c"] + args[i + 2 :]
        if a.startswith("-c") and len(a) > 2 and not a.startswith("--"):
            return "c", a[2:], ["-c"] + args[i + 1 :]
        if a == "-m" and i + 1 < len(args):
            return "m", args[i + 1], [args[i + 1]] + args[i + 2 :]
        if a in with_value:
            i += 2
            continue
        if a == "-":
            return "stdin", None, ["-"] + args[i + 1 :]
        if not a.startswith("-"):
            return "file", a, [a] + args[i + 1 :]
        i += 1
    return "stdin", None, [""]


def nltk_cli(ins, cmd, py, args, _argv, cwd) -> Bake:
    b = new_bake(ins, cmd)
    ddir = None
    pkgs = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-d", "--dir"):
            ddir = args[i + 1] if i + 1 < len(args) else None
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        pkgs.append(a)
        i += 1
    if not pkgs:
        b.problem = "no NLTK package named"
        return b
    kw = ""
    guard = dict(K.PY_REPLAY_CALLS["nltk.download"][1])
    if ddir:
        if cwd is None:
            b.problem = "the working directory is not known (cd to a computed path)"
            return b
        ddir = abspath(ddir, cwd)
        kw = f", download_dir={_pyq(ddir)}"
        guard = {"default": ddir}
    code = "import nltk\n" + "\n".join(f"nltk.download({_pyq(p)}{kw})" for p in pkgs)
    b.sources.append(
        Source(
            "python", python=py, code=code, guard=guard, what="NLTK data", origin=f"{b.label} (line {ins.start_line})"
        )
    )
    b.targets.append(ddir or "~/nltk_data")
    return b


def _pyq(s: str) -> str:
    import json

    return json.dumps(s)


# -- Python run at build time --------------------------------------------------------------------------------
def script_text(doc: Document, ctx, ins: Instruction, path: str, cwd: str | None) -> str | None:
    """The text of the script ``path`` a RUN executes, from the COPY that put it in the image."""
    if cwd is None:
        return None
    image_path = abspath(path, cwd)
    for m in H.mounts(ins):
        if m.get("type") == "bind" and "from" not in m and m.get("target"):
            t = abspath(m["target"], "/")
            if under(image_path, t):
                rel = DI.context_source(
                    posixpath.join(m.get("source", m.get("src", ".")) or ".", image_path[len(t) :].lstrip("/"))
                )
                return ctx.read_context_file(rel)
    stage = doc.stage_of(ins)
    chain = image_stages(doc)
    stages = [doc.stages[i] for i in chain if stage is not None and i <= stage.index] if stage else []
    if stage is not None and stage.index not in chain:
        stages = [stage]
    copies = [
        i
        for st in stages
        for i in st.instructions
        if i.index < ins.index and i.keyword in ("COPY", "ADD") and i.flag("from") is None
    ]
    for c in reversed(copies):
        words = copy_words(c)
        if len(words) < 2:
            continue
        dest_abs, dest_dir = dest_of(c, doc, words[-1][0])
        multi = len(words) > 2
        for w, _, _ in words[:-1]:
            if w.startswith("<<"):
                name = w.lstrip("<-").strip("'\"")
                h = next((h for h in c.heredocs if h.name == name), None)
                if h is not None and (image_path == dest_abs or image_path == posixpath.join(dest_abs, name)):
                    return h.body(doc.text)
                continue
            rel = DI.context_source(w)
            if rel == "." or ctx.is_dir(rel):
                if under(image_path, dest_abs) and image_path != dest_abs:
                    sub = image_path[len(dest_abs.rstrip("/")) + 1 :]
                    cand = sub if rel == "." else f"{rel}/{sub}"
                    text = ctx.read_context_file(cand)
                    if text is not None:
                        return text
                continue
            target = posixpath.join(dest_abs, posixpath.basename(rel)) if (dest_dir or multi) else dest_abs
            if image_path == target:
                return ctx.read_context_file(rel)
    return None


def stdin_heredoc(doc: Document, ins: Instruction, cmd: Command) -> str | None:
    p = cmd.node.parent
    if p is None or p.type != "redirected_statement":
        return None
    for ch in p.children:
        if ch.type == "heredoc_redirect":
            start = next((c for c in ch.children if c.type == "heredoc_start"), None)
            if start is None:
                continue
            name = cmd.script.node_text(start).strip("'\"")
            h = next((h for h in ins.heredocs if h.name == name), None)
            if h is not None:
                return h.body(doc.text)
    return None


def analyse_python(doc, ctx, ins, cmd, py, mode, code, argv, cwd, env, label=None) -> Bake | None:
    from .. import pyscan

    if not pyscan.may_download(code):
        return None
    key = ("slm010-pyscan", code, tuple(sorted(env.items())), tuple(argv))
    res = ctx.run_cache.get(key)
    if res is None:
        res = ctx.run_cache[key] = pyscan.scan(code, env, argv)
    if res.error or not res.downloads:
        return None
    b = new_bake(ins, cmd, label)
    where = "" if mode == "c" else (f"{argv[0]}: " if argv and argv[0] not in ("-", "") else "")
    for dl in res.downloads:
        if dl.problem:
            b.problem = f"{where}line {dl.line}: `{short(dl.text)}`: {dl.problem}"
            return b
        for bind in dl.bindings:
            err = _python_source(b, dl, bind, py, cwd, env, ins)
            if err:
                b.problem = f"{where}line {dl.line}: `{short(dl.text)}`: {err}"
                return b
    if not b.sources and not b.problem:
        return None
    b.sources = _merge_sources(b.sources)
    return b


def _str_or_none(v, what: str):
    from ..pyscan import Unknown

    if isinstance(v, Unknown):
        return None, f"{what}: {v.why}"
    if v is None or isinstance(v, str):
        return v, ""
    return None, f"{what} is not a string"


def _python_source(b: Bake, dl, bind, py: str, cwd, env, ins) -> str:
    """Append the Source of one call binding to ``b``; an error text when it cannot be done."""
    from ..pyscan import Unknown, render_call, replay_spec

    origin = f"{b.label} (line {ins.start_line})"
    root = dl.qualname.split(".", 1)[0]
    if dl.category == "hf-model":
        if dl.qualname in K.HF_PIPELINE_CALLS:
            repo = bind.get(1, "model")
            if repo is None:
                return "pipeline() without model= downloads the task's default model: name the model"
        elif dl.qualname in K.HF_CONSTRUCTORS:
            kw, _, _ = K.HF_CONSTRUCTORS[dl.qualname]
            repo = bind.get(0, kw)
        else:
            repo = bind.get(0, *K.HF_REPO_KWARGS)
        repo, err = _str_or_none(repo, "the model name")
        if err or repo is None:
            return err or "no model name"
        if repo.startswith(("/", "./", "../", "~")):
            return ""  # a local path: not a download
        if dl.qualname in K.HF_CONSTRUCTORS:
            org = K.HF_CONSTRUCTORS[dl.qualname][2]
            if org and "/" not in repo:
                repo = f"{org}/{repo}"
        vals = {}
        for k in ("revision", "subfolder", "variant", "gguf_file"):
            v, err = _str_or_none(bind.get(None, k), k)
            if err:
                return err
            vals[k] = v or ""
        cache_kw = K.HF_CONSTRUCTORS[dl.qualname][1] if dl.qualname in K.HF_CONSTRUCTORS else "cache_dir"
        cache, err = _str_or_none(bind.get(None, cache_kw), cache_kw)
        if err:
            return err
        src = Source(
            "hf",
            repo=repo,
            revision=vals["revision"],
            mode="model",
            variant=vals["variant"],
            files=[vals["gguf_file"]] if vals["gguf_file"] else [],
            include=[vals["subfolder"].rstrip("/") + "/*"] if vals["subfolder"] else [],
            origin=origin,
        )
        saved = [s for s in dl.saved_to]
        for s in saved:
            if isinstance(s, Unknown):
                return f"it is saved to a path computed at run time ({s.why})"
        if saved:
            if cwd is None:
                return "the working directory is not known"
            for s in saved:
                if not isinstance(s, str):
                    return "it is saved to a path that is not a string"
                t = abspath(s, cwd)
                one = Source(
                    **{
                        **src.__dict__,
                        "target": t,
                        "is_dir": True,
                        "include": list(src.include),
                        "files": list(src.files),
                        "cache_env": [],
                        "guard": {},
                    }
                )
                b.sources.append(one)
                b.targets.append(t)
            return ""
        if cache:
            if cwd is None:
                return "the working directory is not known"
            src.guard = {"default": abspath(cache, cwd)}
            b.targets.append(src.guard["default"])
        else:
            src.cache_env = list(K.HF_CACHE_ENV.get(root, K.HF_CACHE_ENV[""]))
            b.targets.append(hf_cache_dir(env, tuple(src.cache_env)))
        b.sources.append(src)
        return ""
    if dl.category in ("hf-snapshot", "hf-file"):
        repo, err = _str_or_none(bind.get(0, "repo_id"), "repo_id")
        if err or not repo:
            return err or "no repo_id"
        vals = {}
        for k in ("revision", "repo_type", "local_dir", "cache_dir", "subfolder", "filename"):
            idx = 1 if k == "filename" else None
            v, err = _str_or_none(bind.get(idx, k), k)
            if err:
                return err
            vals[k] = v or ""
        src = Source("hf", repo=repo, revision=vals["revision"], repo_type=vals["repo_type"] or "model", origin=origin)
        if dl.category == "hf-file":
            if not vals["filename"]:
                return "no filename"
            src.mode = "files"
            src.files = [posixpath.join(vals["subfolder"], vals["filename"]) if vals["subfolder"] else vals["filename"]]
        else:
            for k, attr in (("allow_patterns", "include"), ("ignore_patterns", "exclude")):
                v = bind.get(None, k)
                if isinstance(v, Unknown):
                    return f"{k}: {v.why}"
                if isinstance(v, str):
                    v = [v]
                if v is not None and not (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)):
                    return f"{k} is not a list of strings"
                setattr(src, attr, list(v or []))
        if vals["local_dir"]:
            if cwd is None:
                return "the working directory is not known"
            src.target = abspath(vals["local_dir"], cwd)
            src.is_dir = True
            b.targets += [posixpath.join(src.target, f) for f in src.files] if src.files else [src.target]
        elif vals["cache_dir"]:
            if cwd is None:
                return "the working directory is not known"
            src.guard = {"default": abspath(vals["cache_dir"], cwd)}
            b.targets.append(src.guard["default"])
        else:
            src.cache_env = list(K.HF_CACHE_ENV[""])
            b.targets.append(hf_cache_dir(env))
        b.sources.append(src)
        return ""
    if dl.category == "url":
        ui, fi = K.PY_URL_CALLS[dl.qualname]
        url, err = _str_or_none(bind.get(ui, "url"), "the URL")
        if err or not url:
            return err or "no URL"
        if not (K.looks_like_weight_file(url) or hub_repo(url) or "huggingface.co" in url):
            return ""
        dst, err = _str_or_none(bind.get(fi, "filename", "dst"), "the file name")
        if err or not dst:
            return err or "no destination file"
        if cwd is None:
            return "the working directory is not known"
        t = abspath(dst, cwd)
        b.sources.append(Source("uri", target=t, uri=url, origin=origin))
        b.targets.append(t)
        return ""
    if dl.category == "replay":
        key, (what, guard, needs) = replay_spec(dl.qualname)
        if needs:
            flag = None
            for name in needs.split("|"):
                v = bind.get(None, name)
                if v is not None:
                    flag = v
                    break
            if isinstance(flag, Unknown):
                return f"{needs}: {flag.why}"
            if not flag:
                return ""  # no pretrained weights: not a download
        guard = dict(guard)
        dkw = K.PY_REPLAY_DIR_KWARGS.get(key)
        if dkw is not None:
            d, err = _str_or_none(bind.get(None, dkw), dkw)
            if err:
                return err
            if d:
                if cwd is None:
                    return "the working directory is not known"
                guard = {"default": abspath(d, cwd)}
        code = render_call(
            dl.qualname,
            bind,
            drop=frozenset({"device", "map_location", "device_map", "torch_dtype", "dtype", "in_memory"}),
        )
        if isinstance(code, Unknown):
            return code.why
        b.sources.append(Source("python", python=py, code=code, guard=guard, what=what, origin=origin))
        b.targets.append(guard.get("default", ""))
        return ""
    return ""


def _merge_sources(sources: list[Source]) -> list[Source]:
    """One source per target: replays into the same cache are one script step, hub downloads of the
    same repository into the same place one download."""
    out: list[Source] = []
    for s in sources:
        twin = None
        for o in out:
            if s.kind == o.kind == "python" and s.guard == o.guard and s.python == o.python:
                twin = o
                break
            if s.kind == o.kind == "hf" and (
                s.repo,
                s.revision,
                s.repo_type,
                s.target,
                s.mode,
                s.guard.get("default"),
            ) == (o.repo, o.revision, o.repo_type, o.target, o.mode, o.guard.get("default")):
                twin = o
                break
            if s.key() == o.key():
                twin = o
                break
        if twin is None:
            out.append(s)
            continue
        if s.kind == "python" and s.code != twin.code:
            imports = [ln for ln in (twin.code + "\n" + s.code).split("\n") if ln.startswith("import ")]
            body = [ln for ln in (twin.code + "\n" + s.code).split("\n") if ln and not ln.startswith("import ")]
            twin.code = "\n".join(dict.fromkeys(imports)) + "\n" + "\n".join(dict.fromkeys(body))
        elif s.kind == "hf":
            twin.files = list(dict.fromkeys(twin.files + s.files))
            twin.include = list(dict.fromkeys(twin.include + s.include)) if twin.include and s.include else []
    return out
