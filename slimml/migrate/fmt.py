"""Small formatting helpers shared by migrate, report and check."""

from __future__ import annotations

from ..units import human_bytes as human


def human_range(low: int | None, high: int | None) -> str:
    if low is None and high is None:
        return "-"
    if low == high or high is None:
        return human(low)
    return f"{human(low)}-{human(high)}"


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{c} ×{n}" if n > 1 else c for c, n in sorted(counts.items()))
