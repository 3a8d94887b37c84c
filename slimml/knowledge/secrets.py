"""What counts as a secret in a Dockerfile (SLM009): variable names, value shapes, files.

The value *shapes* (``hf_...``, ``sk-...``, ``AKIA...``, private-key blocks) are the ones
``slimml.secrets`` masks in every output, so whatever the rule finds is also masked. Names are
judged word by word (``HF_TOKEN`` is a token, ``TOKENIZERS_PARALLELISM`` and ``MAX_NEW_TOKENS``
are not; ``GPG_KEY`` in the official python images is a public key fingerprint).
"""

from __future__ import annotations

import re

# -- variable names ----------------------------------------------------------------------------------
# Always secrets (also the ones the word rules below would miss or exclude: AWS_ACCESS_KEY_ID is an
# identifier, but it is only ever used together with its secret and is just as sensitive to leak).
SECRET_NAMES = frozenset(
    {
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HUGGINGFACE_HUB_TOKEN",
        "HUGGINGFACE_TOKEN",
        "HF_API_TOKEN",
        "HUGGINGFACEHUB_API_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "WANDB_API_KEY",
        "COHERE_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITLAB_TOKEN",
        "NPM_TOKEN",
        "NODE_AUTH_TOKEN",
        "PYPI_TOKEN",
        "TWINE_PASSWORD",
        "KAGGLE_KEY",
        "COMET_API_KEY",
        "NEPTUNE_API_TOKEN",
        "REPLICATE_API_TOKEN",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "AZURE_CLIENT_SECRET",
        "AZURE_STORAGE_KEY",
        "AZURE_OPENAI_API_KEY",
        "GOOGLE_API_KEY",
        "PINECONE_API_KEY",
        "PGPASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "SECRET_KEY",
    }
)
# Last word of a secret name: *_TOKEN, *_KEY, *_SECRET, *_PASSWORD, ...
SECRET_LAST_WORDS = frozenset(
    {"TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "APIKEY", "PASS", "PAT", "CREDENTIALS", "AUTH"}
)
# Words that make a name secret wherever they appear (*SECRET*, *PASSWORD*, *PASSWD*).
SECRET_ANYWHERE = ("SECRET", "PASSWORD", "PASSWD")
# ... unless the name ends with one of these: it points to the secret, names it or configures it.
NOT_SECRET_LAST_WORDS = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "NAME",
        "TYPE",
        "URL",
        "ENABLED",
        "DISABLED",
        "VERSION",
        "MOUNT",
        "LOCATION",
        "ARN",
        "REF",
        "ENV",
        "SIZE",
        "LENGTH",
        "ALGORITHM",
        "HEADER",
        "PREFIX",
        "ROTATION",
    }
)
# Words that make a name not secret anywhere: public keys, counts and limits (MAX_NEW_TOKENS).
NOT_SECRET_WORDS = frozenset({"PUBLIC", "PUB", "PUBKEY", "MAX", "MIN", "NUM", "COUNT", "LIMIT"})
# Names that look secret but are not.
NOT_SECRET_NAMES = frozenset(
    {
        "GPG_KEY",
        "GPG_KEYS",
        "PGP_KEY",
        "KEY",
        "CACHE_KEY",
        "SORT_KEY",
        "PRIMARY_KEY",
        "PARTITION_KEY",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN",
        "APT_KEY",
        "SIGNING_KEY_ID",
    }
)
# Values that are switches, not secrets (``AUTH=none``, ``HF_HUB_DISABLE_IMPLICIT_TOKEN=1``).
HARMLESS_VALUES = frozenset(
    {"", "0", "1", "true", "false", "yes", "no", "on", "off", "none", "null", "disabled", "enabled"}
)

# ``scheme://user:password@host`` with a literal password (``$VAR`` references are not secrets).
# (tried only where a run of scheme characters starts -- its leading non-letters are skipped -- so a long
# word is not rescanned from each of its letters: the same verdicts, in linear time)
URL_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.\-])[0-9+.\-]*[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"$]+:(?!\$)[^\s@/'\"]+@"
)
# A value made only of variable references: ``$HF_TOKEN``, ``${HF_TOKEN}``, ``${HF_TOKEN:-}``.
PURE_REFERENCE = re.compile(r"(?:\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-+=?])?\})+")
REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")

