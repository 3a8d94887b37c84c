"""The environment and config files that configure one installer command.

``inputs(tool, ...)`` lists what an install reads besides its command line: files named by
environment variables (``PIP_CONSTRAINT``, ``PIP_CONFIG_FILE``, ``UV_CONFIG_FILE``, ...), config
files at the places the tool looks by default (pip.conf, uv.toml / pyproject.toml ``[tool.uv]``
from the working directory up, poetry.toml, pdm.toml, .condarc), and the files and link directories
*those* name (``find-links``, ``constraint``). A value a build arg can change, or a config file an
earlier RUN wrote, cannot be read: it is reported as unknown.

Paths are absolute, in the image. ``read(path)`` gives a file's text as the install would see it
(None when it does not exist or cannot be read).
"""

from __future__ import annotations

import configparser
import posixpath
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..dockerfile import Document, Instruction
from ..dockerfile.shell import Command
from ..knowledge import installer_config as K
from . import build as B

Reader = Callable[[str], "str | None"]


@dataclass
class Inputs:
    files: list[str] = field(default_factory=list)  # read when they exist (config, constraints)
    links: list[str] = field(default_factory=list)  # local find-links / index paths
    writes: list[str] = field(default_factory=list)  # where the environment makes it write
    path_dirs: list[str] = field(default_factory=list)  # directories on its interpreter's sys.path
    unknown: list[str] = field(default_factory=list)  # why something read cannot be established

    def add_file(self, p: str) -> None:
        if p not in self.files:
            self.files.append(p)

    def add_link(self, p: str) -> None:
        if p not in self.links:
            self.links.append(p)


def command_env(doc: Document, instr: Instruction, cmd: Command) -> dict[str, B.Var]:
    """The variables ``cmd`` runs with: the build state, ``export K=V`` earlier in its script, and
    its own ``K=V`` prefix."""
    st = B.state_before(doc, instr)
    env: dict[str, B.Var] = dict(st.env) if st is not None else {}
    script = cmd.script
    for n in script.nodes("declaration_command", "variable_assignment"):
        if script.file_span(n)[0] >= cmd.start:
            break
        if n.type == "variable_assignment" and (n.parent is None or n.parent.type not in ("program", "list")):
            continue  # a prefix of one command (its own env), or part of an `export` handled below
        assigns = (
            [n] if n.type == "variable_assignment" else [c for c in n.named_children if c.type == "variable_assignment"]
        )
        for a in assigns:
            k, _, v = script.node_text(a).partition("=")
            if k.isidentifier():
                e = B.expand(v, env, doc.escape)
                env[k] = B.Var(e.value, "env", e.certain and "$(" not in v and "`" not in v)
    for k, v in cmd.assignments.items():
        e = B.expand(v, env, doc.escape)
        env[k] = B.Var(e.value, "env", e.certain and "$(" not in v and "`" not in v)
    return env


def _abs(p: str, cwd: str, home: str) -> str:
    if p.startswith("~"):
        p = home + p[1:]
    if p.startswith("file://"):
        p = p[len("file://") :]
    elif p.startswith("file:"):
        p = p[len("file:") :]
    return posixpath.normpath(posixpath.join(cwd, p))


def _local(value: str) -> bool:
    v = value.strip()
    return bool(v) and ("://" not in v or v.startswith("file:"))


def _var_paths(env: Mapping[str, B.Var], names, cwd: str, home: str, out: Inputs, links: bool) -> None:
    for name in names:
        v = env.get(name)
        if v is None:
            continue
        if not v.certain:
            out.unknown.append(f"{name} comes from a build argument (its value is not known here)")
            continue
        for part in v.value.split():
            if not _local(part):
                continue
            p = _abs(part, cwd, home)
            out.add_link(p) if links else out.add_file(p)


def _config_values(text: str, path: str) -> dict[str, list[str]] | None:
    """key -> values of a pip config file (INI), or of uv.toml / pyproject.toml [tool.uv] (TOML)."""
    if path.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, ValueError):
            return None
        table = data if path.endswith("uv.toml") else ((data.get("tool") or {}).get("uv") or {})
        if not isinstance(table, dict):
            return {}
        out: dict[str, list[str]] = {}
        for t in (table, table.get("pip") if isinstance(table.get("pip"), dict) else {}):
            for k, v in t.items():
                vals = v if isinstance(v, list) else [v]
                for item in vals:
                    if isinstance(item, str):
                        out.setdefault(k, []).append(item)
                    elif isinstance(item, dict) and isinstance(item.get("url"), str):
                        out.setdefault(k, []).append(item["url"])
        return out
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cp.read_string(text)
    except configparser.Error:
        return None
    out = {}
    for sec in K.PIP_CONFIG_SECTIONS:
        if cp.has_section(sec):
            for k, v in cp.items(sec):
                out.setdefault(k.replace("_", "-"), []).extend(v.split())
    return out


