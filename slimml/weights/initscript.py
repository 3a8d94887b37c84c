"""The init script: a POSIX ``sh`` entrypoint that fetches model weights at container start.

For every source: when its target is missing or empty, download it -- from the same source the
Dockerfile used, into the same path -- then ``exec "$@"`` (the image's real command). Everything
is overridable by environment variables documented at the top of the script. Downloads use what
the image has, checked at run time (``command -v``): Python's standard library or
``huggingface_hub`` first, then curl, then wget; object stores need their CLI. A script with no
way to download fails with a message naming the path, never silently.

The script is plain ``sh`` (dash, busybox ash, bash), LF line endings whatever the Dockerfile
uses, and carries its sources as ``# slimml-source: {json}`` lines, so ``merge`` can add new
sources to a script written by an earlier run.
"""

from __future__ import annotations

import re
import shlex

from ..knowledge import weights as K
from ..secrets import mask
from .sources import Source

_SAFE_DQ = re.compile(r'^[^$`"\\\n}]*$')


# -- quoting ----------------------------------------------------------------------------------------
def sq(s: str) -> str:
    """``s`` as one single-quoted sh word (always quoted, for readability of generated code)."""
    return "'" + s.replace("'", "'\\''") + "'"


def dq_body(s: str) -> str:
    """``s`` escaped for the inside of a double-quoted sh string."""
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")


def word(s: str) -> str:
    """A literal sh word, quoted only when needed."""
    return shlex.quote(s)


# -- names ------------------------------------------------------------------------------------------
def _stem(src: Source) -> str:
    if src.kind == "hf":
        base = src.repo.rsplit("/", 1)[-1]
    elif src.target:
        base = src.target.rstrip("/").rsplit("/", 1)[-1]
        if not src.is_dir and "." in base:
            base = base.rsplit(".", 1)[0]
    elif src.context_path:
        base = src.context_path.rstrip("/").rsplit("/", 1)[-1]
    else:
        base = src.what or "model"
    stem = re.sub(r"[^A-Z0-9]+", "_", base.upper()).strip("_")
    return stem or "MODEL"


def assign_names(sources: list[Source]) -> None:
    """Give every source a unique environment-variable stem (names already set are kept)."""
    taken = {s.name for s in sources if s.name}
    for s in sources:
        if s.name:
            continue
        stem = _stem(s)
        name, n = stem, 2
        while name in taken:
            name = f"{stem}_{n}"
            n += 1
        s.name = name
        taken.add(name)


def var(src: Source, what: str) -> str:
    return f"{K.ENV_PREFIX}{src.name}_{what}"


# -- guards -----------------------------------------------------------------------------------------
_HOME = "${HOME:-/root}"
_CACHE = "${XDG_CACHE_HOME:-" + _HOME + "/.cache}"
_HF_HOME = "${HF_HOME:-" + _CACHE + "/huggingface}"


def _default_expr(default: str) -> str:
    if default.startswith("~cache/"):
        return _CACHE + "/" + dq_body(default[len("~cache/") :])
    if default.startswith("~home/"):
        return _HOME + "/" + dq_body(default[len("~home/") :])
    if default.startswith("~hf/"):
        return _HF_HOME + "/" + dq_body(default[len("~hf/") :])
    if default == "~hf":
        return _HF_HOME
    return dq_body(default)


def guard_expr(guard: dict) -> str:
    """A double-quoted sh word for a cache directory: env overrides, then the library's default."""
    expr = _default_expr(guard.get("default", ""))
    for name in reversed(guard.get("env", [])):
        expr = "${" + name + ":-" + expr + "}"
    suffix = guard.get("suffix", "")
    if suffix:
        expr += "/" + dq_body(suffix)
    return '"' + expr + '"'


def hf_cache_expr(src: Source) -> str:
    """The hub cache the library that downloaded ``src`` uses (as a double-quoted word)."""
    if src.guard.get("default"):
        return guard_expr(src.guard)
    return guard_expr({"env": src.cache_env or list(K.HF_CACHE_ENV[""]), "default": "~hf/hub"})


