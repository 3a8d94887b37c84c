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
WEIGHT_EXTENSIONS = frozenset(
    {
        ".safetensors",
        ".bin",
        ".pt",
        ".pth",
        ".ckpt",
        ".onnx",
        ".gguf",
        ".ggml",
        ".h5",
        ".keras",
        ".pb",
        ".tflite",
        ".pkl",
        ".joblib",
        ".msgpack",
        ".npz",
        ".engine",
        ".plan",
        ".mar",
        ".model",
    }
)

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
    "from_pretrained",
    "snapshot_download",
    "hf_hub_download",
    "SentenceTransformer",
    "pipeline",
    "torch.hub.load",
    "torch.hub.download_url_to_file",
    "whisper.load_model",
    "nltk.download",
    "spacy.cli.download",
)
_PYTHON_CALL_RE = re.compile(
    r"(?<![\w.])(?:[\w.]+\.)?(%s)\s*\(" % "|".join(re.escape(c) for c in PYTHON_DOWNLOAD_CALLS)
)

PYTHON_RE = re.compile(r"^python(\d+(\.\d+)*)?$")
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
GIT_OPTS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _strip_wrappers(argv: list[str]) -> list[str]:
    from ..dockerfile.shell import unwrap

    return argv[unwrap(argv, run_wrappers=False) :]


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
            mod, rest = args[i + 1], args[i + 2 :]
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


def could_download(prog: str) -> bool:
    """A command whose program (basename) is ``prog`` may be one ``looks_like_weight_download``
    accepts or a Python run whose code is analysed: the cheap test before expanding arguments."""
    return prog in _DOWNLOAD_PROGRAMS or PYTHON_RE.match(prog) is not None


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
                if tuple(pos[k : k + len(sub)]) == sub and any(p.startswith(scheme) for p in pos[k + len(sub) :]):
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


# ------------------------------------------------------------------------------------------------
# Moving weights out of the image (SLM010 model-weights): what the rule and the init script know.
# ------------------------------------------------------------------------------------------------

# The generated init script: its file name (next to the Dockerfile) and where the image gets it.
# ``Dockerfile`` gets docker-entrypoint-weights.sh; ``gpu.Dockerfile``/``Dockerfile.gpu`` get
# docker-entrypoint-weights-gpu.sh, so Dockerfiles sharing a folder never share a script.
INIT_SCRIPT_NAME = "docker-entrypoint-weights.sh"
INIT_SCRIPT_STEM = "docker-entrypoint-weights"
INIT_SCRIPT_DIR = "/usr/local/bin/"
INIT_SCRIPT_DEST = INIT_SCRIPT_DIR + INIT_SCRIPT_NAME
# The first line of the manifest comments the script carries (one JSON source per line), so a
# later run can regenerate the script with old and new sources.
MANIFEST_PREFIX = "# slimml-source: "
SCRIPT_MARKER = "written by slimml (SLM010)"
# Prefix of the environment variables the script reads (WEIGHTS_<NAME>_PATH, _URI, _REPO ...).
ENV_PREFIX = "WEIGHTS_"
DOCKERIGNORE_HEADER = "# added by slimml (SLM010)"
# Marker file inside a directory target while a download into it is under way.
INCOMPLETE_MARKER = ".weights-download-incomplete"

# Weight files smaller than this (bytes, in the build context) are not worth moving out.
DEFAULT_MIN_BYTES = 10_000_000

# Files that make a directory "code", not a weights folder (moving it out would break the app).
CODE_EXTENSIONS = frozenset(
    {".py", ".pyx", ".js", ".ts", ".go", ".rs", ".java", ".rb", ".sh", ".c", ".cc", ".cpp", ".h", ".ipynb"}
)

