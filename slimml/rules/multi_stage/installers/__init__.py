"""One strategy per installer: where it puts the Python environment and how the split carries it into the runtime
stage.

Two shapes of plan (``Env``):
- the planner's own virtualenv (``/opt/venv``, made before the first install): pip, ``uv pip``, poetry, pipenv;
- an environment the file makes itself, copied to the same path: a virtualenv (``venv.py``), a uv or pdm project
  environment (``uv.py``, ``pdm.py``), a conda prefix (``conda.py``).

Each module reads its tool's commands (``read``, called by the RUN reader) into ``Use`` records; ``plan`` here
decides the shape from all of them and checks that every install lands in the environment that is copied."""

from __future__ import annotations

import re

from ... import _helpers as H
from ..common import VENV, VENV_PATH_VALUE, NoFix
from . import conda, pdm, pipenv, poetry, uv
from .base import Env, Use
from .common import prefix_of

__all__ = ["Env", "Use", "read", "plan", "INSTALLER_TOOLS"]

_READERS = {
    "uv": uv.read,
    "poetry": poetry.read,
    "pipenv": pipenv.read,
    "pdm": pdm.read,
    "conda": conda.read,
    "mamba": conda.read,
    "micromamba": conda.read,
}
INSTALLER_TOOLS = frozenset({"uv", "uvx", "poetry", "pipenv", "pdm", "conda", "mamba", "micromamba"})
# Packages that are installers, not the app's: pip-installed outside the copied environment, nothing the app
# imports is lost (the runtime check below covers a runtime stage that runs them).
TOOL_PACKAGES = frozenset(
    {
        "pip",
        "setuptools",
        "wheel",
        "uv",
        "poetry",
        "pipenv",
        "pdm",
        "virtualenv",
        "poetry-plugin-export",
        "pip-tools",
        "conda-lock",
        "hatch",
        "build",
    }
)
# The base's interpreter, by absolute path, that a virtualenv made from it stands in for (same Python).
BASE_BIN_DIRS = frozenset({"/usr/local/bin", "/usr/bin", "/bin"})
BASE_INTERPRETERS = frozenset({"python", "python3", "pip", "pip3"})
_STD_BIN = frozenset({"/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"})


def read(reader, prog: str, words) -> bool:
    """Read an installer command of a RUN; False when ``prog`` is not one of the installers here."""
    fn = _READERS.get(prog)
    if fn is None:
        return False
    fn(reader, words)
    return True


def _uses(p) -> list[Use]:
    return [u for info in sorted(p.infos.values(), key=lambda i: i.ins.index) for u in info.uses]


def _env_at(p, index: int) -> dict[str, str]:
    """ENV/ARG values the install RUN at ``index`` sees (every Use comes from a RUN the planner read)."""
    return H.stage_env(p.doc, p.infos[index].ins)


def base_interpreter(path: str) -> bool:
    """The base's own interpreter or pip by absolute path, which a virtualenv made from it stands in for."""
    d, _, b = path.rpartition("/")
    return d in BASE_BIN_DIRS and b in BASE_INTERPRETERS


def _on_path(env: dict[str, str], paths: list[str]) -> str | None:
    """The environment whose ``bin`` comes first on PATH: one of ``paths``, "system", or None (unknown)."""
    value = env.get("PATH")
    if value is None:
        return "system"
    for entry in value.split(":"):
        entry = H.norm_path(entry) if entry.startswith("/") else entry
        for q in paths:
            if entry == H.join_path(q, "bin"):
                return q
        if entry in _STD_BIN or "PATH" in entry:
            return "system"
        if entry:
            return None
    return "system"


def plan(p, base) -> Env:
    uses = _uses(p)
    made = [u for u in uses if u.tool == "venv"]
    projects = [u for u in uses if u.tool in ("uv-sync", "pdm")]
    condas = [u for u in uses if u.tool == "conda"]
    if condas:
        env = _conda(p, base, uses, condas)
    elif made or projects:
        env = _copy(p, uses, made, projects)
    else:
        env = _venv(p, uses)
    return env


