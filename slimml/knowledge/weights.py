"""Model weights: how their files are named, where they are kept, and how builds download them.

Data first; ``looks_like_weight_download(argv)`` and ``looks_like_weight_file(path)`` are the
only logic, so rules that keep weights separable (merge-runs) and rules that move them out of
the image share one definition.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from urllib.parse import urlsplit

# File extensions of serialized models / weights (lower-case, with the dot).
WEIGHT_EXTENSIONS = frozenset({
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".gguf", ".ggml", ".h5", ".keras", ".pb",
    ".tflite", ".pkl", ".joblib", ".msgpack", ".npz", ".engine", ".plan", ".mar", ".model",
})

# Directory names that conventionally hold weights.
WEIGHT_DIR_NAMES = frozenset({"models", "weights", "checkpoints", "ckpt", "model_store", "artifacts"})

# Hosts whose files are model repositories (any download from them is a weight download).
MODEL_HUB_HOSTS = frozenset({"huggingface.co", "hf.co", "cdn-lfs.huggingface.co", "cdn-lfs.hf.co"})

# CLI invocations that download weights: program -> subcommand paths (after options).
DOWNLOAD_SUBCOMMANDS: dict[str, frozenset[tuple[str, ...]]] = {
    "huggingface-cli": frozenset({("download",)}),
    "hf": frozenset({("download",)}),
    "az": frozenset({("storage", "blob", "download"), ("storage", "blob", "download-batch")}),
    "spacy": frozenset({("download",)}),
}
# `git lfs <sub>` subcommands that fetch LFS objects (`git lfs install` only sets up hooks).
GIT_LFS_FETCHING = frozenset({"pull", "fetch", "clone", "checkout", "smudge"})
# Object-store copies: program -> (subcommand path, URL scheme of the remote side).
OBJECT_STORE_COPIES: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "aws": ((("s3", "cp"), "s3://"), (("s3", "sync"), "s3://")),
    "gsutil": ((("cp",), "gs://"), (("rsync",), "gs://")),
    "gcloud": ((("storage", "cp"), "gs://"), (("storage", "rsync"), "gs://")),
}
HTTP_DOWNLOADERS = frozenset({"wget", "curl"})

# `python -m <module> ...` that download models/data.
PYTHON_MODULE_DOWNLOADS: dict[str, frozenset[str] | None] = {
    "spacy": frozenset({"download"}),  # python -m spacy download en_core_web_sm
    "nltk.downloader": None,  # python -m nltk.downloader punkt (any arguments)
    "huggingface_hub.commands.huggingface_cli": frozenset({"download"}),
}
# Calls in `python -c` code that download (or load-and-cache) weights.
PYTHON_DOWNLOAD_CALLS = (
    "from_pretrained", "snapshot_download", "hf_hub_download", "SentenceTransformer", "pipeline",
    "torch.hub.load", "torch.hub.download_url_to_file", "whisper.load_model", "nltk.download",
    "spacy.cli.download",
)
_PYTHON_CALL_RE = re.compile(
    r"(?<![\w.])(?:[\w.]+\.)?(%s)\s*\(" % "|".join(re.escape(c) for c in PYTHON_DOWNLOAD_CALLS))

PYTHON_RE = re.compile(r"^python(\d+(\.\d+)*)?$")
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
GIT_OPTS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _strip_wrappers(argv: list[str]) -> list[str]:
    from ..dockerfile.shell import unwrap

    return argv[unwrap(argv, run_wrappers=False):]


def _positionals(args: list[str], with_value: frozenset[str] = frozenset()) -> list[str]:
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a in with_value:
            i += 2
            continue
        if not a.startswith("-"):
            out.append(a)
        i += 1
    return out


def looks_like_weight_file(path: str) -> bool:
    """``path`` (a file path or URL) names a serialized model by its extension."""
    if "://" in path:
        path = urlsplit(path).path
    ext = posixpath.splitext(path.rstrip("/"))[1].lower()
    return ext in WEIGHT_EXTENSIONS


def _is_hub_url(word: str) -> bool:
    if "://" not in word:
        return False
    host = (urlsplit(word).hostname or "").lower()
    return host in MODEL_HUB_HOSTS


def _python_download(args: list[str]) -> bool:
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-c" and i + 1 < len(args):
            return _PYTHON_CALL_RE.search(args[i + 1]) is not None
        if a.startswith("-c") and len(a) > 2 and not a.startswith("--"):
            return _PYTHON_CALL_RE.search(a[2:]) is not None
        if a == "-m" and i + 1 < len(args):
            mod, rest = args[i + 1], args[i + 2:]
            if mod in PYTHON_MODULE_DOWNLOADS:
                subs = PYTHON_MODULE_DOWNLOADS[mod]
                pos = _positionals(rest)
                return subs is None or bool(pos and pos[0] in subs)
            return False
        if not a.startswith("-"):
            return False  # a script file: its content is unknown here
        i += 1
    return False


def _shell_download(code: str) -> bool:
    """``sh -c 'code'``: check each simple command of the code (best effort)."""
    try:
        lex = shlex.shlex(code, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens = list(lex)
    except ValueError:
        return False
    cmd: list[str] = []
    for tok in tokens + [";"]:
        if tok and set(tok) <= set("&|;()"):
            if cmd and looks_like_weight_download(cmd):
                return True
            cmd = []
        else:
            cmd.append(tok)
    return False


def looks_like_weight_download(argv: list[str]) -> bool:
    """True when the command (argv, quotes removed) downloads model weights at build time."""
    argv = _strip_wrappers(list(argv))
    if not argv:
        return False
    prog, args = _base(argv[0]), argv[1:]
    if prog in SHELLS:
        for k, a in enumerate(args):
            if a == "-c" and k + 1 < len(args):
                return _shell_download(args[k + 1])
            if not a.startswith("-"):
                return False
        return False
    if prog in DOWNLOAD_SUBCOMMANDS:
        pos = _positionals(args)
        return any(tuple(pos[: len(sub)]) == sub for sub in DOWNLOAD_SUBCOMMANDS[prog])
    if prog == "git":
        pos = _positionals(args, GIT_OPTS_WITH_VALUE)
        if pos[:1] == ["lfs"]:
            return len(pos) > 1 and pos[1] in GIT_LFS_FETCHING
        if pos[:1] == ["clone"]:
            return any(_is_hub_url(p) for p in pos[1:])
        return False
    if prog in OBJECT_STORE_COPIES:
        pos = _positionals(args)  # global options may come first: find the subcommand anywhere
        for sub, scheme in OBJECT_STORE_COPIES[prog]:
            for k in range(len(pos) - len(sub) + 1):
                if tuple(pos[k:k + len(sub)]) == sub and any(p.startswith(scheme) for p in pos[k + len(sub):]):
                    return True
        return False
    if prog in HTTP_DOWNLOADERS:
        for a in args:
            if a.startswith("-"):
                if "=" not in a:
                    continue
                a = a.split("=", 1)[1]  # --output=model.bin
            if _is_hub_url(a) or looks_like_weight_file(a):
                return True
        return False
    if PYTHON_RE.match(prog):
        return _python_download(args)
    return False
