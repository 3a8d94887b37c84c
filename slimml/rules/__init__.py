"""Rule registry. One module per rule; each defines CODE, NAME, SUMMARY, a docstring with
*What it does / Why / Example / Use instead*, optional OPTIONS, and ``check(doc, ctx)``."""

from __future__ import annotations

import importlib
from functools import lru_cache
from types import ModuleType

from ..context import Settings

# Order is the order of the docs; codes are stable and never reused.
RULE_MODULES = (
    "pip_cache",
    "apt_hygiene",
    "merge_runs",
    "deps_before_source",
    "python_env",
    "dockerignore",
    "cuda_runtime_base",
    "multi_stage",
    "secrets_out",
    "model_weights",
    "copy_ignored",
    "unpinned_install",
    "cuda_wheels_on_cpu",
)


@lru_cache(maxsize=1)
def all_rules() -> tuple[ModuleType, ...]:
    mods = [importlib.import_module(f"{__name__}.{m}") for m in RULE_MODULES]
    return tuple(sorted(mods, key=lambda m: m.CODE))


def get_rule(code_or_name: str) -> ModuleType | None:
    key = code_or_name.strip()
    for r in all_rules():
        if r.CODE == key.upper() or r.NAME == key.lower():
            return r
    return None


def _matches(rule: ModuleType, specs: tuple[str, ...]) -> bool:
    for s in specs:
        s = s.strip()
        if not s:
            continue
        if s.upper() == "ALL" or rule.CODE.startswith(s.upper()) or rule.NAME == s.lower():
            return True
    return False


def selected_rules(settings: Settings) -> list[ModuleType]:
    rules = all_rules()
    if settings.select:
        rules = tuple(r for r in rules if _matches(r, settings.select))
    return [r for r in rules if not _matches(r, settings.ignore)]


def unknown_codes(specs: tuple[str, ...]) -> list[str]:
    """Selectors that match no rule (so a typo in --select is an error, not a silent no-op)."""
    out = []
    for s in specs:
        s = s.strip()
        if s and s.upper() != "ALL" and not any(_matches(r, (s,)) for r in all_rules()):
            out.append(s)
    return out
