"""What the installer's environment tells an install SLM013 rewrites: the indexes it reads (PIP_INDEX_URL, pip.conf,
uv.toml), whether it already installs from the CPU index, and the options given there rather than on the line
(PIP_TARGET, PIP_UPGRADE, a constraint pinning a CUDA build, uv's torch backend) under which the CPU install put
in front of it would not be kept -- or would inherit something that makes it fail."""

from __future__ import annotations

import re

from ...dockerfile import Document, Instruction
from ...knowledge import sizes as S
from ...semantics import build as B
from .. import _helpers as H
from . import installs as N

DEFAULT_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _is_cpu_url(url: str, cpu_index: str) -> bool:
    u = url.strip().strip("'\"")
    return bool(S.TORCH_CPU_INDEX_RE.search(u)) or (bool(cpu_index) and u.rstrip("/").startswith(cpu_index.rstrip("/")))


_PIP_INDEX_VARS = {"pip": ("PIP_INDEX_URL",), "uv": ("UV_INDEX_URL", "UV_DEFAULT_INDEX")}
_PIP_EXTRA_VARS = {"pip": ("PIP_EXTRA_INDEX_URL",), "uv": ("UV_EXTRA_INDEX_URL", "UV_INDEX")}


# pip reads every long option from PIP_<OPTION> and from pip.conf: the same options that withdraw the fix on the
# command line (installs.WITHDRAW_FLAGS) withdraw it there too -- and the CPU install would inherit them.
_WHY = {
    "target": "installs into a target directory, where pip ignores what is installed and fetches the CUDA wheels again",
    "prefix": "installs under another prefix: whether pip sees the CPU wheels there depends on sys.path",
    "root": "installs under another root: whether pip sees the CPU wheels there depends on sys.path",
    "upgrade": "upgrades: it may replace the CPU wheels with the index's CUDA ones",
    "force-reinstall": "reinstalls the CUDA wheels over the CPU ones",
    "ignore-installed": "installs the CUDA wheels over the CPU ones",
    "reinstall": "reinstalls the CUDA wheels over the CPU ones",
    "no-deps": "installs no dependencies, which the CPU install would have to match",
    "require-hashes": "checks hashes, and the CPU wheels' hashes differ",
    "no-index": "installs without an index, so the CPU index may not be reachable",
    "offline": "runs offline, so the CPU index would not be reached",
}
_ENV_BLOCKERS = {
    "pip": {f"PIP_{k.upper().replace('-', '_')}": w for k, w in _WHY.items() if k not in ("reinstall", "offline")},
    "uv": {"UV_NO_INDEX": _WHY["no-index"], "UV_OFFLINE": _WHY["offline"]},
}
_CONFIG_BLOCKERS = _WHY
_FALSE = ("", "0", "false", "no", "off")


def _configured_indexes(doc: Document, ctx, inst: N.Install) -> tuple[list[str], list[str], list[str]]:
    """(index URLs, extra index URLs, why unknown) that the environment and config files give the install."""
    from ...semantics import files as F
    from ...semantics import installers as IN

    if inst.script is not None:
        env = IN.command_env(doc, inst.instr, inst.cmd)
    else:  # exec form: the build state's variables only
        st = B.state_before(doc, inst.instr)
        env = dict(st.env) if st is not None else {}
    idx: list[str] = []
    extra: list[str] = []
    unknown: list[str] = []
    for names, out in ((_PIP_INDEX_VARS[inst.tool], idx), (_PIP_EXTRA_VARS[inst.tool], extra)):
        for n in names:
            v = env.get(n)
            if v is not None and v.value.strip():
                out.extend(v.value.split())
    backend = inst.torch_backend or (
        env["UV_TORCH_BACKEND"].value if inst.tool == "uv" and "UV_TORCH_BACKEND" in env else None
    )
    eager = "PIP_UPGRADE_STRATEGY" in env and "eager" in env["PIP_UPGRADE_STRATEGY"].value
    if inst.upgrade and eager:
        unknown.append("PIP_UPGRADE_STRATEGY is eager: the upgrade would replace the CPU torch with PyPI's CUDA build")
    for name, why in (_ENV_BLOCKERS.get(inst.tool) or {}).items():
        v = env.get(name)
        if v is not None and v.value.strip().strip("'\"").lower() not in _FALSE:
            unknown.append(f"{name} is set: the install {why}")

    def read(p: str) -> str | None:
        o = F.origin(doc, ctx, inst.instr, p)
        return o.text if o.kind in ("context", "heredoc") else None

    user = H.user_at(doc, inst.instr)
    home = "/root" if user in (None, "root", "0") else f"/home/{user}"
    inp = IN.inputs(inst.tool, env, H.workdir_at(doc, inst.instr), home, read)
    unknown += inp.unknown
    for path in inp.files:
        text = read(path)
        if text is None:
            continue
        values = IN._config_values(text, path) or {}
        idx += values.get("index-url", []) + values.get("default-index", [])
        extra += values.get("extra-index-url", []) + values.get("index", [])
        if inst.tool == "uv" and backend is None and values.get("torch-backend"):
            backend = values["torch-backend"][0]
        if inst.upgrade and any("eager" in v for v in values.get("upgrade-strategy", [])):
            unknown.append(f"`upgrade-strategy` in `{path}` is eager: the upgrade would replace the CPU torch")
        for key, why in _CONFIG_BLOCKERS.items():
            vals = values.get(key)
            if vals and not all(v.strip().lower() in _FALSE for v in vals):
                unknown.append(f"`{key}` in `{path}`: the install {why}")
        # a constraint the CPU install inherits (PIP_CONSTRAINT, pip.conf): a CUDA build pinned there has no CPU
        # wheel, and the CPU install -- and the build -- would fail
        for line in text.splitlines():
            req, applies, _ = N.parse_spec(line.split("#", 1)[0].strip(), None)
            if req is not None and applies and S.canonical_name(req.name) in N.TORCH_FAMILY and N._cuda_local(req):
                unknown.append(f"`{path}` constrains {req.name} to a CUDA build ({line.strip()})")
    # uv's --torch-backend picks torch's index itself: `cpu` is the CPU build already; any other value (auto, cu121)
    # is uv's choice, which a CPU install in front of it is not proven to survive
    if backend is not None and backend.strip().lower() == "cpu":
        idx.append(DEFAULT_CPU_INDEX)
    elif backend is not None:
        unknown.append(f"uv chooses torch's build itself (--torch-backend / UV_TORCH_BACKEND {backend.strip()})")
    return idx, extra, unknown


def _config_written_by_run(doc: Document, instr: Instruction, at: int) -> tuple[bool, str]:
    """(an earlier RUN of the chain -- or this RUN before offset ``at`` -- configures the CPU index, why a
    configuration written by a RUN cannot be read)."""
    stage = doc.stage_of(instr)
    chain = {s.index for s in B.stage_chain(doc, stage)} if stage is not None else set()
    for ins in doc.instructions:
        if ins.index > instr.index:
            break
        if ins.keyword != "RUN" or ins.stage not in chain:
            continue
        text = ins.text(doc.text) if ins.index < instr.index else doc.text[ins.start : at]
        if re.search(r"pip3?\s+config\s+set|pip\.conf|pip\.ini|uv\.toml", text):
            if S.TORCH_CPU_INDEX_RE.search(text):
                return True, ""
            return (
                False,
                f"the RUN on line {ins.start_line} writes the installer's configuration, which slimml cannot read",
            )
    return False, ""