def _read_config(
    path: str, read: Reader, cwd: str, home: str, out: Inputs, file_keys, link_keys, index_keys=frozenset()
) -> None:
    text = read(path)
    if text is None:
        return
    values = _config_values(text, path)
    if values is None:
        out.unknown.append(f"`{path}` could not be parsed")
        return
    for k, vals in values.items():
        for v in vals:
            if not _local(v) or "$" in v:
                if "$" in v and (k in file_keys or k in link_keys):
                    out.unknown.append(f"`{k}` in `{path}` uses a variable")
                continue
            if k in file_keys:
                out.add_file(_abs(v, cwd, home))
            elif k in link_keys or (k in index_keys and (v.startswith(("file:", "/", ".")))):
                out.add_link(_abs(v, cwd, home))


def _has_uv_table(text: str) -> bool:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return "[tool.uv" in text  # unreadable: assume it may configure uv
    return isinstance(data.get("tool"), dict) and "uv" in data["tool"]


def _truthy(env: Mapping[str, B.Var], name: str) -> bool:
    v = env.get(name)
    return v is not None and v.value.strip().lower() in ("1", "true", "yes", "on")


def inputs(
    tool: str,
    env: Mapping[str, B.Var],
    cwd: str,
    home: str,
    read: Reader,
    project_dir: str | None = None,
    stop_at: str = "/",
) -> Inputs:
    """What ``tool`` (pip, uv, uv-project, poetry, pdm, pipenv, conda) reads besides its arguments.

    ``stop_at``: uv's upward search for project config is followed only this far (above it, the
    sources cannot have put anything). (``python -m pip`` removes the working directory from
    sys.path before it imports anything, so only PYTHONPATH can put the sources there.)"""
    out = Inputs()
    project_dir = project_dir or cwd
    xdg_home = env.get(K.XDG_HOME_VAR)
    xdg_dirs = env.get(K.XDG_DIRS_VAR)
    for v, name in ((xdg_home, K.XDG_HOME_VAR), (xdg_dirs, K.XDG_DIRS_VAR)):
        if v is not None and not v.certain:
            out.unknown.append(f"{name} comes from a build argument")

    def paths(template: str) -> list[str]:
        """A config location with the XDG base directories (and ~) filled in."""
        homes = [_abs(xdg_home.value, cwd, home)] if xdg_home is not None and xdg_home.value else [f"{home}/.config"]
        dirs = [
            d for d in (xdg_dirs.value.split(":") if xdg_dirs is not None and xdg_dirs.value else ["/etc/xdg"]) if d
        ]
        out_: list[str] = []
        for h in homes:
            for d in dirs:
                p = template.format(home=home, xdg_home=h, xdg_dir=d, prefix="{prefix}")
                if p not in out_:
                    out_.append(p)
        return out_

    # What every installer reads: credentials and CA bundles, and (Python-based ones) sys.path.
    netrc = env.get(K.NETRC_VAR)
    if netrc is not None and not netrc.certain:
        out.unknown.append(f"{K.NETRC_VAR} comes from a build argument")
    out.add_file(_abs(netrc.value, cwd, home) if netrc is not None and netrc.value else K.NETRC_FILE.format(home=home))
    _var_paths(env, K.TLS_FILE_VARS, cwd, home, out, links=False)
    if tool in K.PYTHON_INSTALLERS:
        pp = env.get("PYTHONPATH")
        if pp is not None:
            if not pp.certain:
                out.unknown.append("PYTHONPATH comes from a build argument")
            out.path_dirs.extend(_abs(d, cwd, home) for d in pp.value.split(":") if d)
    if tool == "pip":
        cfg = env.get(K.PIP_CONFIG_FILE_VAR)
        configs: list[str] = []
        if cfg is not None and not cfg.certain:
            out.unknown.append(f"{K.PIP_CONFIG_FILE_VAR} comes from a build argument")
        elif cfg is not None and cfg.value.strip() in ("/dev/null", "os.devnull"):
            configs = []
        else:
            prefixes = [env["VIRTUAL_ENV"].value] if env.get("VIRTUAL_ENV") else ["/usr/local", "/usr"]
            for t in K.PIP_CONFIG_FILES:
                for p in paths(t):
                    for prefix in prefixes if "{prefix}" in p else [""]:
                        configs.append(p.format(prefix=prefix))
            if cfg is not None and cfg.value.strip():
                configs.append(_abs(cfg.value.strip(), cwd, home))
        for c in configs:
            out.add_file(c)
            _read_config(c, read, cwd, home, out, K.PIP_CONFIG_FILE_KEYS, K.PIP_CONFIG_LINK_KEYS)
        _var_paths(env, K.PIP_FILE_VARS, cwd, home, out, links=False)
        _var_paths(env, K.PIP_LINK_VARS, cwd, home, out, links=True)
        for name in K.PIP_WRITE_VARS:
            v = env.get(name)
            if v is not None and v.value.strip():
                if not v.certain:
                    out.unknown.append(f"{name} comes from a build argument")
                else:
                    out.writes.append(_abs(v.value.strip(), cwd, home))
    elif tool in ("uv", "uv-project"):
        _var_paths(env, K.UV_FILE_VARS, cwd, home, out, links=False)
        _var_paths(env, K.UV_LINK_VARS, cwd, home, out, links=True)
        if _truthy(env, K.UV_NO_CONFIG_VAR):
            return out
        cfg = env.get(K.UV_CONFIG_FILE_VAR)
        if cfg is not None:
            if not cfg.certain:
                out.unknown.append(f"{K.UV_CONFIG_FILE_VAR} comes from a build argument")
                return out
            path = _abs(cfg.value.strip(), cwd, home)
            out.add_file(path)
            _read_config(
                path,
                read,
                cwd,
                home,
                out,
                K.UV_CONFIG_FILE_KEYS,
                K.UV_CONFIG_LINK_KEYS,
                frozenset({"index-url", "extra-index-url", "index"}),
            )
            return out
        d = project_dir
        while True:
            for name in K.UV_PROJECT_CONFIG:
                p = posixpath.join(d, name)
                text = read(p)
                if name == "pyproject.toml" and (text is None or not _has_uv_table(text)):
                    continue  # uv reads a pyproject.toml only for its [tool.uv] table
                out.add_file(p)
                _read_config(
                    p,
                    read,
                    d,
                    home,
                    out,
                    K.UV_CONFIG_FILE_KEYS,
                    K.UV_CONFIG_LINK_KEYS,
                    frozenset({"index-url", "extra-index-url", "index"}),
                )
            if d == "/" or d == stop_at or not d.startswith(stop_at.rstrip("/") + "/"):
                break
            d = posixpath.dirname(d)
        for path in (p for t in K.UV_USER_CONFIG + K.UV_SYSTEM_CONFIG for p in paths(t)):
            out.add_file(path)
            _read_config(
                path,
                read,
                cwd,
                home,
                out,
                K.UV_CONFIG_FILE_KEYS,
                K.UV_CONFIG_LINK_KEYS,
                frozenset({"index-url", "extra-index-url", "index"}),
            )
    elif tool == "poetry":
        out.add_file(posixpath.join(project_dir, K.POETRY_LOCAL_CONFIG))
        v = env.get(K.POETRY_CONFIG_DIR_VAR)
        if v is not None:
            if not v.certain:
                out.unknown.append(f"{K.POETRY_CONFIG_DIR_VAR} comes from a build argument")
            else:
                for name in ("config.toml", "auth.toml"):
                    out.add_file(_abs(posixpath.join(v.value, name), cwd, home))
    elif tool == "pdm":
        for name in K.PDM_LOCAL_CONFIG:
            out.add_file(posixpath.join(project_dir, name))
    elif tool == "pipenv":
        _var_paths(env, K.PIPENV_FILE_VARS, cwd, home, out, links=False)
    elif tool == "conda":
        _var_paths(env, K.CONDA_FILE_VARS, cwd, home, out, links=False)
        for t in K.CONDA_CONFIG_FILES:
            for p in paths(t):
                out.add_file(p)
    return out
