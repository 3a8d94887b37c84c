"""Reach of the structural rewrites (SLM008 split, SLM007 base change) on the corpus in benchmarks/reach/.

    python benchmarks/reach.py [--corpus DIR] [--only NAME,...] [--json]

Every corpus project (benchmarks/reach/corpus/<name>/Dockerfile, written from public patterns; see its
source.txt) is run through `slimml fix --unsafe-fixes` in-process (a dry run: nothing is written). The
script then says, per file:

- whether it *needs* a structural rewrite, decided here and not by slimml: its final image ships build
  tools (compilers, -dev headers, build-essential, git used for builds, cargo), or runs on a CUDA devel
  base, or on a full python base (python:3.x, which carries build-essential). The decision is checked
  against the hand labels in benchmarks/reach/labels.toml and any disagreement is reported;
- whether a structural rewrite was applied (the engine applied an SLM008 or SLM007 fix), and whether the
  rewritten file's final image still needs one by the same test;
- if not, why: the note of the SLM008/SLM007 finding that offered no fix, normalised (line numbers,
  long quoted text and package lists removed) so that equal reasons group, or "no finding" when neither
  rule fired.

Output: a markdown report (default) or JSON (--json). No timing in the output, so two runs on the same
code give the same text; the run time goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CORPUS = Path(__file__).resolve().parent / "reach" / "corpus"
LABELS = Path(__file__).resolve().parent / "reach" / "labels.toml"
STRUCTURAL = ("SLM008", "SLM007")  # multi-stage split, CUDA devel -> runtime base

# -- the "needs a structural rewrite" test --------------------------------------------------------

_BUILD_PKG = re.compile(
    r"^(build-essential|build-base|gcc(-\d+)?|g\+\+(-\d+)?|gcc-c\+\+|clang(-\d+)?|make|cmake|ninja-build|"
    r"gfortran|swig|autoconf|automake|libtool|pkg-config|pkgconf|cargo|rustc|cuda-nvcc\S*|cuda-toolkit\S*|"
    r"\S+-dev|\S+-devel)(=\S+)?$"
)
# Debian-based python images without -slim/-alpine carry build-essential, git and the -dev headers.
_FULL_PYTHON = re.compile(r"^(docker\.io/)?(library/)?python(:\d[\w.]*(-(bookworm|bullseye|buster|stretch|trixie))?)?$")
_FULL_PYTHON_DERIVED = re.compile(
    r"^(tiangolo/uvicorn-gunicorn\S*|ghcr\.io/astral-sh/uv:python[\d.]+-(bookworm|bullseye|trixie)|"
    r"buildpack-deps\S*)$"
)
_CUDA_DEVEL = re.compile(r"^(nvcr\.io/nvidia/pytorch:\S+|\S*(cuda|pytorch)\S*:\S*devel\S*)$")
_INSTALLERS = {
    "apt-get": "install",
    "apt": "install",
    "apk": "add",
    "yum": "install",
    "dnf": "install",
    "microdnf": "install",
}
_SEGMENT = re.compile(r"&&|\|\||;|\||\n")


def _installed(script: str) -> list[str]:
    """Packages named by apt/apk/yum install commands in a shell script (flags and variables skipped)."""
    out = []
    for seg in _SEGMENT.split(script):
        words = seg.split()
        for i, w in enumerate(words):
            verb = _INSTALLERS.get(w.rsplit("/", 1)[-1])
            if verb and verb in words[i + 1 :]:
                j = words.index(verb, i + 1)
                out += [x for x in words[j + 1 :] if not x.startswith(("-", "$"))]
                break
    return out


def _final_chain(doc):
    """The final stage and the stages it is built FROM, oldest first."""
    from slimml.semantics.build import parent_stage

    chain = [doc.stages[-1]]
    while (parent := parent_stage(doc, chain[0])) is not None and parent not in chain:
        chain.insert(0, parent)
    return chain


def final_base(text: str) -> str:
    """The base image of the final stage's chain, global ARG defaults expanded."""
    from slimml.dockerfile import parse
    from slimml.semantics.build import from_image

    doc = parse(text)
    return _unquote(from_image(doc, _final_chain(doc)[0])) if doc.stages else ""


def _unquote(image: str) -> str:
    # ARG PYTORCH="1.13.1": BuildKit drops the quotes; slimml's from_image (as of 3f5e400) keeps them
    return image.replace('"', "").replace("'", "")


def _git_requirements(context: Path | None) -> bool:
    """A manifest in the build context installs from git (`git+https://...`), so git is a build tool."""
    if context is None:
        return False
    for name in ("requirements*.txt", "pyproject.toml", "Pipfile", "setup.py", "environment.yml"):
        for p in context.glob(name):
            if "git+" in p.read_text(errors="replace"):
                return True
    return False


