"""Workspace configuration: the editor's settings (``initializationOptions`` / ``workspace/didChangeConfiguration``)
on top of the nearest ``.slimml.toml`` / ``[tool.slimml]``, which is found exactly as ``slimml fix`` finds it
(``slimml.config``), read again for every analysis so an edited config applies at the next diagnostics.

Editor settings (all optional), under a ``slimml`` key or at the top level::

    {"select": ["SLM0"], "ignore": ["SLM003"], "cacheMounts": false, "config": "path/to/.slimml.toml",
     "debounceMs": 10, "docsUrl": "https://example.org/rules/"}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import FileConfig, find_config, load_file
from ..runner import Options

# Files whose change can change any open Dockerfile's diagnostics (configs; .dockerignore for SLM006).
WATCHED_GLOBS = ("**/.slimml.toml", "**/pyproject.toml", "**/.dockerignore")
CONFIG_NAMES = (".slimml.toml", "pyproject.toml")
DEFAULT_DEBOUNCE_MS = 10


@dataclass(frozen=True)
class ClientSettings:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    cache_mounts: bool | None = None
    config: Path | None = None
    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    docs_url: str | None = None

    def options(self) -> Options:
        return Options(select=self.select, ignore=self.ignore, cache_mounts=self.cache_mounts, config=self.config)


def _codes(value: Any, key: str, errors: list[str]) -> tuple[str, ...]:
    from ..rules import unknown_codes

    if value is None:
        return ()
    if isinstance(value, str):
        value = [c for c in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        errors.append(f"slimml.{key} must be a list of rule codes")
        return ()
    codes = tuple(c.strip() for c in value if c.strip())
    bad = unknown_codes(codes)
    if bad:
        errors.append(f"slimml.{key}: unknown rule code(s): {', '.join(bad)} (see `slimml rules`)")
        return tuple(c for c in codes if c not in bad)
    return codes


def parse_settings(data: Any) -> tuple[ClientSettings, list[str]]:
    """Editor settings and the problems found in them (bad values are dropped, not fatal)."""
    if isinstance(data, dict) and isinstance(data.get("slimml"), dict):
        data = data["slimml"]
    if not isinstance(data, dict):
        return ClientSettings(), []
    errors: list[str] = []
    cm = data.get("cacheMounts")
    if cm is not None and not isinstance(cm, bool):
        errors.append("slimml.cacheMounts must be true or false")
        cm = None
    cfg = data.get("config")
    if cfg is not None and not isinstance(cfg, str):
        errors.append("slimml.config must be a path")
        cfg = None
    deb = data.get("debounceMs", DEFAULT_DEBOUNCE_MS)
    if not isinstance(deb, int) or isinstance(deb, bool) or not 0 <= deb <= 5000:
        errors.append("slimml.debounceMs must be a number of milliseconds (0-5000)")
        deb = DEFAULT_DEBOUNCE_MS
    url = data.get("docsUrl")
    return ClientSettings(
        select=_codes(data.get("select"), "select", errors),
        ignore=_codes(data.get("ignore"), "ignore", errors),
        cache_mounts=cm,
        config=Path(cfg).expanduser() if cfg else None,
        debounce_ms=deb,
        docs_url=url if isinstance(url, str) and url else None,
    ), errors


def file_config(path: Path | None, opts: Options) -> FileConfig:
    """The config ``slimml fix`` would use for ``path`` (raises ConfigError, as it does)."""
    if opts.config:
        return load_file(opts.config) or FileConfig()
    return find_config(path) if path is not None else FileConfig()


def is_config_file(path: str) -> bool:
    return Path(path).name in CONFIG_NAMES
