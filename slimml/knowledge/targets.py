"""The seed's targets for an ML image: under 3 GB, built cold in under 5 minutes.

Sizes are decimal (3 GB = 3,000,000,000 bytes), like every size slimml prints (units.py) and like
``docker images``. Both targets are strict: an image of exactly 3 GB, or a build of exactly 300 s,
does not meet them. A build time is judged only when the build was cold (no build cache): a
cached build's time says nothing about how long a fresh checkout takes to build.
"""

from __future__ import annotations

from typing import TypedDict

SIZE_TARGET_BYTES = 3_000_000_000  # 3 GB, decimal
BUILD_TARGET_SECONDS = 300.0  # 5 minutes, cold
SIZE_TARGET_TEXT = "< 3 GB"
BUILD_TARGET_TEXT = "cold build < 5 min"
WARM = "not judged: warm build"


class Verdict(TypedDict):
    met: bool | None  # None: not judged
    why: str


class Judgement(TypedDict):
    size: Verdict
    build: Verdict
    both: bool | None


def size_verdict(size: int | None) -> Verdict:
    """{"met": True/False/None, "why": ...} for an image size in bytes (None: not measured)."""
    if size is None:
        return {"met": None, "why": "not measured"}
    met = size < SIZE_TARGET_BYTES
    return {"met": met, "why": f"{'under' if met else 'not under'} 3 GB"}


def build_verdict(seconds: float | None, cold: bool | None) -> Verdict:
    """The build-time verdict; judged only for a cold build (``cold`` None: not recorded)."""
    if seconds is None:
        return {"met": None, "why": "not measured"}
    if not cold:
        return {"met": None, "why": WARM}
    met = seconds < BUILD_TARGET_SECONDS
    return {"met": met, "why": f"cold build {'under' if met else 'not under'} 5 min"}


def both(size: Verdict, build: Verdict) -> bool | None:
    """Meets both: True only when both were judged and met; False when either was judged and missed;
    None when one is not judged and nothing failed."""
    if size["met"] is False or build["met"] is False:
        return False
    if size["met"] and build["met"]:
        return True
    return None


def judge(size: int | None, seconds: float | None, cold: bool | None) -> Judgement:
    """The JSON verdict of one image: {"size": ..., "build": ..., "both": ...}."""
    s, b = size_verdict(size), build_verdict(seconds, cold)
    return {"size": s, "build": b, "both": both(s, b)}


def mark(met: bool | None) -> str:
    """One cell: yes / no / - (not judged)."""
    return "-" if met is None else ("yes" if met else "no")


def line(v: Judgement) -> str:
    """``< 3 GB: yes; cold build < 5 min: not judged: warm build; both: -`` for one image's verdict."""
    s, b = v["size"], v["build"]
    btext = mark(b["met"]) if b["met"] is not None else b["why"]
    stext = mark(s["met"]) if s["met"] is not None else s["why"]
    return f"{SIZE_TARGET_TEXT}: {stext}; {BUILD_TARGET_TEXT}: {btext}; both: {mark(v['both'])}"
