"""Size claims of cache findings, asked of ``semantics.ship``: a cache left in a stage whose files
never reach the final image costs build time and builder disk, not image size. Such a finding
keeps its (still safe) fix but is reported as ``info`` with a 0-byte estimate."""

from __future__ import annotations

from ..dockerfile import Document, Instruction
from ..semantics import ship as SH
from . import _helpers as H

HYGIENE = "does not ship in the final image: build-cache hygiene only"


def cache_dir(doc: Document, instr: Instruction, env: dict, var: str, default: str) -> str | None:
    """Where a tool's cache lives for ``instr``: its ``var`` when set, else ``default`` (``{home}``,
    ``{xdg}``) for root; None when it cannot be told (another user, HOME or XDG_CACHE_HOME set)."""
    if env.get(var):
        return env[var] if "$" not in env[var] else None
    if any(env.get(v) for v in ("HOME", "XDG_CACHE_HOME")):
        return None
    if H.user_at(doc, instr) not in (None, "root", "0"):
        return None
    return default.format(home="/root")


def size_claim(doc: Document, instr: Instruction, estimate: dict | None, *paths: str | None) -> tuple[str, dict]:
    """(message suffix, Finding keyword arguments) for a cache at ``paths`` (None: unknown place)
    left by ``instr``: ``estimate`` as it is when the cache may ship, else severity info and 0 bytes."""
    stage = doc.stage_of(instr)
    est = dict(estimate or {})
    if stage is None:
        return "", est
    for p in paths or (None,):
        if SH.path_ships(doc, stage, p).ships:
            return "", est
    why = SH.path_ships(doc, stage, paths[0] if paths else None).reason
    name = f"`{stage.name}`" if stage.name else f"{stage.index}"
    return (
        f" (stage {name} {HYGIENE})",
        {"severity": "info", "estimate": (0, 0), "estimate_basis": f"stage {name} {HYGIENE} ({why})"},
    )