def describe_guard(guard: dict) -> str:
    """Human form of a guard for comments: ``$TORCH_HOME/hub (default ~/.cache/torch/hub)``."""
    d = guard.get("default", "")
    for pre, rep in (("~cache/", "~/.cache/"), ("~home/", "~/"), ("~hf/", "~/.cache/huggingface/")):
        if d.startswith(pre):
            d = rep + d[len(pre) :]
    if d == "~hf":
        d = "~/.cache/huggingface"
    suffix = guard.get("suffix", "")
    full = d + ("/" + suffix if suffix else "")
    env = guard.get("env", [])
    if env:
        return f"${env[0]}{'/' + suffix if suffix else ''} (default {full})"
    return full


# -- helpers emitted into the script ---------------------------------------------------------------------
_BASE = r"""say() { printf 'docker-entrypoint-weights: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
parent() { case "$1" in */*) set -- "${1%/*}"; printf '%s\n' "${1:-/}" ;; *) printf '.\n' ;; esac; }

# missing PATH: true when PATH is absent, an empty file or an empty directory (or a directory
# whose download was interrupted).
missing() {
    if [ -d "$1" ]; then
        [ -e "$1/@MARKER@" ] || [ -z "$(ls -A "$1" 2>/dev/null)" ]
    else
        [ ! -s "$1" ]
    fi
}

# start_download PATH file|dir: refuse when offline; mark a directory until finish_download.
start_download() {
    if [ "${WEIGHTS_OFFLINE:-0}" = 1 ]; then
        die "$1 is missing or empty and WEIGHTS_OFFLINE=1: mount the weights there"
    fi
    say "fetching $1"
    if [ "$2" = dir ]; then
        mkdir -p "$1" && : >"$1/@MARKER@"
    else
        mkdir -p "$(parent "$1")"
    fi
}
finish_download() { rm -f "$1/@MARKER@"; say "done: $1"; }
"""

_PYTHON = r"""# python_cmd: the first Python 3 interpreter on PATH.
python_cmd() {
    for _p in python3 python; do
        if have "$_p" && "$_p" -c 'import sys; sys.exit(sys.version_info < (3,))' 2>/dev/null; then
            printf '%s\n' "$_p"
            return 0
        fi
    done
    return 1
}
"""