# -- the planner's virtualenv --------------------------------------------------------------------------------------
def _venv(p, uses: list[Use]) -> Env:
    env = Env("pip", [VENV], True, [("PATH", VENV_PATH_VALUE)])
    for u in uses:
        if u.tool == "pip":
            spelled = u.detail.get("spelled", "")
            if spelled.startswith("/") and prefix_of(spelled) != VENV:
                # the base's own interpreter by absolute path: the virtualenv's (made from it) installs the same way
                if not base_interpreter(spelled):
                    raise NoFix(f"`{spelled}` is an absolute path outside the virtualenv")
                a, e = (int(x) for x in u.detail["span"].split(","))
                env.splice(u.ins_index, a, e, f"{VENV}/bin/{spelled.rsplit('/', 1)[-1]}")
            env.tools.update(u.names)
        elif u.tool == "uv-pip":
            env.kind = "uv"
            if u.flags & {"--python", "-p"}:
                raise NoFix(f"`uv pip {u.sub} --python` at line {u.line} chooses its own interpreter")
            w = u.words[int(u.detail["after_sub"])]
            env.splice(u.ins_index, w.end, w.end, f" --python {VENV}/bin/python")
        elif u.tool in ("poetry", "pipenv"):
            env.kind = u.tool
            e = _env_at(p, u.ins_index)
            if u.tool == "pipenv" and H.env_truthy(e, "PIPENV_IGNORE_VIRTUALENVS"):
                raise NoFix("PIPENV_IGNORE_VIRTUALENVS makes pipenv ignore the virtualenv")
            if ("VIRTUAL_ENV", VENV) not in env.env_lines:
                env.env_lines.append(("VIRTUAL_ENV", VENV))
        elif u.tool == "activate":
            raise NoFix(f"the RUN at line {u.line} activates a virtualenv the file does not make")
    if env.kind == "uv":
        env.desc.append(f"`uv pip` installs into {VENV} (`--python {VENV}/bin/python`)")
    if any(k == "VIRTUAL_ENV" for k, _ in env.env_lines):
        env.desc.append(f"{env.kind} installs into {VENV} (VIRTUAL_ENV)")
    return env


# -- an environment the file makes itself -----------------------------------------------------------------------------
def _project_env(p, u: Use) -> str:
    e = _env_at(p, u.ins_index)
    if u.tool == "uv-sync":
        if u.detail.get("active"):
            venv = e.get("VIRTUAL_ENV")
            if not venv or not venv.startswith("/") or "$" in venv:
                raise NoFix("`uv sync --active` installs into a VIRTUAL_ENV that cannot be told")
            return H.norm_path(venv)
        pe = e.get("UV_PROJECT_ENVIRONMENT")
        if pe is not None:
            if "$" in pe or pe.startswith("~"):
                raise NoFix("UV_PROJECT_ENVIRONMENT cannot be told")
            return H.join_path(u.path, pe)
        _uv_python_is_the_base(p, u, e)
    return H.join_path(u.path, ".venv")


def _uv_python_is_the_base(p, u: Use, e: dict[str, str]) -> None:
    """uv downloads a Python when none it finds fits the project; a copied environment would then point into uv's
    own directory. Proven not to happen, or refused."""
    if (
        e.get("UV_PYTHON_DOWNLOADS", "").lower() in ("never", "manual")
        or e.get("UV_PYTHON_PREFERENCE", "").lower() == "only-system"
    ):
        return
    if any(x.tool == "uv-python" for x in _uses(p)):
        raise NoFix("`uv python install`: the environment would use a Python the runtime stage does not have")
    have = _base_python(p)
    if have is None:
        raise NoFix(
            "`uv sync` may download its own Python (the base's Python version cannot be told; set "
            "UV_PYTHON_DOWNLOADS=never to split)"
        )
    want = u.detail.get("python") or e.get("UV_PYTHON") or _read(p, u.ins_index, H.join_path(u.path, ".python-version"))
    if want is not None:
        want = want.strip().splitlines()[0].strip() if want.strip() else ""
        if want and not (want == have or want.startswith(have + ".") or want in ("python3", "python", "3")):
            raise NoFix(
                f"`uv sync` wants Python {want} and the base has {have}: uv would download one the runtime "
                "stage does not have"
            )
    req = _requires_python(_read(p, u.ins_index, H.join_path(u.path, "pyproject.toml")))
    if req is not None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            ok = SpecifierSet(req).contains(have + ".0", prereleases=True) or SpecifierSet(req).contains(
                have + ".99", prereleases=True
            )
        except InvalidSpecifier:
            ok = False
        if not ok:
            raise NoFix(f"the project requires Python {req} and the base has {have}: uv would download one")


def _base_python(p) -> str | None:
    from ....knowledge import images as IMG
    from ....knowledge import tool_images as TI

    img = IMG.parse_image(p.expand(p.stage.image))
    version = TI.python_version(img.normalized, img.tag)
    if version:
        return version
    if IMG.family(img) == "python":
        pt = IMG.python_tag(img.tag)
        if pt is not None and pt.version and pt.version.count(".") >= 1:
            return ".".join(pt.version.split(".")[:2])
    apt = [n for i in p.infos.values() for n in i.apt_names if re.match(r"^python3\.\d+$", n)]
    return apt[0][len("python") :] if len(set(apt)) == 1 else None