# -- Python run at build time (libcst analysis of ``python -c``/scripts) ------------------------
# Packages whose ``X.from_pretrained(repo)`` fetches a Hugging Face repository (first dotted part
# of the qualified name).
HF_FROM_PRETRAINED_ROOTS = frozenset(
    {
        "transformers",
        "diffusers",
        "sentence_transformers",
        "peft",
        "optimum",
        "setfit",
        "span_marker",
        "gliner",
        "flair",
    }
)
# Keyword naming the repository in from_pretrained-style calls (after the first positional).
HF_REPO_KWARGS = ("pretrained_model_name_or_path", "model_name_or_path", "model_id", "repo_id")
# Hub functions: qualified name -> kind.
HF_HUB_CALLS = {
    "huggingface_hub.snapshot_download": "snapshot",
    "huggingface_hub._snapshot_download.snapshot_download": "snapshot",
    "huggingface_hub.hf_hub_download": "file",
    "huggingface_hub.file_download.hf_hub_download": "file",
}
# Constructors that take a repo id and download it into the HF cache: qualified name -> (repo
# kwarg, cache-dir kwarg, org added to bare names).
HF_CONSTRUCTORS = {
    "sentence_transformers.SentenceTransformer": ("model_name_or_path", "cache_folder", "sentence-transformers"),
    "sentence_transformers.CrossEncoder": ("model_name", "cache_folder", None),
    "sentence_transformers.cross_encoder.CrossEncoder": ("model_name", "cache_folder", None),
}
HF_PIPELINE_CALLS = frozenset({"transformers.pipeline", "transformers.pipelines.pipeline"})
# Environment variables naming the hub cache, most specific first, per library (``TRANSFORMERS_CACHE``
# wins in transformers; sentence-transformers honours ``SENTENCE_TRANSFORMERS_HOME``).
HF_CACHE_ENV = {
    "transformers": ("TRANSFORMERS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"),
    "sentence_transformers": ("SENTENCE_TRANSFORMERS_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"),
    "": ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"),
}
# Keyword arguments of from_pretrained that change *what* is downloaded (the rest -- dtype,
# device_map, quantization -- only change how the model is loaded).
HF_DOWNLOAD_KWARGS = frozenset(
    {"revision", "subfolder", "cache_dir", "variant", "use_safetensors", "gguf_file", "trust_remote_code", "repo_type"}
)
# Calls that are replayed as they are at container start (their own download logic and cache):
# qualified name (or prefix ending in ".") -> (cache description, guard spec, argument that must
# be truthy for a download -- None: always downloads).
PY_REPLAY_CALLS = {
    "torch.hub.load": ("torch hub", {"env": ["TORCH_HOME"], "default": "~cache/torch", "suffix": "hub"}, None),
    "torch.hub.load_state_dict_from_url": (
        "torch hub",
        {"env": ["TORCH_HOME"], "default": "~cache/torch", "suffix": "hub/checkpoints"},
        None,
    ),
    "torchvision.models.": (
        "torch hub",
        {"env": ["TORCH_HOME"], "default": "~cache/torch", "suffix": "hub/checkpoints"},
        "weights|pretrained",
    ),
    "timm.create_model": (
        "Hugging Face cache",
        {"env": ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"], "default": "~hf/hub"},
        "pretrained",
    ),
    "whisper.load_model": ("whisper cache", {"env": [], "default": "~cache/whisper"}, None),
    "nltk.download": ("NLTK data", {"env": ["NLTK_DATA"], "default": "~home/nltk_data"}, None),
}
# Keyword of a replayed call that names its download directory (replaces the default guard).
PY_REPLAY_DIR_KWARGS = {
    "whisper.load_model": "download_root",
    "nltk.download": "download_dir",
    "torch.hub.load_state_dict_from_url": "model_dir",
}
# Calls that fetch a plain URL into a file: qualified name -> (url arg index, file arg index).
PY_URL_CALLS = {
    "urllib.request.urlretrieve": (0, 1),
    "torch.hub.download_url_to_file": (0, 1),
}
# Downloads that install a Python *package* (spaCy models): not movable to a volume by a script.
PY_PACKAGE_DOWNLOADS = frozenset({"spacy.cli.download", "spacy.cli.download.download"})

# -- what the runtime image has ----------------------------------------------------------------
# pip distributions that install huggingface_hub (directly or as a dependency).
HF_HUB_PROVIDERS = frozenset(
    {
        "huggingface-hub",
        "transformers",
        "diffusers",
        "sentence-transformers",
        "peft",
        "accelerate",
        "datasets",
        "timm",
        "optimum",
        "tokenizers",
        "vllm",
        "text-generation",
        "gradio",
        "open-clip-torch",
        "faster-whisper",
        "setfit",
        "huggingface-cli",
        "hf-transfer",
        "lerobot",
        "smolagents",
    }
)
# Base images (repository prefix, lower-case) that ship a Python interpreter.
PYTHON_BASES = (
    "python",
    "library/python",
    "docker.io/python",
    "docker.io/library/python",
    "pytorch/pytorch",
    "nvcr.io/nvidia/pytorch",
    "nvcr.io/nvidia/tensorflow",
    "tensorflow/tensorflow",
    "huggingface/",
    "continuumio/",
    "condaforge/",
    "jupyter/",
    "quay.io/jupyter/",
    "rayproject/ray",
    "nvcr.io/nvidia/tritonserver",
    "vllm/vllm-openai",
    "docker.io/vllm/vllm-openai",
    "ghcr.io/huggingface/text-generation-inference",
)
# Base images whose Python has huggingface_hub installed (the server depends on it). Not
# pytorch/pytorch: its conda environment holds torch, torchvision, torchaudio and PyTorch's build
# requirements, no huggingface_hub (pytorch/pytorch Dockerfile, stage conda-installs).
HF_HUB_BASES = (
    "vllm/vllm-openai",
    "docker.io/vllm/vllm-openai",
    "ghcr.io/huggingface/text-generation-inference",
    "huggingface/transformers-",
    "docker.io/huggingface/transformers-",
)
# Base images whose ENTRYPOINT *is* the service: a new ENTRYPOINT must run it after the init
# script. prefix -> (ENTRYPOINT, CMD) of the image; None: it depends on the image's version (vLLM:
# ``python3 -m vllm.entrypoints.openai.api_server`` in older tags, ``vllm serve`` in newer ones).
SERVICE_ENTRYPOINTS: dict[str, tuple[list[str], list[str]] | None] = {
    "ghcr.io/huggingface/text-generation-inference": (["text-generation-launcher"], ["--json-output"]),
    "vllm/vllm-openai": None,
    "docker.io/vllm/vllm-openai": None,
}
# Base images that ship curl and wget: the full (buildpack-deps based) python images.
CURL_WGET_BASES = ("python", "library/python", "docker.io/python", "docker.io/library/python", "buildpack-deps")
# Tags of those images that are *not* the full variant.
SLIM_TAG_MARKERS = ("slim", "alpine", "windowsservercore", "nanoserver")
# Base images without /bin/sh: the init script cannot run there.
SHELL_LESS_BASES = (
    "scratch",
    "gcr.io/distroless/",
    "cgr.dev/chainguard/",
    "mcr.microsoft.com/windows",
    "mcr.microsoft.com/powershell",
)
# Base images known to define no ENTRYPOINT (a new one replaces nothing).
BASES_WITHOUT_ENTRYPOINT = (
    "python",
    "library/python",
    "docker.io/python",
    "docker.io/library/python",
    "ubuntu",
    "debian",
    "alpine",
    "buildpack-deps",
    "pytorch/pytorch",
    "continuumio/",
    "condaforge/",
    "rockylinux",
    "fedora",
    "amazonlinux",
    "registry.access.redhat.com/ubi",
)
# Base images known to define an ENTRYPOINT the rewrite would replace (prefix -> entrypoint).
BASE_ENTRYPOINTS = {
    "nvidia/cuda": "/opt/nvidia/nvidia_entrypoint.sh",
    "nvcr.io/nvidia/": "/opt/nvidia/nvidia_entrypoint.sh",
}

# -- command-line downloaders ------------------------------------------------------------------
# Options that do not change what is downloaded or where (safe to drop when moving the download).
WGET_HARMLESS = frozenset(
    {
        "-q",
        "--quiet",
        "-nv",
        "--no-verbose",
        "-v",
        "--verbose",
        "-c",
        "--continue",
        "--show-progress",
        "-N",
        "--timestamping",
        "--no-clobber",
        "-nc",
        "--no-check-certificate",
    }
)
WGET_HARMLESS_VALUE = frozenset(
    {
        "-t",
        "--tries",
        "-T",
        "--timeout",
        "--progress",
        "--wait",
        "--read-timeout",
        "--connect-timeout",
        "--retry-connrefused",
        "--waitretry",
    }
)
CURL_HARMLESS = frozenset(
    {
        "-L",
        "--location",
        "-s",
        "--silent",
        "-S",
        "--show-error",
        "-f",
        "--fail",
        "--fail-with-body",
        "-#",
        "--progress-bar",
        "--create-dirs",
        "--compressed",
        "-k",
        "--insecure",
        "-v",
        "--verbose",
        "--http1.1",
        "--http2",
        "-g",
        "--globoff",
        "--retry-all-errors",
        "--no-progress-meter",
        "-R",
        "--remote-time",
    }
)
CURL_HARMLESS_VALUE = frozenset(
    {
        "--retry",
        "--retry-delay",
        "--retry-max-time",
        "--connect-timeout",
        "-m",
        "--max-time",
        "-C",
        "--continue-at",
        "--max-redirs",
    }
)
# Short curl options that take a value (for ``-fsSLo file`` clusters).
CURL_SHORT_WITH_VALUE = frozenset("oCmHuAeEdFTxXrbcKwzYy")
# huggingface-cli / hf download options: name -> number of values ("*": all following non-options).
HF_CLI_OPTIONS = {
    "--repo-type": 1,
    "--revision": 1,
    "--include": "*",
    "--exclude": "*",
    "--local-dir": 1,
    "--cache-dir": 1,
    "--token": 1,
    "--max-workers": 1,
    "--local-dir-use-symlinks": 1,
    "--quiet": 0,
    "--force-download": 0,
    "--resume-download": 0,
    "--dry-run": 0,
    "--format": 1,
}
# Object-store CLI options that take a value (``aws s3 cp --region x``).
AWS_OPTS_WITH_VALUE = frozenset(
    {
        "--region",
        "--profile",
        "--endpoint-url",
        "--exclude",
        "--include",
        "--acl",
        "--storage-class",
        "--sse",
        "--cli-read-timeout",
        "--cli-connect-timeout",
        "--request-payer",
        "--expected-size",
        "--source-region",
        "--page-size",
    }
)
GSUTIL_GLOBAL_OPTS_WITH_VALUE = frozenset({"-o", "-h", "-u"})


# Every program ``looks_like_weight_download`` looks into (Python aside).
_DOWNLOAD_PROGRAMS = frozenset(
    SHELLS | DOWNLOAD_SUBCOMMANDS.keys() | {"git"} | OBJECT_STORE_COPIES.keys() | HTTP_DOWNLOADERS
)


# -- download stages (COPY --from=<stage>) -------------------------------------------------------
# Base images a download stage may start from whose file systems hold nothing outside the
# directories below (a path elsewhere, e.g. /models, holds only what the stage puts there).
# (Matched after dropping a ``docker.io/`` and ``library/`` prefix and the tag.)
PLAIN_BASES = (
    "python",
    "ubuntu",
    "debian",
    "alpine",
    "busybox",
    "buildpack-deps",
    "alpine/git",
    "curlimages/curl",
    "amazon/aws-cli",
    "google/cloud-sdk",
    "gcr.io/google.com/cloudsdktool/",
    "mcr.microsoft.com/azure-cli",
    "nvidia/cuda",
    "pytorch/pytorch",
    "continuumio/",
    "condaforge/",
    "mambaorg/micromamba",
    "scratch",
)
# Directories base images and package managers fill.
SYSTEM_DIRS = (
    "/usr",
    "/etc",
    "/var",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/run",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/srv",
    "/mnt",
    "/media",
)
# Where package installers (apt, apk, pip, uv, conda ...) write besides SYSTEM_DIRS: caches and
# per-user prefixes under HOME (pip --user, conda, config).
PACKAGE_WRITES = (
    "/root/.cache/pip",
    "/root/.cache/uv",
    "/root/.cache/pypoetry",
    "/root/.local",
    "/root/.conda",
    "/root/.config",
    "/root/.npm",
    "/home",
    "/tmp",
)
# Package-installer programs (write SYSTEM_DIRS and PACKAGE_WRITES only).
PACKAGE_INSTALLERS = frozenset(
    {
        "apt-get",
        "apt",
        "apk",
        "yum",
        "dnf",
        "microdnf",
        "zypper",
        "pip",
        "pip3",
        "uv",
        "conda",
        "mamba",
        "micromamba",
        "update-ca-certificates",
    }
)
# Commands that write no file (output redirections aside).
NO_WRITE_COMMANDS = frozenset(
    {
        "echo",
        "printf",
        "true",
        ":",
        "set",
        "export",
        "cd",
        "ls",
        "du",
        "df",
        "cat",
        "test",
        "[",
        "sleep",
        "env",
        "id",
        "whoami",
        "pwd",
        "which",
        "command",
        "type",
        "stat",
        "head",
        "tail",
        "wc",
        "sha256sum",
        "md5sum",
        "uname",
        "nproc",
        "date",
        "grep",
    }
)
# Local archives ADD unpacks (decided from the file's first bytes, as Docker does): magic -> name.
ARCHIVE_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
# Archive file names (for remote ADD, which Docker does not unpack).
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")
# Words in an archive's name that say it holds a model.
ARCHIVE_MODEL_WORDS = re.compile(r"(?i)(model|weight|ckpt|checkpoint|onnx|gguf|safetensors|bert|llama|whisper)")