_FETCH = r"""# fetch_url URL FILE: download with Python's standard library, curl or wget (whichever the
# image has), into FILE.part first so that an interrupted download is never taken for the file.
fetch_url() {
    _tmp="$2.part"
    _auth=
    case "$1" in "${HF_ENDPOINT:-https://huggingface.co}"/* | https://hf.co/*) _auth=${HF_TOKEN:-} ;; esac
    if _py=$(python_cmd); then
        "$_py" -c 'import shutil, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"User-Agent": "docker-entrypoint-weights"})
if sys.argv[3]:
    req.add_unredirected_header("Authorization", "Bearer " + sys.argv[3])
with urllib.request.urlopen(req, timeout=60) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f, 1 << 20)' "$1" "$_tmp" "$_auth"
    elif have curl; then
        if [ -n "$_auth" ]; then
            curl -fsSL --retry 3 -H "Authorization: Bearer $_auth" -o "$_tmp" "$1"
        else
            curl -fsSL --retry 3 -o "$_tmp" "$1"
        fi
    elif have wget; then
        if [ -n "$_auth" ]; then
            wget -q --header="Authorization: Bearer $_auth" -O "$_tmp" "$1"
        else
            wget -q -O "$_tmp" "$1"
        fi
    else
        die "cannot download $1: the image has neither python3, curl nor wget"
    fi || { rm -f "$_tmp"; die "download of $1 failed"; }
    mv -f "$_tmp" "$2"
}

# fetch_archive URL DIR: download a .tar(.gz|.bz2|.xz) or .zip archive and unpack it into DIR.
fetch_archive() {
    _arc="$2/.weights-archive"
    fetch_url "$1" "$_arc"
    if _py=$(python_cmd); then
        "$_py" -c 'import sys, tarfile, zipfile
src, dst = sys.argv[1:3]
if zipfile.is_zipfile(src):
    zipfile.ZipFile(src).extractall(dst)
else:
    with tarfile.open(src) as t:
        t.extractall(dst, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))' "$_arc" "$2"
    elif have tar; then
        tar -xf "$_arc" -C "$2"
    else
        die "cannot unpack $1: the image has neither python3 nor tar"
    fi || { rm -f "$_arc"; die "cannot unpack $1 into $2"; }
    rm -f "$_arc"
}

# fetch URI PATH file|dir: download URI (http(s)://, s3://, gs://, file:// or a path) to PATH.
# A directory comes from an archive URL, a bucket prefix or a directory.
fetch() {
    case "$1" in
        http://* | https://*)
            if [ "$3" = dir ]; then fetch_archive "$1" "$2"; else fetch_url "$1" "$2"; fi
            ;;
        s3://*)
            have aws || die "cannot download $1: the image has no aws CLI"
            if [ "$3" = dir ]; then
                aws s3 sync --only-show-errors "$1" "$2"
            else
                aws s3 cp --only-show-errors "$1" "$2"
            fi || die "download of $1 failed"
            ;;
        gs://*)
            if have gcloud; then
                if [ "$3" = dir ]; then
                    gcloud storage rsync --recursive "$1" "$2"
                else
                    gcloud storage cp "$1" "$2"
                fi
            elif have gsutil; then
                if [ "$3" = dir ]; then gsutil -m rsync -r "$1" "$2"; else gsutil cp "$1" "$2"; fi
            else
                die "cannot download $1: the image has neither gcloud nor gsutil"
            fi || die "download of $1 failed"
            ;;
        file://* | /*)
            _src=${1#file://}
            if [ "$3" = dir ]; then cp -R "$_src/." "$2/"; else cp "$_src" "$2.part" && mv -f "$2.part" "$2"; fi ||
                die "cannot copy $_src to $2"
            ;;
        *)
            die "$1: unsupported source for $2 (use http(s)://, s3://, gs://, file:// or a path)"
            ;;
    esac
}

# require_uri URI PATH CONTEXT_PATH URI_VARIABLE: weights that came from the build context have no
# download source; without one they must be mounted.
require_uri() {
    [ -n "$1" ] && return 0
    die "model weights missing: $2 does not exist or is empty. They are no longer baked into the image (they came from $3 in the build context): mount them at $2 (docker run -v /host/path:$2 ...) or set $4 to an http(s)://, s3:// or gs:// URI to download them from"
}
"""

