"""The base image of a stage chain as SLM013 asks about it: CUDA or not, arm64-only, its Python."""

from __future__ import annotations

import re

from ...dockerfile import Document, Stage
from ...knowledge import gpu_use as G
from ...knowledge import images as I
from ...semantics import build as B


def stage_base(doc: Document, stage: Stage) -> str:
    """The FROM of the stage chain's root as written (a variable stays one: ``--build-arg`` may change it)."""
    return root(doc, stage).image


def base_kind(ref: str) -> tuple[str, str]:
    """("cuda" | "cpu" | "unknown", why) for the image a stage chain starts from. A variable in the tag of a
    repository whose every tag is (or is not) a CUDA image decides nothing: ``nvidia/cuda:${VER}-runtime-...``
    is a CUDA image, ``python:${PY}-slim`` is not."""
    if ref.lower() == "scratch":
        return "cpu", "scratch"
    img = I.parse_image(ref)
    if "$" in (img.normalized or "$") or (img.registry and "$" in img.registry):
        return "unknown", f"the base image `{ref}` is a build argument: a build may choose a CUDA image"
    fam = I.family(img)
    tag = img.tag or ""
    if fam in ("cuda", "ngc"):
        return "cuda", ref
    if fam == "pytorch":
        return ("cpu", ref) if "cpu" in tag and "$" not in tag else ("cuda", ref)
    if G.CUDA_NAME_RE.search(img.normalized) or G.CUDA_NAME_RE.search(tag):
        return "cuda", ref
    if "$" in tag and fam != "python" and img.normalized not in G.CPU_IMAGES:
        return "unknown", f"the tag of `{ref}` is a build argument: a build may choose a CUDA image"
    if fam == "tensorflow":
        return "cpu", ref  # not a -gpu tag (checked above)
    if img.normalized in G.CPU_IMAGES:
        return "cpu", ref
    return "unknown", f"slimml does not know whether the base image `{ref}` has CUDA"


def root(doc: Document, stage: Stage) -> Stage:
    return B.stage_chain(doc, stage)[-1]


def arm_only(doc: Document, stage: Stage) -> bool:
    for st in B.stage_chain(doc, stage):
        f = st.from_instruction.flag("platform") if st.from_instruction is not None else None
        if f is not None and f.value and "$" not in f.value:
            return bool(G.ARM_PLATFORMS_RE.search(f.value)) and "amd64" not in f.value and "x86_64" not in f.value
    return False


def python_version(ref: str) -> str | None:
    img = I.parse_image(ref)
    if I.family(img) != "python":
        return None
    pt = I.python_tag(img.tag)
    v = pt.version if pt is not None else None
    return v if v and re.match(r"^3\.\d+", v) else None
