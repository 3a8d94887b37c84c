"""Weights as an OCI image (SLM010 with ``weights-delivery = "image"``).

Instead of an init script that fetches the weights at container start, the weights go into an
image of their own -- ``FROM scratch`` plus the weights, from the same source (a COPY of the
build-context path; downloads through a download stage that runs the init script's recipe at
build time) -- that the deployment mounts read-only where the application reads them:

- Kubernetes: an image volume (``volumes: [{image: {reference, pullPolicy}}]``; feature gate
  ``ImageVolume``, Kubernetes >= 1.31, ``subPath`` on it >= 1.33);
- KServe: the modelcar form (``oci://`` storage URI; the model appears at ``/mnt/models``);
- Docker / compose: an image mount (Docker Engine >= 28, ``type: image``) or, on older engines,
  a container created from the ``docker-volume`` target of the same Dockerfile and
  ``--volumes-from`` it.

The service image keeps no weights and needs no init script. The weights image changes only when
the weights do, so it is built and pushed once per model version and cached by every node.

Everything here is text generation from the rule's weight sources (``sources.Source``); the
rule (``rules/model_weights.py``) decides what is removed from the service Dockerfile.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError
from ..knowledge import weights_artifact as KA
from .sources import Source

MARKER = KA.MARKER


class OptionError(ConfigError):
    """A bad ``weights-delivery`` value (the CLI prints it as a one-line error, exit 2)."""


def delivery(value) -> str:
    """The validated ``weights-delivery`` option value."""
    if value is None:
        return KA.DEFAULT_DELIVERY
    if not isinstance(value, str) or value not in KA.DELIVERIES:
        shown = json.dumps(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__
        raise OptionError(
            f"[rules.SLM010] weights-delivery must be one of "
            f"{', '.join(json.dumps(d) for d in KA.DELIVERIES)} (got {shown})"
        )
    return value


# -- file names ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Names:
    """Side files of one service Dockerfile, relative to the build context."""

    dockerfile: str  # weights.Dockerfile
    ignore: str  # weights.Dockerfile.dockerignore (BuildKit reads <Dockerfile>.dockerignore first)
    fetch: str  # weights-fetch.sh: the download stage's recipe (only with downloads)
    k8s: str  # weights.k8s.yaml: Deployment with an image volume + KServe InferenceService
    compose: str  # weights.compose.yaml

    def all(self) -> tuple[str, ...]:
        return (self.dockerfile, self.ignore, self.fetch, self.k8s, self.compose)


def names(dockerfile, folder: str) -> Names:
    """Side-file names for a service Dockerfile (``gpu.Dockerfile`` -> ``weights-gpu.Dockerfile`` ...),
    in ``folder`` (the Dockerfile's folder relative to the context; "" or "." for the root)."""
    tag = ""
    if dockerfile is not None:
        tag = re.sub(r"(?i)dockerfile", "", Path(dockerfile).name)
        tag = re.sub(r"[^A-Za-z0-9_-]+", "-", tag).strip("-_").lower()
    stem = f"{KA.STEM}-{tag}" if tag else KA.STEM

    def at(name: str) -> str:
        return name if folder in ("", ".") else f"{folder}/{name}"

    return Names(
        at(f"{stem}.Dockerfile"),
        at(f"{stem}.Dockerfile.dockerignore"),
        at(f"{stem}-fetch.sh"),
        at(f"{stem}.k8s.yaml"),
        at(f"{stem}.compose.yaml"),
    )


# -- the layout ----------------------------------------------------------------------------------------
@dataclass
class Mount:
    """One place the service reads weights from, filled from the weights image."""

    path: str  # absolute path in the service container (a directory, or a file when is_file)
    is_file: bool = False
    entry: str = ""  # where it lives in the weights image ("" = the image root)
    copies: list[tuple[str, str, str]] = field(default_factory=list)  # (from: "" | "download", src, dest in image)

    @property
    def sub_path(self) -> str:
        return self.entry.strip("/")


@dataclass
class Plan:
    sources: list[Source]
    mounts: list[Mount]
    download_base: str = ""  # the download stage's image ("" = no download stage)
    download_env: dict[str, str] = field(default_factory=dict)
    hf: bool = False  # Hugging Face sources: huggingface_hub in the download stage
    hf_cache: bool = False  # a hub cache is mounted (read-only): HF_HUB_OFFLINE=1 at run time
    project: str = "app"
    unpack: list[tuple[str, str]] = field(default_factory=list)  # (stage, local archive) ADD unpacks

    @property
    def reference(self) -> str:
        return f"{KA.REGISTRY}/{self.project}-weights:{KA.TAG}"

    @property
    def service_reference(self) -> str:
        return f"{KA.REGISTRY}/{self.project}:latest"


def _inside(p: str, root: str) -> bool:
    return p == root or p.startswith(root.rstrip("/") + "/")


def source_problem(sources: list[Source]) -> str:
    """Why the weights image cannot be built from these sources ("" = it can): its download stage
    has Python, pip and huggingface_hub -- not the service's libraries nor bucket CLIs."""
    for s in sources:
        if s.kind == "python":
            return (
                f'weights-delivery = "image": the {s.what or "Python"} download is replayed with the '
                f"service's own Python libraries, which the weights image's download stage does not have: "
                f'use weights-delivery = "init-script"'
            )
        if s.kind == "cmd":
            return (
                f'weights-delivery = "image": {s.uri} is fetched with {s.argv[0]}, which the weights image\'s '
                f'download stage does not have: use weights-delivery = "init-script"'
            )
        if s.kind == "uri" and not s.uri and s.is_dir and s.context_path.lower().endswith(".zip"):
            return (
                f'weights-delivery = "image": {s.context_path} is a zip archive, which ADD does not unpack: '
                f'use weights-delivery = "init-script"'
            )
        if s.kind == "uri" and s.uri and not s.uri.startswith(("http://", "https://")):
            return (
                f'weights-delivery = "image": the download stage fetches http(s) URLs and Hugging Face '
                f'repositories only, not {s.uri}: use weights-delivery = "init-script"'
            )
    return ""


def archive_top(path) -> str:
    """The single top-level folder of a tar archive ("" when it has several entries at the top):
    the service found the contents of a local archive ADD unpacked at ``<dest>/<top>``."""
    import tarfile

    try:
        with tarfile.open(path, "r|*") as tar:
            names = [posixpath.normpath(m.name.lstrip("./") or ".") for m in tar]
    except (tarfile.TarError, EOFError, OSError):
        return ""
    names = [n for n in names if n != "."]
    tops = {n.split("/", 1)[0] for n in names}
    return next(iter(tops)) if len(tops) == 1 and any("/" in n for n in names) else ""


def plan(
    sources: list[Source],
    *,
    taken: list[str],
    env: dict[str, str],
    home: str,
    hf_path,
    base: str,
    base_has_python: bool,
    project: str,
    archive_top=lambda rel: "",
) -> Plan | str:
    """Where each source goes in the weights image and where the service mounts it; a string says
    why the image form cannot carry these sources. ``archive_top(context path)``: the top folder of
    a local tar archive."""
    problem = source_problem(sources)
    if problem:
        return problem
    wants: list[tuple[Source, str, bool]] = []  # (source, mount path, mount is a file)
    for s in sources:
        if s.kind == "hf" and not s.target:
            path = hf_path(s)
        elif s.is_dir or s.kind == "hf":
            path = s.target
        else:
            parent = posixpath.dirname(s.target)
            # a file in a folder of its own: mount the folder; next to other files: the file itself
            own = parent not in ("", "/") and not any(_inside(t, parent) for t in taken)
            path = parent if own else s.target
        if not path.startswith("/") or "$" in path:
            return (
                f'weights-delivery = "image": the weights\' path ({path}) is only known at run time '
                f"(it depends on the user's home): set HF_HOME or the target to an absolute path first"
            )
        if path in ("", "/") or (path != s.target and any(_inside(t, path) for t in taken)):
            return (
                f'weights-delivery = "image": {path or "/"} also holds other files of the image, which a '
                f"mount there would hide: move the weights to a directory of their own first"
            )
        wants.append((s, path, path == s.target and not s.is_dir and s.kind != "hf"))
    # one mount per outermost path; a path inside another mount goes into that mount
    paths = sorted({p for _, p, _ in wants}, key=len)
    outer: list[str] = []
    for p in paths:
        if not any(_inside(p, o) for o in outer):
            outer.append(p)
    mounts: dict[str, Mount] = {}
    for p in outer:
        is_file = any(path == p and f for _, path, f in wants)
        mounts[p] = Mount(p, is_file=is_file)
    if len(mounts) > 1 or any(m.is_file for m in mounts.values()):
        used: set[str] = set()
        for m in mounts.values():
            base_name = (
                re.sub(r"[^A-Za-z0-9._-]+", "-", posixpath.basename(m.path.rstrip("/"))).strip("-.") or "weights"
            )
            name, n = base_name, 2
            while name in used:
                name, n = f"{base_name}-{n}", n + 1
            used.add(name)
            m.entry = "/" + name
    download = False
    out_unpack: list[tuple[str, str]] = []  # (stage, archive)
    for s, path, _ in wants:
        m = next(mounts[o] for o in outer if _inside(path, o))
        if m.is_file:
            dest = m.entry  # the file itself
        else:
            rel = posixpath.relpath(s.target if s.target and _inside(s.target, m.path) else path, m.path)
            dest = posixpath.normpath(posixpath.join(m.entry or "/", rel))
        if s.kind == "uri" and not s.uri:  # from the build context
            src = s.context_path
            if s.is_dir and not dest.endswith("/"):
                dest += "/"
            if s.is_dir and src.lower().endswith(KA.TAR_SUFFIXES):
                # a local tar archive ADD unpacked: unpacked again in a stage of its own, and its
                # top folder (the target the service read) copied from there
                top = archive_top(src)
                stage = "unpack-" + (re.sub(r"[^a-z0-9]+", "-", s.name.lower()).strip("-") or "archive")
                out_unpack.append((stage, src))
                m.copies.append((stage, f"/{top}/" if top else "/", dest))
            else:
                m.copies.append(("", src, dest))
        else:
            download = True
            src = s.target or path
            if s.is_dir or s.kind == "hf":
                dest, src = dest.rstrip("/") + "/", src.rstrip("/") + "/"
            m.copies.append(("download", src, dest))
    for m in mounts.values():
        m.copies = list(dict.fromkeys(m.copies))  # two sources in one folder: one COPY
    out = Plan(
        sources,
        list(mounts.values()),
        project=project,
        hf=any(s.kind == "hf" for s in sources),
        hf_cache=any(s.kind == "hf" and not s.target for s in sources),
        unpack=out_unpack,
    )
    if download:
        same = base_has_python and "$" not in base and base.split(":", 1)[0] in KA.PIP_PYTHON_REPOS
        out.download_base = base if same else KA.DOWNLOAD_IMAGE
        keep = {"HOME": home} if home not in ("/root", "$HOME") else {}
        for s in sources:
            for name in ["HF_HOME", "XDG_CACHE_HOME", *s.cache_env]:
                if env.get(name):
                    keep[name] = env[name]
        out.download_env = keep
    return out


# -- the weights Dockerfile -----------------------------------------------------------------------------------
def _copy(src: str, dest: str, frm: str = "") -> str:
    """A COPY (``frm``: a stage name; "ADD": an ADD that unpacks a local archive)."""
    kw, flag = ("ADD", "") if frm == "ADD" else ("COPY", f"--from={frm} " if frm else "")
    if any(c.isspace() for c in src + dest) or any(c in src + dest for c in "$\"'\\"):
        return f"{kw} {flag}{json.dumps([src, dest])}"
    return f"{kw} {flag}{src} {dest}"


def build_args(sources: list[Source]) -> list[str]:
    """The fetch script's source variables, as build arguments of the download stage (an unset
    argument is empty: the script then uses its default, the Dockerfile's source)."""
    from .initscript import var

    out = []
    for s in sources:
        if s.kind == "uri" and s.uri:
            out.append(var(s, "URI"))
        elif s.kind == "hf":
            out += [var(s, "REPO"), var(s, "REVISION")]
    return out  # not HF_ENDPOINT: huggingface_hub takes an empty one literally


def dockerfile(p: Plan, n: Names, service: str, manifest: list[str]) -> str:
    lines = [
        f"# {posixpath.basename(n.dockerfile)} -- {MARKER}.",
        f"# The model weights of {service} as an image of their own (FROM scratch: nothing but the weights).",
        "# Build and push it once per model version:",
        f"#   docker build -f {n.dockerfile} -t {p.reference} .",
        f"#   docker push {p.reference}",
        f"# and mount it read-only where the service reads the weights ({', '.join(m.path for m in p.mounts)}):",
        f"# see {posixpath.basename(n.k8s)} (Kubernetes image volume, KServe modelcar) and "
        f"{posixpath.basename(n.compose)}.",
        "# Targets: the default is the weights image; --target modelcar is the KServe modelcar (/models,",
        "# with the busybox shell KServe's sidecar needs); --target docker-volume is for Docker engines older",
        "# than 28 (no image mounts): docker create a container from it and run the service --volumes-from it.",
        f"# {posixpath.basename(n.ignore)} sends only the weights to this build.",
        "# This image is where the weights belong:",
        "# slimml: ignore-file[SLM010]",
    ]
    lines += [KA.MANIFEST_PREFIX + m for m in manifest]
    if p.download_base:
        lines += ["", f"ARG WEIGHTS_DOWNLOAD_IMAGE={p.download_base}"]
    lines.append("")
    if p.download_base:
        lines += [
            "# The downloads, from the same sources as before, with the init script's recipe (same paths).",
            "FROM ${WEIGHTS_DOWNLOAD_IMAGE} AS download",
        ]
        if p.hf:
            lines.append("RUN python3 -m pip install --no-cache-dir huggingface_hub")
        for k, v in p.download_env.items():
            lines.append(f"ENV {k}={json.dumps(v)}")
        overrides = build_args(p.sources)
        if overrides:
            lines.append("# Another model version: --build-arg " + overrides[0] + "=... (defaults: as before)")
            lines += [f"ARG {a}" for a in overrides]
        script = posixpath.basename(n.fetch)
        lines += [_copy(n.fetch, f"/tmp/{script}"), f"RUN sh /tmp/{script} true", ""]
    for stage, archive in p.unpack:
        lines += [f"FROM scratch AS {stage}", _copy(archive, "/", "ADD"), ""]
    lines.append("FROM scratch AS weights")
    for m in p.mounts:
        for frm, src, dest in m.copies:
            lines.append(_copy(src, dest, frm))
    lines += [
        "",
        "# KServe modelcar: the weights under /models, a shell for KServe's sidecar.",
        f"FROM {KA.MODELCAR_BASE} AS modelcar",
        "COPY --from=weights / /models/",
        "",
        "# Docker < 28: a volume per mount point, filled from the image when a container is created.",
    ]
    lines.append("FROM scratch AS docker-volume")
    vols = []
    for m in p.mounts:
        if m.is_file:
            continue  # a volume cannot be a single file: use an image mount or a bind mount there
        src = (m.entry or "") + "/"
        lines.append(_copy(src, m.path.rstrip("/") + "/", "weights"))
        vols.append(m.path)
    if vols:
        lines.append(f"VOLUME {json.dumps(vols)}")
    lines += ["", "FROM weights", ""]
    return "\n".join(lines)


def ignore_file(p: Plan, n: Names, service_ignore: str | None = None) -> str:
    """The weights build's ignore file: everything out but the weights (and the fetch script),
    then what the service's ignore file left out inside them (``models/**/*.tmp``), so that the
    weights image holds the files the service image held."""
    keep = [src.rstrip("/") for m in p.mounts for frm, src, _ in m.copies if not frm]
    keep += [archive for _, archive in p.unpack]
    lines = [f"# {MARKER}: only the weights go to the weights image's build", "*"]
    lines += ["!" + k for k in keep]
    if p.download_base:
        lines.append("!" + n.fetch)
    inherited = _inherited(service_ignore, keep)
    if inherited:
        lines += ["# as the service's build left them out:", *inherited]
    return "\n".join(dict.fromkeys(lines)) + "\n"


def _inherited(text: str | None, keep: list[str]) -> list[str]:
    """The service ignore file's patterns, in order, but those that leave out a weight path itself
    (the lines SLM010 added to take the weights out of the service's build)."""
    from .. import dockerignore as DI

    try:
        patterns = DI.parse_patterns(text or "")
    except DI.PatternError:
        return []
    return [str(pat) for pat in patterns if pat.exclusion or not any(pat.matches_or_parent(k) for k in keep)]


# -- deployment snippets ---------------------------------------------------------------------------------------
def _q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a YAML scalar, whatever it holds


def _offline_env(p: Plan, indent: str, compose: bool = False) -> list[str]:
    if not p.hf_cache:
        return []
    if compose:
        return [f"{indent}environment:", f'{indent}  HF_HUB_OFFLINE: "1"  # the hub cache is read-only: never download']
    return [
        f"{indent}env:",
        f"{indent}  - name: HF_HUB_OFFLINE  # the hub cache is read-only: never download",
        f'{indent}    value: "1"',
    ]


def k8s(p: Plan, n: Names) -> str:
    subpaths = any(m.entry for m in p.mounts)
    need = "1.33 (subPath on an image volume)" if subpaths else "1.31"
    lines = [
        f"# {posixpath.basename(n.k8s)} -- {MARKER}.",
        "# The service without its weights, which come from the weights image",
        f"# ({posixpath.basename(n.dockerfile)}) mounted read-only as an image volume.",
        f"# Needs Kubernetes >= {need} with the ImageVolume feature gate (alpha in 1.31, beta from 1.33,",
        "# on by default from 1.35) and a runtime that supports it (e.g. CRI-O >= 1.31, containerd >= 2.1).",
        "# Replace the image references with yours; a new model version is a new weights tag.",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {_q(p.project)}",
        "spec:",
        "  selector:",
        "    matchLabels:",
        f"      app: {_q(p.project)}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: {_q(p.project)}",
        "    spec:",
        "      containers:",
        f"        - name: {_q(p.project)}",
        f"          image: {_q(p.service_reference)}",
    ]
    lines += _offline_env(p, "          ")
    lines.append("          volumeMounts:")
    for m in p.mounts:
        lines += [
            "            - name: weights",
            f"              mountPath: {_q(m.path)}",
            "              readOnly: true",
        ]
        if m.entry:
            lines.append(f"              subPath: {_q(m.sub_path)}")
    lines += [
        "      volumes:",
        "        - name: weights",
        "          image:",
        f"            reference: {_q(p.reference)}",
        "            pullPolicy: IfNotPresent",
        "---",
        "# KServe (modelcars enabled: storageInitializer.enableModelcar in the inferenceservice-config",
        "# ConfigMap): build --target modelcar and push it; KServe shares it with the predictor at /mnt/models.",
        f"# The application must read the weights from /mnt/models there (it reads {', '.join(m.path for m in p.mounts)}).",
        "# On Kubernetes >= 1.31 with ImageVolume, the predictor can instead take the image volume above",
        "# (spec.predictor.volumes and the container's volumeMounts) and keep its own paths.",
        "apiVersion: serving.kserve.io/v1beta1",
        "kind: InferenceService",
        "metadata:",
        f"  name: {_q(p.project)}",
        "spec:",
        "  predictor:",
        "    containers:",
        "      - name: kserve-container",
        f"        image: {_q(p.service_reference)}",
        "        env:",
        "          - name: STORAGE_URI",
        f"            value: {_q('oci://' + p.reference + '-modelcar')}",
    ]
    if p.hf_cache:
        lines += ["          - name: HF_HUB_OFFLINE", '            value: "1"']
    return "\n".join(lines) + "\n"


def compose(p: Plan, n: Names) -> str:
    volume_ref = p.reference + "-volume"
    lines = [
        f"# {posixpath.basename(n.compose)} -- {MARKER}.",
        "# The service with its weights mounted read-only from the weights image",
        f"# ({posixpath.basename(n.dockerfile)}): an image mount, which needs Docker Engine >= 28 with the",
        '# containerd image store and a Docker Compose release that knows volume type "image":',
        "#   docker run "
        + " ".join(
            f"--mount type=image,source={p.reference},target={m.path}"
            + (f",image-subpath={m.sub_path}" if m.entry else "")
            for m in p.mounts
        )
        + f" {p.service_reference}",
        "# Older engines: a container created from the docker-volume target holds the weights as volumes",
        f"#   docker build -f {n.dockerfile} --target docker-volume -t {volume_ref} .",
        f"#   docker create --name {p.project}-weights {volume_ref} none   # never started",
        f"#   docker run --volumes-from {p.project}-weights:ro {p.service_reference}",
    ]
    if any(m.is_file for m in p.mounts):
        lines.append("# (a single-file mount has no volume form: mount that file from a copy, docker cp, instead)")
    lines += ["services:", f"  {p.project}:", f"    image: {_q(p.service_reference)}"]
    lines += _offline_env(p, "    ", compose=True)
    lines.append("    volumes:")
    for m in p.mounts:
        lines += [
            "      - type: image",
            f"        source: {_q(p.reference)}",
            f"        target: {_q(m.path)}",
            "        read_only: true",
        ]
        if m.entry:
            lines += ["        image:", f"          subpath: {_q(m.sub_path)}"]
    return "\n".join(lines) + "\n"


# -- the summary ------------------------------------------------------------------------------------------------
def reason_lines(p: Plan, n: Names) -> list[str]:
    where = ", ".join(m.path for m in p.mounts)
    return [
        f"The weights go into a weights image instead ({n.dockerfile}: FROM scratch + the weights"
        + (", downloaded in a build stage from the same sources" if p.download_base else "")
        + f"; build and push it once per model version: docker build -f {n.dockerfile} -t {p.reference} .).",
        f"The deployment must mount it read-only at {where}: without it the service finds no weights. "
        f"Kubernetes: the image volume in {n.k8s} (ImageVolume, Kubernetes >= "
        f"{'1.33' if any(m.entry for m in p.mounts) else '1.31'}), KServe: the modelcar in the same file; Docker: "
        f"{n.compose} (image mounts need Docker Engine >= 28; older engines --volumes-from a container of the "
        f"docker-volume target).",
        "The mount is read-only: an application that writes next to its weights (converted or compiled "
        "models, caches) needs a writable directory for that.",
    ] + (
        [
            "The Hugging Face cache is mounted read-only: the snippets set HF_HUB_OFFLINE=1, and a model the "
            "application downloads at run time needs a writable cache of its own."
        ]
        if p.hf_cache
        else []
    )
