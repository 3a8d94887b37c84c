"""The CUDA base ladder: the smallest image that still has every CUDA library the software loads.

``devel`` -> ``runtime`` -> ``runtime`` without cuDNN -> ``base`` -> ``python:<ver>-slim``. Each step
down is taken only when it is proven from what the image installs (pip requirements, apt
packages) and what it uses (compiling, system CUDA paths, its Python): a package the tables in
``cuda_wheels`` do not know, a requirements file that cannot be read, a local project or wheel, a
conda install -- anything opaque -- stops the ladder at ``runtime`` with the reason.

Pure functions over data; reading a Dockerfile into that data is ``semantics.cuda_stack``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import cuda_wheels as W
from . import images as I
from . import sizes as S

FLAVOR_BASE, FLAVOR_RUNTIME, FLAVOR_DEVEL, FLAVOR_PYTHON = "base", "runtime", "devel", "python-slim"

# ``python3`` from apt on the Ubuntu releases of nvidia/cuda tags (packages.ubuntu.com: focal 3.8,
# jammy 3.10, noble 3.12).
UBUNTU_PYTHON3 = {"ubuntu20.04": "3.8", "ubuntu22.04": "3.10", "ubuntu24.04": "3.12"}


@dataclass(frozen=True)
class Uses:
    """What the image does besides installing packages (from the Dockerfile and the app's code)."""

    compiles: str = ""  # what compiles CUDA code at build time in the image ("" = nothing)
    compiles_at_run: str = ""  # what compiles when the container runs
    system_cuda: tuple[str, ...] = ()  # references to the system CUDA (/usr/local/cuda, libcublas.so...)
    python: str | None = None  # the Python version, when known ("3.10")
    python_from: str | None = None  # "apt" (python3 from the OS), "image" (python:*), "other", None
    interpreter_paths: tuple[str, ...] = ()  # absolute interpreter paths the image runs (/usr/bin/python3)
    env_rebuilt: bool = False  # the caller installs the environment with python:<ver>'s own interpreter


@dataclass(frozen=True)
class Step:
    image: str
    flavor: str  # runtime | base | python-slim (runtime also for "runtime without cuDNN")
    reason: str


@dataclass(frozen=True)
class Ladder:
    start: str
    steps: tuple[Step, ...] = ()  # each proven step, top to bottom
    stopped: str = ""  # why the ladder goes no lower ("" when it reached python-slim)
    facts: tuple[str, ...] = ()  # what the decision relied on, one line per package or use
    needs: frozenset[str] = frozenset()  # CUDA libraries that must come from the image
    env: tuple[tuple[str, str], ...] = ()  # ENV the lowest image must set to behave like the CUDA image
    notes: tuple[str, ...] = field(default=())  # what to check after the step
    closed: bool = False  # every package known to the tables and nothing opaque: the install is fully read

    @property
    def image(self) -> str:
        """The lowest proven image (``start`` when there is no step)."""
        return self.steps[-1].image if self.steps else self.start

    @property
    def below_runtime(self) -> bool:
        return any(s.flavor in (FLAVOR_BASE, FLAVOR_PYTHON) for s in self.steps)


# -- tag arithmetic -----------------------------------------------------------------------------------
def cuda_image(ref: str, flavor: str, cudnn: bool = True) -> str | None:
    """``ref`` (an nvidia/cuda image) as ``flavor``; ``cudnn=False`` drops the cuDNN segment, and
    ``base`` never has one (there is no cudnn-base tag). None for other images or unknown tags."""
    img = I.parse_image(ref)
    if I.family(img) != "cuda":
        return None
    ct = I.cuda_tag(img.tag)
    if ct is None:
        return None
    segs = [ct.version] + ([ct.cudnn] if ct.cudnn and cudnn and flavor != FLAVOR_BASE else []) + [flavor]
    tag = "-".join(segs + ([ct.os] if ct.os else []))
    return I.format_image(I.ImageRef(img.registry, img.repo, tag, None))


# -- what the requirements need -------------------------------------------------------------------------
@dataclass
class _Needs:
    system: set[str] = field(default_factory=set)  # libraries that must come from the image
    unknown: list[str] = field(default_factory=list)  # packages no table knows
    facts: list[str] = field(default_factory=list)


def _parse(req) -> tuple[str, frozenset[str], str] | None:
    """(canonical name, extras, specifier text) of a PEP 508 string or a ``sizes.Requirement``."""
    if isinstance(req, S.Requirement):
        return req.name, frozenset(req.extras), req.spec
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        r = Requirement(str(req))
    except InvalidRequirement:
        return None
    return S.canonical_name(r.name), frozenset(S.canonical_name(e) for e in r.extras), str(r.specifier)


def _classify(reqs: Iterable, needs: _Needs) -> None:
    for raw in reqs:
        parsed = _parse(raw)
        if parsed is None:
            needs.unknown.append(str(raw))
            continue
        name, extras, _spec = parsed
        lib = W.nvidia_wheel_lib(name)
        if lib:
            needs.facts.append(f"{name}: brings {lib} as a wheel")
        elif name == "torch":
            needs.facts.append("torch: its CUDA libraries come with the wheel (nvidia-* wheels or bundled)")
        elif name in W.VIA_TORCH:
            needs.facts.append(f"{name}: uses the CUDA libraries torch's wheels load")
        elif name in W.NO_CUDA or (name, None) in W.BRINGS and not W.BRINGS[(name, None)]:
            needs.facts.append(f"{name}: loads no CUDA library")
        elif any((name, e) in W.BRINGS for e in extras):
            needs.facts.append(f"{name}[{','.join(sorted(extras))}]: brings the CUDA libraries as wheels")
        elif name == "onnxruntime-gpu":
            brought = frozenset().union(*(W._ORT_EXTRAS.get(e, frozenset()) for e in extras))
            missing = W.NEEDS_SYSTEM[name] - brought
            needs.system |= missing
            needs.facts.append(
                f"onnxruntime-gpu: loads {', '.join(sorted(missing))} from the system "
                "(CUDA EP requirements; the cuda/cudnn extras bring them as wheels)"
            )
        elif name == "jax":
            local = extras & W.JAX_LOCAL_EXTRAS
            if local:
                needs.system |= W.TORCH_CUDA_LIBS
                needs.facts.append(f"jax[{','.join(sorted(local))}]: uses the system CUDA and cuDNN")
            else:
                needs.facts.append("jax: no CUDA extra, CPU only")
        elif name in W.NEEDS_SYSTEM:
            needs.system |= W.NEEDS_SYSTEM[name]
            needs.facts.append(f"{name}: loads {', '.join(sorted(W.NEEDS_SYSTEM[name]))} from the system")
        else:
            needs.unknown.append(name)


def _apt(apt_packages: Iterable[str], needs: _Needs) -> None:
    for p in apt_packages:
        if W.apt_cuda_package(p):
            # libnvinfer links cuBLAS and cuDNN, libcudnn cuBLAS: keep what the image has
            needs.system |= W.RUNTIME_LIBS | W.CUDNN_LIBS
            needs.facts.append(
                f"apt package {p}: a CUDA library from the system packages (links the image's CUDA libraries)"
            )


# -- the ladder -------------------------------------------------------------------------------------------
def ladder(
    image_ref: str,
    requirements: Iterable = (),
    apt_packages: Iterable[str] = (),
    *,
    opaque: Iterable[str] = (),
    uses: Uses = Uses(),
) -> Ladder:
    """The steps down from ``image_ref`` that the facts prove.

    ``requirements``: every pip requirement the image installs (PEP 508 strings or
    ``sizes.Requirement``); ``apt_packages``: every apt package it installs; ``opaque``: why some
    install could not be read (an unread requirements file, a local project, a conda install...):
    each stops the ladder at ``runtime``. ``uses``: what compiles, the system CUDA paths the image
    refers to, its Python."""
    start = image_ref
    img = I.parse_image(image_ref)
    fam = I.family(img)
    steps: list[Step] = []
    if uses.compiles or uses.compiles_at_run:
        why = uses.compiles or uses.compiles_at_run
        return Ladder(
            start,
            stopped=f"keeps the CUDA toolkit: {why}" if I.is_devel(image_ref) else "",
            facts=(f"compiles: {why}",),
        )
    if fam != "cuda":
        v = I.runtime_variant(image_ref) if I.is_devel(image_ref) else None
        if v is not None and v.image:
            steps.append(Step(v.image, FLAVOR_RUNTIME, "nothing compiles CUDA code"))
        known = _Needs()
        _classify(requirements, known)
        return Ladder(
            start,
            tuple(steps),
            stopped="only nvidia/cuda images have a base flavour",
            facts=tuple(known.facts),
            closed=not list(opaque) and not known.unknown,
        )
    ct = I.cuda_tag(img.tag)
    if ct is None:
        return Ladder(start, stopped="the tag is not one slimml can read")
    if ct.flavor == FLAVOR_DEVEL:
        steps.append(Step(cuda_image(image_ref, FLAVOR_RUNTIME), FLAVOR_RUNTIME, "nothing compiles CUDA code"))
    had_cudnn = ct.cudnn is not None

    needs = _Needs()
    _classify(requirements, needs)
    _apt(apt_packages, needs)
    facts = list(needs.facts)
    if uses.system_cuda:
        needs.system |= W.RUNTIME_LIBS | (W.CUDNN_LIBS if had_cudnn else frozenset())
        facts += [f"refers to the system CUDA: {r}" for r in uses.system_cuda]
    opaque = list(opaque)
    facts += [f"not read: {o}" for o in opaque]

    closed = not opaque and not needs.unknown

    def done(stopped: str, env=(), notes=()) -> Ladder:
        return Ladder(
            start, tuple(steps), stopped, tuple(facts), frozenset(needs.system), tuple(env), tuple(notes), closed
        )

    here = FLAVOR_BASE if ct.flavor == FLAVOR_BASE else FLAVOR_RUNTIME
    if opaque or needs.unknown:
        why = []
        if needs.unknown:
            shown = ", ".join(needs.unknown[:5]) + (", ..." if len(needs.unknown) > 5 else "")
            why.append(f"packages slimml does not know may load CUDA libraries from the image ({shown})")
        if opaque:
            why.append("; ".join(opaque[:3]))
        return done(f"stays on {here}: " + "; ".join(why))
    if ct.flavor == FLAVOR_BASE:
        if not needs.system <= W.BASE_LIBS:
            return done(f"stays on base: {', '.join(sorted(needs.system - W.BASE_LIBS))} come from the image")
    else:
        need = needs.system
        if need and not need <= W.BASE_LIBS:
            if had_cudnn and not (need & W.CUDNN_LIBS):
                steps.append(
                    Step(
                        cuda_image(image_ref, FLAVOR_RUNTIME, cudnn=False),
                        FLAVOR_RUNTIME,
                        "nothing loads cuDNN from the system",
                    )
                )
            kept = "cuDNN and the CUDA libraries" if need & W.CUDNN_LIBS else "the CUDA runtime libraries"
            return done(f"keeps {kept}: {', '.join(sorted(need))} come from the image")
        steps.append(
            Step(
                cuda_image(image_ref, FLAVOR_BASE),
                FLAVOR_BASE,
                "every CUDA library the packages load comes with their wheels",
            )
        )
    # python:<ver>-slim: no NVIDIA env, no forward-compat libraries, another OS and another Python.
    if uses.python is None:
        return done("stays on the CUDA base image: the Python version is not known")
    if not uses.env_rebuilt:
        return done(
            f"stays on the CUDA base image: the environment is built with {uses.python_from or 'a'} "
            "Python of the CUDA image; python:<ver>-slim has its own at /usr/local/bin and another OS -- "
            "it needs the environment installed with that Python (a multi-stage rewrite)"
        )
    bad = [p for p in uses.interpreter_paths if not p.startswith("/usr/local/bin/")]
    if bad:
        return done(f"stays on the CUDA base image: the image runs {bad[0]}, which python:<ver>-slim does not have")
    steps.append(
        Step(
            f"python:{uses.python}-slim",
            FLAVOR_PYTHON,
            "no CUDA library comes from the image: the driver is mounted by the NVIDIA container runtime",
        )
    )
    return done(
        "",
        env=W.NVIDIA_ENV,
        notes=(
            "python:<ver>-slim has no NVIDIA_VISIBLE_DEVICES/NVIDIA_DRIVER_CAPABILITIES: set them (or run with "
            "--gpus) or the container sees no GPU",
            "the CUDA base image ships cuda-compat (forward compatibility with older datacenter drivers); "
            "python-slim relies on the host driver supporting the wheels' CUDA version",
        ),
    )


# -- size estimate ------------------------------------------------------------------------------------
def _parts(ref: str) -> tuple[int | None, set[str]]:
    img = I.parse_image(ref)
    ct = I.cuda_tag(img.tag) if I.family(img) == "cuda" else None
    if ct is None or not (ct.os or "").startswith("ubuntu") or "$" in ct.version:
        return None, set()
    major = int(ct.version.split(".")[0]) if ct.version.split(".")[0].isdigit() else None
    parts = {"base"}
    if ct.flavor in (FLAVOR_RUNTIME, FLAVOR_DEVEL):
        parts |= {"runtime"} | ({"cudnn_runtime"} if ct.cudnn else set())
    if ct.flavor == FLAVOR_DEVEL:
        parts |= {"devel"} | ({"cudnn_devel"} if ct.cudnn else set())
    return major, parts


def saving(start: str, end: str) -> tuple[S.Range, str] | None:
    """(bytes saved going from ``start`` to ``end``, basis) for nvidia/cuda Ubuntu tags: the layers
    ``start`` has and ``end`` has not (shared layers cancel), from ``sizes.CUDA_PARTS``."""
    major, a = _parts(start)
    major2, b = _parts(end)
    if major is None or major != major2 or major not in S.CUDA_PARTS or not b <= a or a == b:
        return None
    p = S.CUDA_PARTS[major]
    gone = sorted(a - b)
    return S.add(*(getattr(p, g) for g in gone)), (
        f"CUDA {major} image layers dropped ({', '.join(g.replace('_', ' ') for g in gone)}); from published "
        "`docker images` sizes (sizes.CUDA_PARTS)"
    )
