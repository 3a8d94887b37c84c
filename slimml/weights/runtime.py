"""What the runtime image has to download with: Python, huggingface_hub, curl, wget, bucket CLIs.

Read from the Dockerfile alone (the base image's name, packages installed with apt/apk/dnf/pip/
conda -- requirement files in the build context count -- and the commands RUNs call, since a
command that ran is there), minus what is purged later. It decides which download methods the
init script may count on; the script checks again at run time.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from ..dockerfile import Document
from ..dockerfile.shell import run_scripts
from ..knowledge import weights as K
from ..rules import _helpers as H
from .detect import image_stages, root_image

_SYSTEM_INSTALL = {
    "apt-get": "install",
    "apt": "install",
    "yum": "install",
    "dnf": "install",
    "microdnf": "install",
    "apk": "add",
    "zypper": "install",
}
_SYSTEM_REMOVE = {
    "apt-get": ("purge", "remove"),
    "apt": ("purge", "remove"),
    "yum": ("remove", "erase"),
    "dnf": ("remove",),
    "microdnf": ("remove",),
    "apk": ("del",),
    "zypper": ("remove", "rm"),
}
# system package -> capability
_SYSTEM_PROVIDES = {
    "curl": "curl",
    "wget": "wget",
    "python3": "python",
    "python3-minimal": "python",
    "python-is-python3": "python",
    "python3-pip": "python",
    "python3.10": "python",
    "python3.11": "python",
    "python3.12": "python",
    "python3.9": "python",
    "awscli": "aws",
    "google-cloud-cli": "gsutil",
    "google-cloud-sdk": "gsutil",
    "git": "git",
    "git-lfs": "git-lfs",
    "azure-cli": "az",
    "busybox": "wget",
}
_PIP_PROVIDES = {"awscli": "aws", "gsutil": "gsutil", "azure-cli": "az"}
_PROGRAMS = {
    "curl": "curl",
    "wget": "wget",
    "aws": "aws",
    "gsutil": "gsutil",
    "gcloud": "gsutil",
    "az": "az",
    "git": "git",
    "huggingface-cli": "hf_hub",
    "hf": "hf_hub",
}
_PKG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Runtime:
    have: set[str] = field(default_factory=set)  # python, hf_hub, curl, wget, aws, gsutil, az, git
    shell: bool = True  # /bin/sh exists (the init script can run)
    base: str = ""

    def can_http(self) -> bool:
        return bool(self.have & {"python", "curl", "wget"})

    def can_hf(self) -> bool:
        return "python" in self.have and "hf_hub" in self.have


def _base_caps(image: str) -> tuple[set[str], bool]:
    repo, _, tag = image.partition(":")
    repo = repo.split("@", 1)[0]
    caps: set[str] = set()
    shell = (
        not any(repo == p.rstrip("/") or repo.startswith(p) for p in K.SHELL_LESS_BASES)
        or ":debug" in image
        or tag.endswith("-dev")
        or "-dev" in tag
    )
    if repo == "scratch":
        shell = False
    if any(repo == p.rstrip("/") or (p.endswith("/") and repo.startswith(p)) for p in K.PYTHON_BASES):
        caps.add("python")
    if repo in K.CURL_WGET_BASES and not any(m in tag for m in K.SLIM_TAG_MARKERS):
        caps |= {"curl", "wget"}
    if "alpine" in tag or repo in ("alpine", "busybox"):
        caps.add("wget")  # busybox wget
    return caps, shell


def base_capabilities(image: str) -> set[str]:
    """What a base image is known to ship, from its name alone (python, curl, wget)."""
    return _base_caps(image)[0]


def _requirement_text(ctx, path: str) -> str:
    for cand in dict.fromkeys([path.lstrip("/"), posixpath.basename(path)]):
        text = ctx.read_context_file(cand)
        if text is not None:
            return text
    return ""


def _project_text(ctx) -> str:
    return "\n".join(
        ctx.read_context_file(n) or ""
        for n in ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "environment.yml")
    )


def _mentions(text: str, names) -> set[str]:
    found = set()
    low = text.lower().replace("_", "-")
    for n in names:
        if re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", low):
            found.add(n)
    return found


def analyse(doc: Document, ctx) -> Runtime:
    base = root_image(doc)
    caps, shell = _base_caps(base)
    rt = Runtime(set(caps), shell, base)
    removed: set[str] = set()
    chain = set(image_stages(doc))
    builders = _copied_from(doc, chain)  # stages whose files (a venv, site-packages) the image copies
    for ins in doc.instructions:
        if ins.keyword != "RUN" or (ins.stage not in chain and ins.stage not in builders):
            continue
        if ins.stage not in chain:
            _builder_packages(doc, ctx, ins, rt)
            continue
        for script in run_scripts(doc, ins):
            for cmd in script.commands:
                eff = cmd.effective_argv()
                if not eff:
                    continue
                prog = H.basename(eff[0])
                args = eff[1:]
                if K.PYTHON_RE.match(prog) or re.match(r"^pip\d*(\.\d+)*$", prog):
                    rt.have.add("python")
                if prog in _PROGRAMS:
                    rt.have.add(_PROGRAMS[prog])
                    if _PROGRAMS[prog] == "hf_hub":
                        rt.have.add("python")
                if prog in _SYSTEM_INSTALL and _SYSTEM_INSTALL[prog] in args:
                    for a in args:
                        cap = _SYSTEM_PROVIDES.get(a.split("=", 1)[0])
                        if cap:
                            rt.have.add(cap)
                            removed.discard(cap)
                if prog in _SYSTEM_REMOVE and any(s in args for s in _SYSTEM_REMOVE[prog]):
                    for a in args:
                        cap = _SYSTEM_PROVIDES.get(a)
                        if cap:
                            removed.add(cap)
                pip_args = _pip_install_args(prog, args)
                if pip_args is not None:
                    rt.have.add("python")
                    _pip_caps(ctx, pip_args, rt)
                if prog in ("conda", "mamba", "micromamba") and "install" in args:
                    rt.have.add("python")
                    names = {_norm(_PKG_RE.match(a).group(0)) for a in args if _PKG_RE.match(a)}
                    if names & K.HF_HUB_PROVIDERS:
                        rt.have.add("hf_hub")
                if prog in ("poetry", "uv", "pdm", "pipenv") and args[:1] and args[0] in ("install", "sync"):
                    rt.have.add("python")
                    if _mentions(_project_text(ctx), K.HF_HUB_PROVIDERS):
                        rt.have.add("hf_hub")
                if re.match(r"^pip\d*(\.\d+)*$", prog) and args[:1] == ["uninstall"]:
                    if {_norm(a) for a in args[1:]} & {"huggingface-hub"}:
                        removed.add("hf_hub")
    rt.have -= removed
    return rt


def _copied_from(doc: Document, chain: set[int]) -> set[int]:
    """Stages (with the stages they are built FROM) that ``COPY --from`` of the image stages read."""
    out: set[int] = set()
    todo = [i for i in doc.instructions if i.stage in chain and i.keyword in ("COPY", "ADD") and i.flag("from")]
    names = {s.name: s.index for s in doc.stages if s.name}
    for ins in todo:
        ref = (ins.flag("from").value or "").lower()
        idx = names.get(ref, int(ref) if ref.isdigit() else None)
        while idx is not None and idx not in out and idx not in chain and idx < len(doc.stages):
            out.add(idx)
            image = doc.stages[idx].image.lower()
            idx = names.get(image)
    return out


def _builder_packages(doc: Document, ctx, ins, rt: Runtime) -> None:
    """Python packages a builder stage installs: they reach the image with the copied venv."""
    for script in run_scripts(doc, ins):
        for cmd in script.commands:
            eff = cmd.effective_argv()
            if not eff:
                continue
            prog, args = H.basename(eff[0]), eff[1:]
            pip_args = _pip_install_args(prog, args)
            if pip_args is not None:
                probe = Runtime()
                _pip_caps(ctx, pip_args, probe)
                rt.have |= probe.have & {"hf_hub"}
            if prog in ("poetry", "uv", "pdm", "pipenv") and args[:1] and args[0] in ("install", "sync"):
                if _mentions(_project_text(ctx), K.HF_HUB_PROVIDERS):
                    rt.have.add("hf_hub")


def _pip_install_args(prog: str, args: list[str]) -> list[str] | None:
    if re.match(r"^pip\d*(\.\d+)*$", prog):
        rest = args
    elif K.PYTHON_RE.match(prog) and args[:2] == ["-m", "pip"]:
        rest = args[2:]
    elif prog == "uv" and args[:1] == ["pip"]:
        rest = args[1:]
    else:
        return None
    return rest[1:] if rest[:1] == ["install"] else None


def _pip_caps(ctx, args: list[str], rt: Runtime) -> None:
    names: set[str] = set()
    i = 0
    texts = []
    while i < len(args):
        a = args[i]
        if a in ("-r", "--requirement", "-c", "--constraint") and i + 1 < len(args):
            texts.append(_requirement_text(ctx, args[i + 1]))
            i += 2
            continue
        if a.startswith("--requirement="):
            texts.append(_requirement_text(ctx, a.split("=", 1)[1]))
        elif a in (".", "./") or a.startswith(("./", "/")) and not a.endswith((".whl", ".tar.gz")):
            texts.append(_project_text(ctx))
        elif not a.startswith("-"):
            m = _PKG_RE.match(a)
            if m:
                names.add(_norm(m.group(0)))
        i += 1
    for t in texts:
        names |= _mentions(t, K.HF_HUB_PROVIDERS | set(_PIP_PROVIDES))
    if names & K.HF_HUB_PROVIDERS:
        rt.have.add("hf_hub")
    for n, cap in _PIP_PROVIDES.items():
        if n in names:
            rt.have.add(cap)