def _read(p, index: int, path: str | None) -> str | None:
    """The text of the file at ``path`` as the instruction ``index`` sees it, when a COPY brought it from the build
    context (or a heredoc); None otherwise."""
    if path is None:
        return None
    from ....semantics import files as F

    o = F.origin(p.doc, p.ctx, p.infos[index].ins, path)
    return o.text if o.kind in ("context", "heredoc") else None


def _requires_python(text: str | None) -> str | None:
    if not text:
        return None
    m = re.search(r"(?m)^requires-python\s*=\s*[\"']([^\"']+)[\"']", text)
    return m.group(1) if m else None


def _target(p, u: Use, paths: list[str]) -> str | None:
    """Where ``u`` installs: one of ``paths``, "system", or None when it cannot be told."""
    e = _env_at(p, u.ins_index)
    if u.tool == "pip":
        spelled = u.detail.get("spelled", "")
        if spelled.startswith("/"):
            pre = prefix_of(spelled)
            return pre if pre in paths else "system"
        return u.path or _on_path(e, paths)
    if u.tool == "uv-pip":
        py = u.detail.get("python")
        if py and py.startswith("/"):
            pre = prefix_of(py)
            return pre if pre in paths else "system"
        if "--system" in u.flags or H.env_truthy(e, "UV_SYSTEM_PYTHON"):
            return "system"
        venv = u.path or e.get("VIRTUAL_ENV")
        if venv:
            return H.norm_path(venv) if H.norm_path(venv) in paths else None
        d = u.cwd
        while d:
            if H.join_path(d, ".venv") in paths:
                return H.join_path(d, ".venv")
            d = None if d == "/" else (d.rsplit("/", 1)[0] or "/")
        return None
    if u.tool in ("poetry", "pipenv"):
        if u.tool == "pipenv" and "--system" in u.flags:
            return _on_path(e, paths)
        venv = u.path or e.get("VIRTUAL_ENV")
        return H.norm_path(venv) if venv and H.norm_path(venv) in paths else None
    return None


def _tooling(u: Use) -> bool:
    """A pip install of installers only, or of an installer with pins for its own dependencies
    (``pip install -U pdm==2.29.4 "hishel<2"``): build tooling, not the app's packages."""
    names = {re.split(r"[<>=!~;\[ ]", n, maxsplit=1)[0].lower() for n in u.names}
    return bool(names) and (names <= TOOL_PACKAGES or bool(names & (INSTALLER_TOOLS | {"pipx"})))


def _copy(p, uses: list[Use], made: list[Use], projects: list[Use]) -> Env:
    paths: list[str] = []
    for u in made:
        if u.path not in paths:
            paths.append(u.path)
    for u in projects:
        q = _project_env(p, u)
        if q not in paths:
            paths.append(q)
    kind = "venv" if made else projects[0].tool.split("-")[0]
    env = Env(kind, paths, False)
    last = max(u.ins_index for u in made + projects)
    for u in uses:
        if u.tool in ("pip", "uv-pip", "poetry", "pipenv"):
            where = _target(p, u, paths)
            if where in paths:
                if u.tool == "pip":
                    env.tools.update(u.names)
                last = max(last, u.ins_index)
                continue
            what = {"pip": "pip install", "uv-pip": f"uv pip {u.sub}"}.get(u.tool, f"{u.tool} {u.sub}")
            if where == "system" and u.tool in ("pip", "uv-pip") and _tooling(u):
                continue  # an installer for the build; the runtime check covers a runtime stage that runs it
            if where is None:
                raise NoFix(f"where the `{what}` at line {u.line} installs cannot be told (not in {paths[0]})")
            raise NoFix(
                f"the `{what}` at line {u.line} installs into the base's Python, not {paths[0]}: its packages "
                "would stay in the builder"
            )
        if u.tool == "activate" and u.path not in paths:
            raise NoFix(f"the RUN at line {u.line} activates a virtualenv the file does not make")
    # The runtime copy follows any COPY into the environment's directory that came before the last install into it:
    # that install saw (and repaired) what the COPY brought, e.g. a developer's .venv in the context.
    env.after = _after(p, paths, last)
    env.desc.append(
        ("the virtualenv " if made else "the project environment ") + ", ".join(paths) + " is copied from the builder"
    )
    return env


def _after(p, paths: list[str], before: int) -> int | None:
    from ..programs import copy_operands

    last = None
    for c in p.instrs:
        if c.keyword not in ("COPY", "ADD") or c.index >= before or c.flag("from") is not None:
            continue
        ops = copy_operands(c)
        if not ops or len(ops) < 2:
            continue
        dest = H.join_path(H.workdir_at(p.doc, c), ops[-1]) if not ops[-1].startswith("$") else None
        if dest is None or any(H.path_under(q, dest) for q in paths):
            last = c.index
    return last