_HF = r"""# hf_download REPO REVISION REPO_TYPE LOCAL_DIR CACHE_DIR MODE [PATTERN...]: fetch a Hugging Face
# repository with huggingface_hub (HF_TOKEN for private or gated repositories). MODE files: the
# =named files; snapshot: +include/-exclude globs; model: what from_pretrained() loads -- config
# and tokenizer files plus one weight format (safetensors when the repo has it), not the copies
# for other frameworks (TensorFlow, Flax, ONNX, GGUF, original/).
hf_download() {
    if _py=$(python_cmd) && "$_py" -c 'import huggingface_hub' 2>/dev/null; then
        HF_HUB_OFFLINE=0 "$_py" -c 'import fnmatch, sys
from huggingface_hub import HfApi, snapshot_download
repo, rev, rtype, local_dir, cache_dir, mode = sys.argv[1:7]
pats = sys.argv[7:]
kw = {"repo_id": repo, "repo_type": rtype, "revision": rev or None}
if local_dir:
    kw["local_dir"] = local_dir
if cache_dir:
    kw["cache_dir"] = cache_dir
sel = {k: [p[1:] for p in pats if p[:1] == k] for k in "+-=@"}
if mode == "files":
    kw["allow_patterns"] = sel["="]
elif mode == "model":
    files = HfApi().list_repo_files(repo, revision=rev or None, repo_type=rtype)
    if sel["+"]:
        files = [f for f in files if any(fnmatch.fnmatch(f, p) for p in sel["+"])]
    skip = ("original/", "onnx/", "openvino/", "coreml/", "tflite/")
    other = (".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".tflite", ".mlmodel", ".gguf", ".pb",
             ".ckpt", ".keras", ".nemo")
    weights = (".safetensors", ".bin", ".pt", ".pth")
    keep = [f for f in files if not f.startswith(skip) and not f.endswith(other)]
    w = [f for f in keep if f.endswith(weights)]
    if any(f.endswith(".safetensors") for f in w):
        w = [f for f in w if f.endswith(".safetensors")]
    for v in sel["@"]:
        if any("." + v + "." in f for f in w):
            w = [f for f in w if "." + v + "." in f]
    kw["allow_patterns"] = [f for f in keep if not f.endswith(weights)] + w + sel["="]
else:
    kw["allow_patterns"] = sel["+"] or None
    kw["ignore_patterns"] = sel["-"] or None
snapshot_download(**kw)' "$@" || die "download of Hugging Face repository $1 failed"
    elif [ "$6" = files ] && [ -n "$4" ]; then
        _repo=$1 _rev=${2:-main} _dir=$4
        _base=${HF_ENDPOINT:-https://huggingface.co}
        case "$3" in model) _base="$_base/$_repo" ;; *) _base="$_base/$3s/$_repo" ;; esac
        shift 6
        for _f in "$@"; do
            _f=${_f#=}
            mkdir -p "$(parent "$_dir/$_f")"
            fetch_url "$_base/resolve/$_rev/$_f" "$_dir/$_f"
        done
    else
        die "cannot download Hugging Face repository $1: the image needs Python with huggingface_hub (pip install huggingface_hub)"
    fi
}

# hf_cached REPO_DIR REVISION: true when the hub cache holds REVISION (a commit's snapshot, or
# the ref of a branch or tag; main by default) and no download into REPO_DIR was interrupted.
hf_cached() {
    missing "$1" && return 1
    case "$2" in
        "") _ref="$1/refs/main" ;;
        *[!0-9a-f]*) _ref="$1/refs/$2" ;;
        *) if [ "${#2}" -eq 40 ]; then _ref="$1/snapshots/$2"; else _ref="$1/refs/$2"; fi ;;
    esac
    ! missing "$_ref"
}

# repo_folder TYPE REPO: the folder of REPO in the hub cache (models--org--name).
repo_folder() {
    _out="$1s" _r=$2
    while :; do
        case "$_r" in
            */*) _out="$_out--${_r%%/*}" _r=${_r#*/} ;;
            *) break ;;
        esac
    done
    printf '%s--%s\n' "$_out" "$_r"
}
"""

_REPLAY = r"""# run_python INTERPRETER CODE: replay a download the build ran, with its own library and cache.
run_python() {
    have "$1" || die "cannot download: $1 is not in the image"
    HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 "$1" -c "$2" || die "the download by $1 failed (see above)"
}
"""


# -- rendering ------------------------------------------------------------------------------------
def _default(name: str, value: str) -> list[str]:
    if _SAFE_DQ.match(value):
        return [f': "${{{name}:={value}}}"']
    return [f"{name}=${{{name}:-}}", f'[ -n "${name}" ] || {name}={sq(value)}']


def _comment(text: str) -> str:
    return " ".join(text.split())


def _env_docs(src: Source) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if src.kind in ("uri", "cmd"):
        what = "directory" if src.is_dir else "file"
        out.append((var(src, "PATH"), f"{what} the weights go to [{src.target}]"))
        default = src.uri or "none: mount the weights"
        forms = "http(s) archive, s3://, gs://" if src.is_dir else "http(s)://, s3://, gs://"
        out.append((var(src, "URI"), f"where they come from ({forms}) [{default}]"))
    elif src.kind == "hf":
        out.append((var(src, "REPO"), f"Hugging Face repository [{src.repo}]"))
        out.append((var(src, "REVISION"), f"branch, tag or commit [{src.revision or 'main'}]"))
        if src.target:
            out.append((var(src, "PATH"), f"directory the files go to [{src.target}]"))
    return out


def _uri_block(src: Source) -> list[str]:
    p, u = var(src, "PATH"), var(src, "URI")
    kind = "dir" if src.is_dir else "file"
    lines = _default(p, src.target) + _default(u, src.uri)
    lines.append(f'if missing "${p}"; then')
    if not src.uri:
        ctx = src.context_path or src.target
        lines.append(f'    require_uri "${u}" "${p}" {sq(ctx)} {u}')
    lines.append(f'    start_download "${p}" {kind}')
    lines.append(f'    fetch "${u}" "${p}" {kind}')
    if src.is_dir:
        lines.append(f'    finish_download "${p}"')
    lines.append("fi")
    return lines


