"""Discovery and running of fixture cases: fixtures/<rule-name>/<case>/.

A case folder is a build context:
  Dockerfile               the input (or the path named by `dockerfile` in case.toml)
  expected.Dockerfile      the expected output; absent means the rule must change nothing
  expected.dockerignore    expected .dockerignore after the fix (absent: must stay as it was)
  case.toml                optional: select = [...], unsafe-fixes = bool, dockerfile = "...",
                           [options.<CODE>] per-rule options;
                           findings = ["CODE:line", ...]: exactly the findings expected on the input
                           (report-only rules have no expected output to show what they found)
Folder <rule-name> selects that rule by default; fixtures/all/ runs every rule.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from slimml.context import Context, Settings
from slimml.engine import Result, fix_text
from slimml.io import read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Case:
    rule: str
    name: str
    dir: Path
    dockerfile: Path
    settings: Settings
    findings: list[str] | None = None

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.name}"

    def expected_output(self) -> str:
        exp = self.dir / "expected.Dockerfile"
        src = exp if exp.exists() else self.dockerfile
        return read_source(src).text

    def context(self) -> Context:
        return Context(settings=self.settings, dockerfile=self.dockerfile, context_dir=self.dir)

    def run(self, text: str | None = None, committed: dict | None = None) -> Result:
        ctx = self.context()
        if committed:
            ctx.committed.update(committed)
        if text is None:
            text = read_source(self.dockerfile).text
        return fix_text(text, ctx, str(self.dockerfile))


def discover() -> list[Case]:
    cases = []
    for rule_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name != "projects"):
        for d in sorted(p for p in rule_dir.iterdir() if p.is_dir()):
            conf = {}
            if (d / "case.toml").exists():
                conf = tomllib.loads((d / "case.toml").read_text())
            select = tuple(conf.get("select", () if rule_dir.name == "all" else (rule_dir.name,)))
            settings = Settings(
                select=select, unsafe_fixes=bool(conf.get("unsafe-fixes", False)), rule_options=conf.get("options", {})
            )
            df = d / conf.get("dockerfile", "Dockerfile")
            cases.append(Case(rule_dir.name, d.name, d, df, settings, conf.get("findings")))
    return cases