def final_image_needs(text: str, context: Path | None = None) -> tuple[bool, list[str]]:
    """(needs a structural rewrite, why) for the final image of a Dockerfile."""
    from slimml.dockerfile import parse

    doc = parse(text)
    if not doc.stages:
        return False, []
    from slimml.semantics.build import from_image

    chain = _final_chain(doc)
    image = _unquote(from_image(doc, chain[0]))
    why = []
    if _CUDA_DEVEL.match(image):
        why.append(f"CUDA devel base {image}")
    elif _FULL_PYTHON.match(image) or _FULL_PYTHON_DERIVED.match(image):
        why.append(f"full python base {image}")
    scripts = []
    for stage in chain:
        for ins in stage.instructions:
            if ins.keyword == "RUN":
                scripts.append(ins.args + "\n" + "\n".join(h.body(doc.text) for h in ins.heredocs))
    pkgs = [p for s in scripts for p in _installed(s)]
    build = sorted({p.split("=")[0] for p in pkgs if _BUILD_PKG.match(p)})
    if build:
        why.append("build packages: " + ", ".join(build))
    if "git" in pkgs and (any(re.search(r"git clone|git\+", s) for s in scripts) or _git_requirements(context)):
        why.append("git used for builds")
    if any("sh.rustup.rs" in s for s in scripts):
        why.append("rust toolchain (rustup)")
    return bool(why), why


# -- refusal notes --------------------------------------------------------------------------------


def normalise(note: str) -> str:
    """One group key per reason: the note up to its first ': ' advice, without line numbers, quoted
    text (commands, paths: see details()) or parentheticals (package lists, asides)."""
    s = re.sub(r"^not split automatically: ", "", note.strip())
    s = re.sub(r"`[^`]*`", "`…`", s)
    s = re.sub(r"\s*\([^()]*\)", "", s)
    s = re.sub(r"\bline \d+", "line N", s)
    s = re.sub(r"\b\d+(\.\d+)*\b", "N", s)
    cut = re.search(r": |; ", s)
    if cut and cut.start() > 15:
        s = s[: cut.start()]
    return s if len(s) <= 110 else s[:107].rstrip() + "..."


def details(note: str) -> list[str]:
    """The quoted commands and paths a note names (what normalise() hides), short ones only."""
    return [q for q in re.findall(r"`([^`]*)`", note) if 0 < len(q) <= 40]


@dataclass
class Row:
    name: str
    stack: str
    needs: bool
    why: list[str]
    label: bool | None
    applied: list[str] = field(default_factory=list)  # structural codes the engine applied
    still_needs: bool | None = None  # after the rewrite, by the same test
    after_base: str | None = None  # the rewritten file's final base image
    compiles_at_runtime: bool = False  # label: the app compiles CUDA/C code when it runs
    system_cuda_libs: bool = False  # label: something outside the pip wheels links the image's cuDNN/cuBLAS
    weights: str | None = None  # label: how the image gets model weights (download stage, archive, ...)
    weights_result: str | None = None  # SLM010 on it: "moved out", or its note, or "no finding"
    refusals: list[tuple[str, str, str]] = field(default_factory=list)  # (code, key, raw note)
    error: str | None = None

    @property
    def rewritten(self) -> bool:
        return bool(self.applied)

    @property
    def primary(self) -> tuple[str, str] | None:
        """The reason a needing file got no structural rewrite: SLM008's before SLM007's."""
        if not self.needs or self.rewritten:
            return None
        if self.error:
            return ("ERR", self.error)
        for want in STRUCTURAL:
            for code, key, _ in self.refusals:
                if code == want:
                    return (code, key)
        return ("-", "no SLM008/SLM007 finding (not detected)")


def _refusals(result) -> list[tuple[str, str, str]]:
    out, seen = [], set()
    applied = {id(f) for f in result.applied}
    for f in list(result.findings) + list(result.remaining):
        if f.code not in STRUCTURAL or id(f) in applied:
            continue
        if f.fix is None:
            raw = f.note or f.message
        else:  # offered but not applied: withheld, overlapping or reverted
            raw = f"{f.code} fix offered but not applied"
        key = normalise(raw)
        if (f.code, key) not in seen:
            seen.add((f.code, key))
            out.append((f.code, key, raw))
    for code in STRUCTURAL:
        if code in result.nonconverged or code in result.reverted:
            out.append((code, f"{code} fix withheld (did not converge or was reverted)", ""))
    return out


class BadInput(Exception):
    pass