def _cmd_block(src: Source) -> list[str]:
    p, u = var(src, "PATH"), var(src, "URI")
    kind = "dir" if src.is_dir else "file"
    tool = src.argv[0]
    replay = " ".join(f'"${u}"' if a == "{URI}" else f'"${p}"' if a == "{PATH}" else word(a) for a in src.argv)
    lines = _default(p, src.target) + _default(u, src.uri)
    lines.append(f'if missing "${p}"; then')
    lines.append(f'    start_download "${p}" {kind}')
    lines.append(f'    if [ "${u}" = {sq(src.uri)} ] && have {word(tool)}; then')
    lines.append(f'        {replay} || die "download of ${u} failed"')
    lines.append("    else")
    lines.append(f'        fetch "${u}" "${p}" {kind}')
    lines.append("    fi")
    if src.is_dir:
        lines.append(f'    finish_download "${p}"')
    lines.append("fi")
    return lines


def _hf_patterns(src: Source) -> list[str]:
    if src.mode == "files":
        return ["=" + f for f in src.files]
    pats = ["+" + p for p in src.include] + ["-" + p for p in src.exclude]
    if src.mode == "model":
        pats += ["=" + f for f in src.files] + (["@" + src.variant] if src.variant else [])
    return pats


def _hf_block(src: Source) -> list[str]:
    r, v = var(src, "REPO"), var(src, "REVISION")
    lines = _default(r, src.repo) + _default(v, src.revision)
    pats = " ".join(sq(x) for x in _hf_patterns(src))
    pats = " " + pats if pats else ""
    if src.target:
        p = var(src, "PATH")
        lines += _default(p, src.target)
        if src.mode == "files" and src.files:
            cond = " || ".join(f'missing "${p}/{dq_body(f)}"' for f in src.files)
        else:
            cond = f'missing "${p}"'
        lines.append(f"if {cond}; then")
        lines.append(f'    start_download "${p}" dir')
        lines.append(f'    hf_download "${r}" "${v}" {word(src.repo_type)} "${p}" "" {word(src.mode)}{pats}')
        lines.append(f'    finish_download "${p}"')
        lines.append("fi")
        return lines
    lines.append(f"_cache={hf_cache_expr(src)}")
    lines.append(f'_repo_dir="$_cache/$(repo_folder {word(src.repo_type)} "${r}")"')
    lines.append(f'if ! hf_cached "$_repo_dir" "${v}"; then')
    lines.append('    start_download "$_repo_dir" dir')
    lines.append(f'    hf_download "${r}" "${v}" {word(src.repo_type)} "" "$_cache" {word(src.mode)}{pats}')
    lines.append('    finish_download "$_repo_dir"')
    lines.append("fi")
    return lines


def _python_block(src: Source) -> list[str]:
    lines = [f"_dir={guard_expr(src.guard)}"]
    lines.append('if missing "$_dir"; then')
    lines.append('    start_download "$_dir" dir')
    lines.append(f"    run_python {word(src.python or 'python3')} {sq(src.code)}")
    lines.append('    finish_download "$_dir"')
    lines.append("fi")
    return lines


def _headline(i: int, src: Source) -> str:
    if src.kind == "hf":
        files = f" ({', '.join(src.files)})" if src.mode == "files" and src.files else ""
        where = src.target or "the Hugging Face cache ($HF_HOME)"
        rev = f"@{src.revision}" if src.revision else ""
        return f"[{i}] Hugging Face {src.repo_type} {src.repo}{rev}{files} -> {where}"
    if src.kind == "python":
        return f"[{i}] {src.what}: {describe_guard(src.guard)}"
    return f"[{i}] {src.target} <- {src.uri or src.context_path + ' (build context; mount it)'}"


