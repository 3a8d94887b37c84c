"""Byte counts for people: one formatter for every report (decimal units, like `docker images`)."""

from __future__ import annotations


def human_bytes(n: float | None) -> str:
    """``1536000`` -> ``1.5 MB``; ``None`` -> ``-``; negative values keep their sign."""
    if n is None:
        return "-"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1000
    return f"{sign}{n:.1f} TB"  # pragma: no cover