def _weights_result(result) -> str:
    """What SLM010 did with a file that bakes weights in (issue 11, part 4)."""
    if any(f.code == "SLM010" for f in result.applied):
        return "moved out of the image (SLM010 applied)"
    notes = [f.note or f.message for f in result.findings if f.code == "SLM010"]
    return ("SLM010 finding, no fix: " + normalise(notes[0])) if notes else "no SLM010 finding"


def run(names: list[str] | None = None, corpus: Path = CORPUS) -> list[Row]:
    from slimml.runner import Options, fix_file

    labels = tomllib.loads(LABELS.read_text()) if LABELS.exists() and corpus == CORPUS else {}
    if not corpus.is_dir():
        raise BadInput(f"{corpus}: not a directory")
    dirs = sorted(p for p in corpus.iterdir() if (p / "Dockerfile").is_file())
    if names:
        unknown = set(names) - {d.name for d in dirs}
        if unknown:
            raise BadInput(f"no such corpus project: {', '.join(sorted(unknown))}")
        dirs = [d for d in dirs if d.name in names]
    rows = []
    for d in dirs:
        text = (d / "Dockerfile").read_bytes().decode("utf-8")
        needs, why = final_image_needs(text, d)
        lab = labels.get(d.name, {})
        row = Row(
            d.name,
            lab.get("stack", "?"),
            needs,
            why,
            lab.get("needs"),
            compiles_at_runtime=lab.get("compiles_at_runtime", False),
            weights=lab.get("weights"),
            system_cuda_libs=lab.get("system_cuda_libs", False),
        )
        try:
            rep = fix_file(d / "Dockerfile", Options(unsafe_fixes=True), {}, {})
        except Exception as e:  # a crash is a finding of this benchmark, not a reason to stop
            rep, row.error = None, f"slimml raised {type(e).__name__}"
        if rep is not None and rep.error:
            row.error = f"slimml error: {normalise(rep.error)}"
        elif rep is not None and rep.result is not None:
            r = rep.result
            row.applied = sorted({f.code for f in r.applied if f.code in STRUCTURAL})
            row.refusals = _refusals(r)
            if row.weights:
                row.weights_result = _weights_result(r)
            if row.applied:
                row.still_needs = final_image_needs(r.output, d)[0]
                row.after_base = final_base(r.output)
        rows.append(row)
    return rows


# -- report ---------------------------------------------------------------------------------------


def summarise(rows: list[Row]) -> dict:
    need = [r for r in rows if r.needs]
    rewritten = [r for r in need if r.rewritten]
    refused = [r for r in need if not r.rewritten]
    primary = Counter(r.primary for r in refused)
    mentions = Counter((c, k) for r in refused for c, k, _ in r.refusals)
    reasons = []
    for (code, key), n in sorted(primary.items(), key=lambda kv: (-kv[1], kv[0])):
        ex = [r.name for r in refused if r.primary == (code, key)]
        named = Counter(
            q for r in refused for c, k, raw in r.refusals if (c, k) == (code, key) for q in dict.fromkeys(details(raw))
        )
        reasons.append(
            {
                "code": code,
                "reason": key,
                "files": n,
                "mentions": mentions.get((code, key), n),
                "named": sorted(named.items(), key=lambda qc: (-qc[1], qc[0]))[:6],
                "examples": ex[:4],
            }
        )
    stacks = {}
    for r in rows:
        s = stacks.setdefault(r.stack, {"files": 0, "need": 0, "rewritten": 0, "refused": 0})
        s["files"] += 1
        s["need"] += r.needs
        s["rewritten"] += r.needs and r.rewritten
        s["refused"] += r.needs and not r.rewritten
    return {
        "files": len(rows),
        "need": len(need),
        "rewritten": len(rewritten),
        "refused": len(refused),
        "ratio": round(len(rewritten) / len(need), 3) if need else None,
        "by_code": dict(Counter(c for r in rewritten for c in r.applied)),
        "still_need_after_rewrite": sorted(r.name for r in rewritten if r.still_needs),
        "rewritten_without_need": sorted(r.name for r in rows if not r.needs and r.rewritten),
        # the app compiles at run time (torch cpp_extension.load, triton, deepspeed JIT ops), yet the
        # rewritten final image is no longer a CUDA devel image: the rewrite breaks it
        "runtime_compiler_lost": sorted(
            r.name for r in rewritten if r.compiles_at_runtime and not _CUDA_DEVEL.match(r.after_base or "")
        ),
        # the CUDA ladder went below cudnn-runtime although a library outside the wheels links cuDNN
        "system_cuda_libs_lost": sorted(
            r.name for r in rows if r.system_cuda_libs and r.rewritten and "cudnn" not in (r.after_base or "")
        ),
        "refused_rightly": sorted(r.name for r in refused if r.compiles_at_runtime),
        "label_disagreements": sorted(r.name for r in rows if r.label is not None and r.label != r.needs),
        "reasons": reasons,
        "stacks": dict(sorted(stacks.items())),
        "weights": {r.name: [r.weights, r.weights_result] for r in rows if r.weights},
    }