# What a secret-looking value is, for messages (never the value itself). Same shapes as slimml.secrets.
VALUE_KINDS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "Hugging Face token"),
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"), "API key (sk-...)"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), "GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), "GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), "GitLab token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"), "Slack token"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), "Google API key"),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), "npm token"),
    (re.compile(r"\bpypi-[A-Za-z0-9_\-]{40,}"), "PyPI token"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "private key"),
    (URL_CREDENTIALS, "password in a URL"),
)

# -- who reads a variable without naming it -----------------------------------------------------------
# program (basename) -> name patterns (fnmatch, upper case) it reads from its environment by itself.
_HF = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "HF_*")
_AWS = ("AWS_*",)
ENV_CONSUMERS: dict[str, tuple[str, ...]] = {
    "huggingface-cli": _HF,
    "hf": _HF,
    "git-lfs": _HF,
    "aws": _AWS,
    "s3cmd": _AWS,
    "dvc": _AWS + ("GOOGLE_*", "AZURE_*", "GDRIVE_*"),
    "mlflow": _AWS + ("MLFLOW_*",),
    "gsutil": ("GOOGLE_*", "CLOUDSDK_*", "BOTO_*"),
    "gcloud": ("GOOGLE_*", "CLOUDSDK_*"),
    "az": ("AZURE_*",),
    "azcopy": ("AZCOPY_*", "AZURE_*"),
    "pip": ("PIP_*",),
    "pip3": ("PIP_*",),
    "uv": ("UV_*",),
    "poetry": ("POETRY_*",),
    "pdm": ("PDM_*",),
    "twine": ("TWINE_*",),
    "conda": ("CONDA_*",),
    "mamba": ("CONDA_*", "MAMBA_*"),
    "npm": ("NPM_*", "NODE_AUTH_TOKEN", "npm_config_*"),
    "yarn": ("NPM_*", "YARN_*", "NODE_AUTH_TOKEN"),
    "pnpm": ("NPM_*", "NODE_AUTH_TOKEN", "npm_config_*"),
    "gh": ("GH_*", "GITHUB_TOKEN"),
    "git": ("GIT_*",),
    "wandb": ("WANDB_*",),
    "kaggle": ("KAGGLE_*",),
    "ngc": ("NGC_*",),
    "replicate": ("REPLICATE_*",),
}
# Programs that run arbitrary code (an interpreter, a build tool, a shell with a script): they may
# read any variable of their environment.
CODE_RUNNERS = re.compile(
    r"^(?:python(?:\d+(?:\.\d+)*)?|ipython|jupyter|papermill|make|just|bash|sh|dash|zsh|ash|"
    r"node|deno|bun|ruby|perl|R|Rscript|julia|java|accelerate|torchrun|deepspeed|"
    r"[\w.\-]+\.(?:py|sh|bash|R|jl|js|rb|pl))$"
)

