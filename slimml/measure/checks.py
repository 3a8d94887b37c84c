"""The result of a verification: named checks, each pass / fail / warn / skip with its evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"
MAX_EVIDENCE = 20


@dataclass
class Check:
    name: str
    status: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def add(self, line: str) -> None:
        self.evidence.append(line)

    def conclude(self, failed: bool, fail: str, ok: str, incomplete: str | None = None) -> Check:
        """Status and summary: FAIL with ``fail``; else WARN with ``incomplete`` (the probe could not
        look at everything); else PASS with ``ok``."""
        if failed:
            self.status, self.summary = FAIL, fail
        elif incomplete:
            self.status, self.summary = WARN, incomplete
        else:
            self.status, self.summary = PASS, ok
        return self


@dataclass
class Verification:
    before: str
    after: str
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "FAIL" if any(c.status == FAIL for c in self.checks) else "PASS"

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def failures(self) -> list[str]:
        """One line per failing check: its name and summary (the cause, for a caller's report)."""
        return [f"{c.name}: {c.summary}" for c in self.checks if c.status == FAIL]

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict,
            "before": self.before,
            "after": self.after,
            "checks": [asdict(c) for c in self.checks],
        }


def cap(lines: list[str], n: int = MAX_EVIDENCE) -> list[str]:
    return list(lines) if len(lines) <= n else lines[:n] + [f"... and {len(lines) - n} more"]