def generate(sources: list[Source], name: str = K.INIT_SCRIPT_NAME, build_stage: str = "") -> str:
    """The whole script ``name`` for ``sources`` (names are assigned where missing). With
    ``build_stage`` (the weights Dockerfile's name) it is the recipe of that Dockerfile's download
    stage instead of an entrypoint: same fetching, another header."""
    assign_names(sources)
    kinds = {s.kind for s in sources}
    if build_stage:
        head = [
            f"# {name} -- {K.SCRIPT_MARKER}. The download stage of {build_stage} runs it at build",
            "# time (sh " + name + " true): each target below is fetched from its source into the path the",
            "# service reads, and the weights image copies it from there.",
        ]
    else:
        head = [
            f"# {name} -- {K.SCRIPT_MARKER}. Commit it next to the Dockerfile, executable",
            f"# (git add --chmod=+x {name}): the image runs it as its ENTRYPOINT.",
            "#",
            "# The model weights are not baked into the image any more. At container start, each target",
            "# below that is missing or empty is fetched from its source, then the container's command runs",
            '# (exec "$@"). Mount a volume on the targets so that the download happens once.',
        ]
    out = ["#!/bin/sh", *head, "#", "# Environment (defaults in brackets):"]
    docs: list[tuple[str, str]] = []
    for s in sources:
        docs += _env_docs(s)
    if "hf" in kinds or any(s.kind == "python" and "HF_" in " ".join(s.guard.get("env", [])) for s in sources):
        docs.append(("HF_HOME", "Hugging Face cache; mount a volume here [~/.cache/huggingface]"))
        docs.append(("HF_TOKEN", "token for private or gated Hugging Face repositories"))
        docs.append(("HF_ENDPOINT", "Hugging Face server or mirror [https://huggingface.co]"))
    for s in sources:
        if s.kind == "python" and s.guard.get("env"):
            e = s.guard["env"][0]
            if not e.startswith("HF_") and e not in [d[0] for d in docs]:
                default = describe_guard({"default": s.guard.get("default", "")})
                docs.append((e, f"{s.what} directory; mount a volume here [{default}]"))
    docs.append(("WEIGHTS_OFFLINE", "set to 1 to never download (fail when a target is missing)"))
    width = max(len(n) for n, _ in docs)
    out += [f"#   {n.ljust(width)}  {_comment(d)}" for n, d in docs]
    out.append("#")
    for s in sources:
        s.origin = mask(s.origin)  # a token on a command line must not be committed with the script
    out += [K.MANIFEST_PREFIX + s.to_json() for s in sources]
    out += ["", "set -eu", "", _BASE.replace("@MARKER@", K.INCOMPLETE_MARKER).rstrip("\n")]
    if kinds & {"uri", "cmd", "hf"}:
        out += ["", _PYTHON.rstrip("\n"), "", _FETCH.rstrip("\n")]
    if "hf" in kinds:
        out += ["", _HF.rstrip("\n")]
    if "python" in kinds:
        out += ["", _REPLAY.rstrip("\n")]
    for i, s in enumerate(sources, 1):
        out += ["", "# " + _comment(_headline(i, s))]
        if s.origin:
            out.append("#     was: " + _comment(mask(s.origin)))
        block = {"uri": _uri_block, "cmd": _cmd_block, "hf": _hf_block, "python": _python_block}[s.kind](s)
        out += block
    out += ["", 'exec "$@"', ""]
    return "\n".join(out)


def manifest(text: str, marker: str = K.SCRIPT_MARKER) -> list[Source] | None:
    """The sources of a script this module wrote -- or of another file carrying ``marker`` and the
    same manifest lines (the weights Dockerfile) -- None: not such a file."""
    if marker not in text:
        return None
    out = []
    for line in text.splitlines():
        if line.startswith(K.MANIFEST_PREFIX):
            src = Source.from_json(line[len(K.MANIFEST_PREFIX) :])
            if src is None:
                return None
            out.append(src)
    return out


def merge(old: list[Source], new: list[Source]) -> list[Source]:
    """``old`` then the sources of ``new`` not already there (by identity)."""
    keys = {s.key() for s in old}
    out = list(old)
    for s in new:
        if s.key() not in keys:
            keys.add(s.key())
            out.append(s)
    return out
