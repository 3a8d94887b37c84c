"""Configuration: ``.slimml.toml`` (top-level keys) or ``[tool.slimml]`` in the nearest pyproject.toml.

    [tool.slimml]
    select = ["SLM0"]            # codes, prefixes or rule names; default: all
    ignore = ["merge-runs"]
    unsafe-fixes = false
    cache-mounts = false         # shorthand for [tool.slimml.rules.SLM001] cache-mounts
    resolve = false              # shorthand for [tool.slimml.rules.SLM012] resolve (needs the package index)
    [tool.slimml.rules.SLM001]   # per-rule options, by code or name
    cache-mounts = true

The nearest file wins (searched from the Dockerfile's folder upwards); in one folder
``.slimml.toml`` wins over ``pyproject.toml``. Command-line options override it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = {"select", "ignore", "unsafe-fixes", "cache-mounts", "resolve", "rules"}


class ConfigError(Exception):
    pass


@dataclass
class FileConfig:
    path: Path | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def _load(path: Path, table: dict[str, Any]) -> FileConfig:
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown slimml setting(s): {', '.join(sorted(unknown))}")

    def codes(key: str) -> tuple[str, ...]:
        v = table.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{path}: '{key}' must be a list of rule codes")
        return tuple(v)

    uf = table.get("unsafe-fixes")
    if uf is not None and not isinstance(uf, bool):
        raise ConfigError(f"{path}: 'unsafe-fixes' must be true or false")
    rules = table.get("rules", {})
    if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
        raise ConfigError(f"{path}: [rules] must hold one table per rule")
    _check_codes(path, codes("select"), codes("ignore"), tuple(rules))
    _check_rule_options(path, rules)
    opts = {k: dict(v) for k, v in rules.items()}
    if "cache-mounts" in table:
        opts.setdefault("SLM001", {})["cache-mounts"] = bool(table["cache-mounts"])
    if "resolve" in table:
        if not isinstance(table["resolve"], bool):
            raise ConfigError(f"{path}: 'resolve' must be true or false")
        opts.setdefault("SLM012", {})["resolve"] = table["resolve"]
    return FileConfig(path, codes("select"), codes("ignore"), uf, opts)


def _check_codes(path: Path, select: tuple[str, ...], ignore: tuple[str, ...], rule_keys: tuple[str, ...]) -> None:
    """A typo in a config's codes is the error the command line gives for it, naming the file (and the key)."""
    from .rules import get_rule, unknown_codes

    for key, specs in (("select", select), ("ignore", ignore)):
        bad = unknown_codes(specs)
        if bad:
            raise ConfigError(f"{path}: unknown rule code(s) in '{key}': {', '.join(bad)} (see `slimml rules`)")
    bad = [k for k in rule_keys if get_rule(k) is None]
    if bad:
        raise ConfigError(f"{path}: unknown rule(s) in [rules]: {', '.join(bad)} (see `slimml rules`)")


def _check_rule_options(path: Path, rules: dict[str, dict[str, Any]]) -> None:
    """An option a rule does not have, or a switch that is not true or false, is an error naming the file and
    the key (a typo such as `resolv = true` would otherwise be ignored without a word)."""
    from .rules import get_rule

    for key, table in rules.items():
        rule = get_rule(key)
        options = getattr(rule, "OPTIONS", {}) or {}
        for name, value in table.items():
            if name not in options:
                known = ", ".join(sorted(options)) or "none"
                raise ConfigError(f"{path}: [rules.{key}] has no option '{name}' (options of {rule.CODE}: {known})")
            # Switches are checked here; a rule checks its other options' values itself, with what they mean
            # ("min-bytes must be a whole number of bytes", "cpu-index-url must be an index URL").
            if isinstance(options[name][0], bool) and not isinstance(value, bool):
                raise ConfigError(f"{path}: [rules.{key}] '{name}' must be true or false")


def load_file(path: Path) -> FileConfig | None:
    """Config from one file; None when a pyproject.toml has no [tool.slimml] table."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("slimml")
        if table is None:
            return None
        return _load(path, table)
    return _load(path, data)


def find_config(start: Path) -> FileConfig:
    """The config nearest to ``start`` (a Dockerfile, which need not exist -- stdin's --stdin-filename --
    or a folder); a symlinked Dockerfile's own folder is searched, not its target's."""
    d = start.absolute()
    d = (d if d.is_dir() else d.parent).resolve()
    for folder in (d, *d.parents):
        for name in (".slimml.toml", "pyproject.toml"):
            p = folder / name
            if p.is_file():
                cfg = load_file(p)
                if cfg is not None:
                    return cfg
    return FileConfig()
