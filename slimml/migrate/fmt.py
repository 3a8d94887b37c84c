"""Small formatting helpers shared by migrate, report and check."""

from __future__ import annotations


def human(n: float | None) -> str:
    if n is None:
        return "-"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1000
    return f"{sign}{n:.1f} TB"  # pragma: no cover


def human_range(low: int | None, high: int | None) -> str:
    if low is None and high is None:
        return "-"
    if low == high or high is None:
        return human(low)
    return f"{human(low)}-{human(high)}"


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{c} ×{n}" if n > 1 else c for c, n in sorted(counts.items()))