# -- conda -------------------------------------------------------------------------------------------------------
def _conda(p, base, uses: list[Use], condas: list[Use]) -> Env:
    root = None
    e = _env_at(p, condas[0].ins_index)
    for k in ("CONDA_DIR", "MAMBA_ROOT_PREFIX", "CONDA_ROOT"):
        v = e.get(k)
        if v and v.startswith("/") and "$" not in v:
            root = H.norm_path(v)
            break
    if root is None:
        image = p.expand(p.stage.image).lower()
        root = next((r for pre, r in conda.ROOT_BY_IMAGE if image.startswith(pre)), None)
    paths: list[str] = []
    for u in condas:
        prefix = u.path
        if prefix is None:
            name = u.detail.get("name")
            if name is None and u.detail.get("file"):
                name = conda.env_name_from_file(_read(p, u.ins_index, u.detail["file"]) or "")
            if name is None or name == "base":
                raise NoFix(
                    f"the `{u.detail.get('tool', 'conda')} {u.sub}` at line {u.line} installs into conda's "
                    "base environment, which is part of the base image (copying it would store it twice)"
                )
            if root is None:
                raise NoFix(f"where conda keeps its environments in {p.stage.image} cannot be told")
            prefix = H.join_path(root, f"envs/{name}")
        if prefix not in paths:
            paths.append(prefix)
    if not base.same:
        raise NoFix(f"a conda environment on {p.stage.image}, whose smaller variant may not have conda")
    env = Env("conda", paths, False)
    for u in uses:
        if u.tool in ("pip", "uv-pip", "poetry", "pipenv"):
            ce = u.detail.get("conda_env")  # run under SHELL ["conda", "run", "-n", ce, ...]
            if not ce:
                where = _target(p, u, paths)
            elif ce.startswith("/"):
                where = ce
            else:
                where = H.join_path(root, f"envs/{ce}") if root else None
            if where in paths or (where == "system" and _tooling(u)):
                continue
            raise NoFix(f"the install at line {u.line} does not install into the conda environment {paths[0]}")
    env.gain = _conda_cache_left(uses, condas)
    env.desc.append(f"the conda environment {', '.join(paths)} is copied from the builder")
    return env


def _conda_cache_left(uses: list[Use], condas: list[Use]) -> str:
    """conda's package cache, when a RUN of ``condas`` leaves it (no ``conda clean`` in the same RUN)."""
    cleaned = {u.ins_index for u in uses if u.tool == "conda-clean"}
    return "conda's package cache" if any(u.ins_index not in cleaned for u in condas) else ""


def gain(p) -> str:
    """What a split leaves behind besides build-only packages and the base (before planning: a quick look at the
    environments created)."""
    uses = _uses(p)
    return _conda_cache_left(uses, [u for u in uses if u.tool == "conda" and u.sub in ("create", "env create")])


def runtime_tools(env: Env, used: set[str], kept_copies, runtime_image: str = "", kept_runs=()) -> None:
    """A runtime stage that runs an installer needs it there: in the copied environment, copied by a COPY the
    runtime stage keeps, or in the runtime stage's base image (conda's, uv's)."""
    from ....knowledge import images as IMG
    from ....knowledge import tool_images as TI
    from ..programs import copy_operands

    provided = set(TI.TOOLS.get(IMG.parse_image(runtime_image).normalized, ())) if runtime_image else set()
    for c in kept_copies:
        for s in (copy_operands(c) or [])[:-1]:
            provided.add(s.rstrip("/").rsplit("/", 1)[-1])
    # A RUN the runtime stage keeps as it is (an installer script, `pipx install`) that names the tool: it makes the
    # tool there as it did in the original.
    for _ins, text in kept_runs:
        provided |= {t for t in INSTALLER_TOOLS if re.search(r"(?<![\w.-])" + t + r"(?![\w-])", text)}
    for t in sorted(used & INSTALLER_TOOLS):
        if t in env.tools or t in provided or (env.kind == "conda" and t in ("conda", "mamba", "micromamba")):
            continue
        raise NoFix(f"the runtime stage runs `{t}`, which the builder installs outside the environment it copies")


def tool_install_runs(p, used: set[str]) -> list[int]:
    """RUNs that only pip-install, into the base's Python, an installer the runtime stage runs (`pdm run`): the
    runtime stage runs them too, so the tool is there as it was in the original."""
    out = []
    for info in p.infos.values():
        if info.kind != "build" or len(info.uses) != 1 or info.others or info.apt or info.writes or info.scratch:
            continue
        u = info.uses[0]
        if (
            u.tool == "pip"
            and u.sub == "install"
            and _tooling(u)
            and set(u.names) & used & INSTALLER_TOOLS
            and not u.detail.get("spelled", "").startswith("/")
            and set(info.programs) <= {"pip", "pip3", "python", "python3"}
        ):
            out.append(info.ins.index)
    return out