def markdown(rows: list[Row], s: dict) -> str:
    pct = f"{s['ratio']:.0%}" if s["ratio"] is not None else "-"
    out = [
        f"## Reach of the structural rewrites ({s['files']} corpus files)",
        "",
        "| files | need a structural rewrite | rewritten (SLM008 split / SLM007 base) | refused | ratio |",
        "|---:|---:|---:|---:|---:|",
        f"| {s['files']} | {s['need']} | {s['rewritten']} "
        f"({s['by_code'].get('SLM008', 0)} / {s['by_code'].get('SLM007', 0)}) | {s['refused']} | {pct} |",
        "",
    ]
    if s["reasons"]:
        out += [
            "### Why the others were refused (one primary reason per file; `mentions` counts every refused "
            "file whose notes carry it)",
            "",
            "| rule | reason (normalised) | files | mentions | what the notes name | examples |",
            "|---|---|---:|---:|---|---|",
        ]
        for x in s["reasons"]:
            named = ", ".join(f"`{q}`" + (f" ×{c}" if c > 1 else "") for q, c in x["named"]).replace("|", "/")
            out.append(
                f"| {x['code']} | {x['reason'].replace('|', '/')} | {x['files']} | {x['mentions']} | "
                f"{named} | {', '.join(x['examples'])} |"
            )
        out.append("")
    out += ["### By stack", "", "| stack | files | need | rewritten | refused |", "|---|---:|---:|---:|---:|"]
    out += [f"| {k} | {v['files']} | {v['need']} | {v['rewritten']} | {v['refused']} |" for k, v in s["stacks"].items()]
    if s["weights"]:
        out += [
            "",
            "### Model weights baked in (SLM010, not counted above)",
            "",
            "| file | how the weights get in | SLM010 |",
            "|---|---|---|",
        ]
        out += [f"| {k} | {how} | {res.replace('|', '/')} |" for k, (how, res) in s["weights"].items()]
    out += ["", "### Files", "", "| file | needs (why) | result |", "|---|---|---|"]
    for r in rows:
        if not r.needs:
            res = "rewritten anyway: " + "+".join(r.applied) if r.rewritten else "-"
        elif r.rewritten:
            res = "+".join(r.applied) + (" (final image still ships build tools)" if r.still_needs else "")
        else:
            named = [q for c, k, raw in r.refusals if (c, k) == r.primary for q in details(raw)]
            res = f"refused: {r.primary[0]} {r.primary[1]}" + (f" ({', '.join(dict.fromkeys(named))})" if named else "")
            res = res.replace("|", "/")
        out.append(f"| {r.name} | {'; '.join(r.why) or 'no'} | {res} |")
    notes = []
    if s["label_disagreements"]:
        notes.append("classifier disagrees with labels.toml on: " + ", ".join(s["label_disagreements"]))
    if s["still_need_after_rewrite"]:
        notes.append(
            "rewritten, but the final image still needs one by the same test: "
            + ", ".join(s["still_need_after_rewrite"])
        )
    if s["system_cuda_libs_lost"]:
        notes.append(
            "rewritten to a base without cuDNN although a library outside the pip wheels links the "
            "image's cuDNN (labels.toml system_cuda_libs): " + ", ".join(s["system_cuda_libs_lost"])
        )
    if s["refused_rightly"]:
        notes.append(
            "refused, and rightly so (the app compiles at run time: the final image keeps devel): "
            + ", ".join(s["refused_rightly"])
        )
    if s["runtime_compiler_lost"]:
        notes.append(
            "rewritten to a final image without nvcc/devel although the app compiles at run time "
            "(labels.toml compiles_at_runtime): " + ", ".join(s["runtime_compiler_lost"])
        )
    if s["rewritten_without_need"]:
        notes.append(
            "structural rewrite on files the test says need none (e.g. the CUDA ladder runtime -> base): "
            + ", ".join(s["rewritten_without_need"])
        )
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--only", help="comma-separated corpus project names")
    ap.add_argument("--json", action="store_true", help="JSON instead of markdown")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        rows = run(a.only.split(",") if a.only else None, a.corpus)
    except BadInput as e:
        print(f"reach: {e}", file=sys.stderr)
        return 2
    s = summarise(rows)
    if a.json:
        print(json.dumps({"summary": s, "files": [dict(asdict(r), primary=r.primary) for r in rows]}, indent=1))
    else:
        print(markdown(rows, s), end="")
    print(f"reach: {len(rows)} files in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
