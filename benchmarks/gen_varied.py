"""Real-shaped Dockerfiles whose RUN lines do not repeat, each in its own build context.

    python benchmarks/gen_varied.py OUT_DIR [--files 240] [--seed 13]
    python benchmarks/gen_varied.py OUT_FILE --long-runs 10000

The throughput benchmark's generated files draw their RUN lines from ten fixed strings, which the
per-source caches reward (a RUN seen once is analysed once). These vary what real ML Dockerfiles
vary: base images, apt and pip package names (real names: the most downloaded PyPI projects, Debian
-dev packages, and the names slimml's own knowledge tables use), pinned versions, paths, flags,
continuations, comments, heredocs, multi-stage builds, ARG before FROM, CRLF line endings in some.
Each file gets a build context (requirements files, app code, an entry-point script) so the rules
that read the context do real work. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Most downloaded PyPI projects (real names, a sample of the top few hundred).
PIP = [
    "aiobotocore",
    "aiofiles",
    "aiohttp",
    "alembic",
    "anthropic",
    "anyio",
    "arrow",
    "asgiref",
    "asyncpg",
    "attrs",
    "authlib",
    "awscli",
    "azure-core",
    "azure-identity",
    "azure-storage-blob",
    "babel",
    "backoff",
    "bcrypt",
    "beautifulsoup4",
    "black",
    "blinker",
    "boto3",
    "botocore",
    "brotli",
    "build",
    "cachetools",
    "certifi",
    "cffi",
    "chardet",
    "charset-normalizer",
    "click",
    "cloudpickle",
    "colorama",
    "contourpy",
    "coverage",
    "cryptography",
    "cycler",
    "cython",
    "datasets",
    "debugpy",
    "decorator",
    "deepdiff",
    "defusedxml",
    "dill",
    "distlib",
    "distro",
    "dnspython",
    "docker",
    "docutils",
    "email-validator",
    "fastapi",
    "fastjsonschema",
    "filelock",
    "flask",
    "flatbuffers",
    "fonttools",
    "frozenlist",
    "fsspec",
    "gcsfs",
    "gitpython",
    "google-api-core",
    "google-auth",
    "google-cloud-storage",
    "google-cloud-bigquery",
    "google-genai",
    "greenlet",
    "grpcio",
    "grpcio-tools",
    "gunicorn",
    "h11",
    "httpcore",
    "httptools",
    "httpx",
    "huggingface-hub",
    "idna",
    "importlib-metadata",
    "ipykernel",
    "ipython",
    "isodate",
    "itsdangerous",
    "jinja2",
    "jiter",
    "jmespath",
    "joblib",
    "jsonpatch",
    "jsonschema",
    "jupyter-client",
    "keyring",
    "kiwisolver",
    "kubernetes",
    "langchain",
    "langchain-core",
    "langsmith",
    "litellm",
    "loguru",
    "lxml",
    "lz4",
    "mako",
    "markdown",
    "markupsafe",
    "marshmallow",
    "matplotlib",
    "mpmath",
    "msgpack",
    "multidict",
    "networkx",
    "numpy",
    "oauthlib",
    "onnxruntime",
    "openai",
    "openpyxl",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "orjson",
    "packaging",
    "pandas",
    "paramiko",
    "pathspec",
    "pillow",
    "platformdirs",
    "playwright",
    "pluggy",
    "prometheus-client",
    "prompt-toolkit",
    "protobuf",
    "psutil",
    "psycopg",
    "psycopg2-binary",
    "py4j",
    "pyarrow",
    "pyasn1",
    "pycparser",
    "pycryptodome",
    "pydantic",
    "pydantic-settings",
    "pygments",
    "pyjwt",
    "pymongo",
    "pymupdf",
    "pymysql",
    "pynacl",
    "pyopenssl",
    "pyparsing",
    "pytest",
    "python-dateutil",
    "python-dotenv",
    "python-multipart",
    "pytz",
    "pyyaml",
    "pyzmq",
    "rapidfuzz",
    "redis",
    "regex",
    "requests",
    "rich",
    "rsa",
    "ruamel-yaml",
    "s3fs",
    "s3transfer",
    "safetensors",
    "scikit-learn",
    "scipy",
    "semver",
    "sentry-sdk",
    "setuptools",
    "shellingham",
    "six",
    "slack-sdk",
    "sniffio",
    "sortedcontainers",
    "soupsieve",
    "sqlalchemy",
    "sqlparse",
    "starlette",
    "structlog",
    "sympy",
    "tabulate",
    "tenacity",
    "termcolor",
    "threadpoolctl",
    "tiktoken",
    "tokenizers",
    "toml",
    "tomli",
    "tomlkit",
    "tornado",
    "tqdm",
    "traitlets",
    "transformers",
    "typer",
    "typing-extensions",
    "tzdata",
    "urllib3",
    "uvicorn",
    "uvloop",
    "virtualenv",
    "watchfiles",
    "websockets",
    "werkzeug",
    "wheel",
    "wrapt",
    "xlsxwriter",
    "xmltodict",
    "xxhash",
    "yarl",
    "zipp",
    "zstandard",
]

# Debian packages an ML image installs (real names: -dev packages and common tools).
APT = [
    "build-essential",
    "ca-certificates",
    "cmake",
    "curl",
    "git",
    "gnupg",
    "jq",
    "less",
    "libbz2-dev",
    "libffi-dev",
    "libfreetype-dev",
    "libgl1-mesa-dev",
    "libglu1-mesa-dev",
    "libgmp-dev",
    "libicu-dev",
    "libjpeg-dev",
    "liblzma-dev",
    "libmagic-dev",
    "libncurses-dev",
    "libpng-dev",
    "libpq-dev",
    "libreadline-dev",
    "libsm-dev",
    "libsqlite3-dev",
    "libssl-dev",
    "libx11-dev",
    "libxext-dev",
    "libxml2-dev",
    "libxrender-dev",
    "libxslt1-dev",
    "libyaml-dev",
    "make",
    "openssh-client",
    "pkg-config",
    "procps",
    "python3-dev",
    "tk-dev",
    "unzip",
    "uuid-dev",
    "vim",
    "wget",
    "zip",
    "zlib1g-dev",
    "ffmpeg",
    "libsm6",
    "libxext6",
    "libgl1",
    "libglib2.0-0",
    "tini",
    "sox",
    "poppler-utils",
    "tesseract-ocr",
    "graphviz",
]

BASES = [
    "python:3.11-slim",
    "python:3.11",
    "python:3.10-slim-bookworm",
    "python:3.12-bookworm",
    "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04",
    "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04",
    "nvidia/cuda:11.8.0-base-ubuntu22.04",
    "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime",
    "pytorch/pytorch:2.1.2-cuda11.8-cudnn8-devel",
    "continuumio/miniconda3:24.1.2-0",
    "ubuntu:22.04",
    "debian:bookworm-slim",
    "tensorflow/tensorflow:2.15.0-gpu",
    "mambaorg/micromamba:1.5.8",
]
DIRS = ["/app", "/srv/app", "/workspace", "/opt/service", "/code", "/home/app/src", "/usr/src/app"]
MODULES = ["serve", "app", "main", "api", "worker", "inference", "predict", "server", "train"]


def _knowledge_names() -> tuple[list[str], list[str]]:
    """Package names slimml's own tables know (so the rules' lookups hit as on real files)."""
    try:
        from slimml.knowledge import apt_packages, sizes

        return sorted(apt_packages.RUNTIME_OF), sorted(sizes.WHEELS)
    except Exception:  # pragma: no cover - the generator also runs without slimml importable
        return [], []


class Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        k_apt, k_pip = _knowledge_names()
        self.apt = sorted(set(APT) | set(k_apt))
        self.pip = sorted(set(PIP) | set(k_pip))
        self.n = 0
        self.seen: set[str] = set()  # RUN lines emitted so far: none repeats

    def fresh(self, make) -> str:
        while True:
            line = make()
            if line not in self.seen:
                self.seen.add(line)
                return line

    def version(self) -> str:
        r = self.rng
        return f"{r.randint(0, 4)}.{r.randint(0, 40)}.{r.randint(0, 20)}"

    def pips(self, k: int) -> list[str]:
        r = self.rng
        out = []
        for name in r.sample(self.pip, k):
            style = r.random()
            if style < 0.4:
                out.append(f"{name}=={self.version()}")
            elif style < 0.55:
                out.append(f'"{name}>={self.version()}"')
            else:
                out.append(name)
        return out

    def apts(self, k: int) -> list[str]:
        return self.rng.sample(self.apt, k)

    def cont(self, words: list[str], indent: str = "    ") -> str:
        """Words joined across backslash continuations, as people wrap long installs."""
        r = self.rng
        if len(words) < 4 or r.random() < 0.3:
            return " ".join(words)
        return (" \\\n" + indent).join(words)

    def apt_run(self) -> str:
        r = self.rng
        pk = self.apts(r.randint(1, 9))
        flags = r.choice(["-y", "-y --no-install-recommends", "-yq", "--yes", "-y -q --no-install-recommends"])
        parts = ["apt-get update", f"apt-get install {flags} " + self.cont(pk, "        ")]
        if r.random() < 0.5:
            parts.append("rm -rf /var/lib/apt/lists/*")
        if r.random() < 0.2:
            parts.append("apt-get clean")
        return "RUN " + " \\\n    && ".join(parts) if r.random() < 0.7 else "RUN " + " && ".join(parts)

    def pip_run(self, workdir: str) -> str:
        r = self.rng
        prog = r.choice(
            [
                "pip install",
                "pip3 install",
                "python -m pip install",
                "pip install --upgrade",
                "pip install --no-cache-dir",
                "python3 -m pip install -U",
                "uv pip install --system",
            ]
        )
        s = r.random()
        if s < 0.25:
            req = r.choice(["requirements.txt", "requirements/prod.txt", f"{workdir}/requirements.txt"])
            return f"RUN {prog} -r {req}"
        if s < 0.35:
            return (
                f"RUN {prog} torch=={r.randint(1, 2)}.{r.randint(0, 5)}.{r.randint(0, 2)} "
                f"--index-url https://download.pytorch.org/whl/{r.choice(['cpu', 'cu118', 'cu121'])}"
            )
        if s < 0.45:
            return f"RUN {prog} -e .{r.choice(['', '[serve]', '[dev,test]'])}"
        return f"RUN {prog} " + self.cont(self.pips(r.randint(1, 8)))

    def misc_run(self, workdir: str) -> str:
        r = self.rng
        n = r.randint(1000, 60000)
        user = r.choice(["app", "svc", "ml", "runner", f"u{n % 97}"])
        choices = [
            f"RUN useradd -m -u {n} {user} && chown -R {user} {workdir}",
            f"RUN mkdir -p {workdir}/{r.choice(['data', 'cache', 'logs', 'models'])}/{n} && chmod 75{r.randint(0, 5)} {workdir}",
            f'RUN python -c "import {r.choice(["numpy", "torch", "sklearn", "pandas", "json"])}; print({n})"',
            f"RUN curl -fsSL https://example.org/{user}/tool-{self.version()}.tar.gz | tar -xz -C /opt",
            f"RUN wget -q https://github.com/org{n % 31}/rel/releases/download/v{self.version()}/bin.zip "
            f"&& unzip bin.zip -d /usr/local/bin && rm bin.zip",
            f"RUN conda install -y -c conda-forge {' '.join(self.pips(r.randint(1, 4))).replace('==', '=')} && conda clean -afy",
            f"RUN git clone --depth 1 https://github.com/org{n % 53}/{r.choice(self.pip)}.git /opt/src{n}",
            f"RUN echo 'export PATH=/opt/bin{n}:$PATH' >> /etc/profile.d/{user}.sh",
            f"RUN --mount=type=cache,target=/root/.cache/pip pip install {' '.join(self.pips(r.randint(1, 5)))}",
            f"RUN ln -sf /usr/bin/python3 /usr/local/bin/python{n % 7} && python3 --version",
            f"RUN find {workdir} -name '*.pyc' -delete && ls -la {workdir} | head -{n % 50 + 1}",
        ]
        return r.choice(choices)

    def heredoc(self) -> str:
        r = self.rng
        body = [f"pip install {' '.join(self.pips(r.randint(1, 4)))}", f"echo built-{r.randint(0, 10**9)}"]
        if r.random() < 0.5:
            body.insert(0, "set -eux")
        return "RUN <<EOF\n" + "\n".join(body) + "\nEOF"

    def stage(self, base: str, workdir: str, name: str | None, runs: int) -> list[str]:
        r = self.rng
        lines = [f"FROM {base}" + (f" AS {name}" if name else "")]
        if r.random() < 0.5:
            lines.append(f"ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 APP_PORT={r.randint(1024, 65000)}")
        lines.append(f"WORKDIR {workdir}")
        for _ in range(runs):
            x = r.random()
            if x < 0.28:
                lines.append(self.fresh(self.apt_run))
            elif x < 0.55:
                lines.append(self.fresh(lambda: self.pip_run(workdir)))
            elif x < 0.62:
                lines.append(self.fresh(self.heredoc))
            elif x < 0.72:
                lines.append(
                    r.choice(
                        [
                            "COPY . .",
                            f"COPY requirements.txt {workdir}/",
                            "COPY src/ ./src/",
                            "COPY --chown=1000:1000 . .",
                            "ADD app.py .",
                        ]
                    )
                )
            elif x < 0.8:
                lines.append(
                    f"# {r.choice(['install', 'setup', 'deps for', 'workaround for'])} "
                    f"{r.choice(self.pip)} ({r.randint(1, 999)})"
                )
            else:
                lines.append(self.fresh(lambda: self.misc_run(workdir)))
        return lines

    def dockerfile(self) -> str:
        r = self.rng
        self.n += 1
        workdir = r.choice(DIRS)
        lines: list[str] = []
        if r.random() < 0.35:
            lines.append(f"ARG PYTHON_VERSION=3.{r.randint(8, 12)}")
            base = "python:${PYTHON_VERSION}-slim"
        else:
            base = r.choice(BASES)
        if r.random() < 0.3:
            lines += self.stage(r.choice(BASES), workdir, "builder", r.randint(2, 6))
            lines += self.stage(base, workdir, None, r.randint(1, 4))
            lines.append(f"COPY --from=builder {workdir} {workdir}")
        else:
            lines += self.stage(base, workdir, None, r.randint(3, 10))
        if r.random() < 0.4:
            lines.append(f"EXPOSE {r.randint(1024, 65000)}")
        mod = r.choice(MODULES)
        lines.append(
            r.choice(
                [
                    f'CMD ["python", "{mod}.py"]',
                    f"CMD python {mod}.py",
                    'ENTRYPOINT ["./entrypoint.sh"]',
                    f'CMD ["uvicorn", "{mod}:app", "--host", "0.0.0.0", "--port", "{r.randint(1024, 9999)}"]',
                ]
            )
        )
        text = "\n".join(lines) + "\n"
        return text.replace("\n", "\r\n") if r.random() < 0.1 else text

    def context(self, d: Path) -> None:
        r = self.rng
        files = {
            "requirements.txt": "\n".join(self.pips(r.randint(2, 12))).replace('"', "") + "\n",
            "requirements/prod.txt": "-r ../requirements.txt\n" + "\n".join(self.pips(2)).replace('"', "") + "\n",
            "app.py": f"import os\nPORT = {r.randint(1024, 9999)}\n",
            "src/__init__.py": "",
            "entrypoint.sh": f'#!/bin/sh\nset -e\nexec python {r.choice(MODULES)}.py "$@"\n',
            "tests/test_app.py": "def test():\n    assert True\n",
        }
        for rel, body in files.items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(body)
        if r.random() < 0.5:
            (d / ".dockerignore").write_text(".git\n__pycache__\n" + r.choice(["tests/\n", "*.md\n", ""]))

    def long_dockerfile(self, runs: int) -> str:
        """One stage of ``runs`` RUN instructions, none the same."""
        r = self.rng
        lines = ["FROM python:3.11-slim", "WORKDIR /app"]
        makers = [self.apt_run, lambda: self.pip_run("/app"), lambda: self.misc_run("/app"), self.heredoc]
        for _ in range(runs):
            lines.append(self.fresh(r.choice(makers)))
        lines.append('CMD ["python", "app.py"]')
        return "\n".join(lines) + "\n"


def generate(out: Path, files: int, seed: int = 13) -> list[Path]:
    """``files`` Dockerfiles under ``out``/NNNN/ (each with its context); returns their paths."""
    g = Gen(seed)
    paths = []
    for i in range(files):
        d = out / f"{i:04d}"
        d.mkdir(parents=True, exist_ok=True)
        g.context(d)
        p = d / "Dockerfile"
        p.write_bytes(g.dockerfile().encode())
        paths.append(p)
    return paths


def run_lines(paths: list[Path]) -> tuple[int, int]:
    """(RUN instructions, distinct ones) over ``paths``: the generator's promise, checked."""
    from slimml.dockerfile import parse

    runs = []
    for p in paths:
        doc = parse(p.read_bytes().decode().replace("\r\n", "\n"))
        runs += [doc.text[i.start : i.end] for i in doc.instructions if i.keyword == "RUN"]
    return len(runs), len(set(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--files", type=int, default=240)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--long-runs", type=int, default=0, help="write one Dockerfile with this many RUNs to OUT")
    a = ap.parse_args()
    if a.long_runs:
        a.out.write_text(Gen(a.seed).long_dockerfile(a.long_runs))
        print(f"{a.out}: {a.long_runs} RUN instructions")
        return
    paths = generate(a.out, a.files, a.seed)
    n, distinct = run_lines(paths)
    print(f"{len(paths)} Dockerfiles under {a.out}: {n} RUN instructions, {distinct} distinct")


if __name__ == "__main__":
    main()