# Instructions whose arguments BuildKit expands itself (build args and ENV substituted at build time).
BUILD_TIME_EXPANSION = frozenset({"ADD", "COPY", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"})

# Commands that store a credential on disk (in the layer) when run in a RUN.
LOGIN_COMMANDS: dict[tuple[str, ...], str] = {
    ("huggingface-cli", "login"): "~/.cache/huggingface/token",
    ("hf", "auth", "login"): "~/.cache/huggingface/token",
    ("wandb", "login"): "~/.netrc",
    ("docker", "login"): "~/.docker/config.json",
    ("npm", "login"): "~/.npmrc",
    ("gh", "auth", "login"): "~/.config/gh/hosts.yml",
    ("aws", "configure"): "~/.aws/credentials",
    ("kaggle", "config"): "~/.kaggle/kaggle.json",
}

# -- files ----------------------------------------------------------------------------------------------
# Example/template files that hold no secrets.
NOT_SECRET_FILES = (
    ".env.example",
    ".env.sample",
    ".env.template",
    ".env.dist",
    ".env.defaults",
    "*.pub",
    ".env.*.example",
    ".env.*.sample",
    ".env.*.template",
)


class SecretFile:
    """A kind of secrets file: basename patterns, the content that proves it (None: the name
    suffices), whether an unreadable file counts, and the programs that read it at build time."""

    def __init__(
        self,
        label: str,
        patterns: tuple[str, ...],
        marker: str | None = None,
        unreadable_is_secret: bool = True,
        consumers: tuple[str, ...] = (),
        advice: str = "",
    ):
        self.label = label
        self.patterns = patterns
        self.marker = re.compile(marker, re.IGNORECASE | re.MULTILINE) if marker else None
        self.unreadable_is_secret = unreadable_is_secret
        self.consumers = consumers
        self.advice = advice


_PRIVATE = r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
SECRET_FILES: tuple[SecretFile, ...] = (
    SecretFile(
        "dotenv file",
        (".env", ".env.*"),
        advice="pass its variables when the container starts: `docker run --env-file .env`, compose "
        "`env_file:`, Kubernetes `envFrom.secretRef`",
    ),
    SecretFile(
        "private key",
        ("*.pem", "*.key"),
        marker=_PRIVATE,
        unreadable_is_secret=False,
        advice="mount it at run time (`docker run -v ...:ro`, a Kubernetes secret volume)",
    ),
    SecretFile(
        "SSH private key",
        ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"),
        consumers=("git", "ssh", "scp", "rsync", "pip", "pip3", "uv", "poetry"),
        advice="use `RUN --mount=type=ssh` for build steps that need SSH",
    ),
    SecretFile(
        "key store",
        ("*.p12", "*.pfx", "*.jks", "*.keystore"),
        advice="mount it at run time (`docker run -v ...:ro`, a Kubernetes secret volume)",
    ),
    SecretFile(
        "credentials file",
        ("credentials", ".git-credentials", "kaggle.json"),
        consumers=("aws", "git", "kaggle", "dvc", "s3cmd"),
        advice="mount it at run time (`docker run -v ...:ro`, a Kubernetes secret volume)",
    ),
    SecretFile(
        "netrc file",
        (".netrc", "_netrc"),
        consumers=("pip", "pip3", "uv", "poetry", "curl", "wget", "git"),
        advice="use `RUN --mount=type=secret,id=netrc,target=/root/.netrc` for build steps that need it",
    ),
    SecretFile(
        "npm config with a token",
        (".npmrc",),
        marker=r"_authToken|_auth\s*=|_password|npm_[A-Za-z0-9]{36}",
        unreadable_is_secret=False,
        consumers=("npm", "npx", "yarn", "pnpm"),
        advice="use `RUN --mount=type=secret,id=npmrc,target=/root/.npmrc` for build steps that need it",
    ),
    SecretFile(
        "PyPI config with a password",
        (".pypirc",),
        marker=r"^[^\S\n]*password\s*[=:]|pypi-[A-Za-z0-9_\-]{20,}",
        unreadable_is_secret=False,
        consumers=("twine",),
        advice="use `RUN --mount=type=secret,id=pypirc,target=/root/.pypirc` for build steps that need it",
    ),
    SecretFile(
        "service-account key",
        (
            "gcp-key.json",
            "*service-account*.json",
            "*service_account*.json",
            "client_secret*.json",
            "gcp-credentials.json",
        ),
        marker=r"\"private_key\"|\"client_secret\"",
        consumers=("gcloud", "gsutil"),
        advice="mount it at run time (`docker run -v ...:ro`, a Kubernetes secret volume) and point "
        "GOOGLE_APPLICATION_CREDENTIALS at it",
    ),
)
# Directories that hold credentials as a whole.
SECRET_DIRS: dict[str, SecretFile] = {
    ".aws": SecretFile(
        "AWS credentials directory",
        (".aws",),
        consumers=("aws", "dvc", "s3cmd"),
        advice="mount it at run time or pass AWS_* variables from the orchestrator",
    ),
    ".ssh": SecretFile(
        "SSH directory",
        (".ssh",),
        consumers=("git", "ssh", "scp", "rsync", "pip", "pip3"),
        advice="use `RUN --mount=type=ssh` for build steps that need SSH",
    ),
    ".gnupg": SecretFile("GnuPG directory", (".gnupg",), consumers=("gpg", "gpg2"), advice="mount it at run time"),
}

# The comment line that starts the block appended to .dockerignore.
DOCKERIGNORE_HEADER = "# added by slimml (SLM009)"
