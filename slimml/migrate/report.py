"""Migration reports from the state database: markdown, JSON and one self-contained HTML file.

Everything in the state is already masked; the renderers add nothing from the Dockerfiles.
The HTML page loads nothing from the network: inline CSS, an inline SVG chart, a few lines of
inline JavaScript for the sortable table.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

from ..knowledge import targets as tg
from . import state
from .fmt import human, human_range

STATUS_ORDER = ("fixed", "unchanged", "skipped", "failed", "in-progress", "pending")


def _rule_names() -> dict[str, tuple[str, str]]:
    try:
        from ..rules import all_rules

        return {r.CODE: (r.NAME, getattr(r, "SUMMARY", "")) for r in all_rules()}
    except Exception:  # noqa: BLE001 - a report must render even if the rules cannot load
        return {}


def collect(conn, state_path: Path | None = None) -> dict:
    """The report of one state (a whole migration, or one shard of it)."""
    from . import shard

    options = json.loads(state.meta(conn, "options") or "{}")
    sh = shard.state_shard(conn)
    options.pop("shard", None)  # said by "shards" below
    return build(
        state.repos(conn),
        state.files(conn),
        options,
        shards=shard.coverage(sh[1], [sh[0]]) if sh else None,
        sources=[str(state_path)] if state_path else [],
    )


def collect_merged(paths: list[Path]) -> dict:
    """One report over several shard states (``slimml report --merge``); ShardError when they do
    not belong together. The same totals and tables as one unsharded run over the same repos."""
    from . import shard

    m = shard.load(paths)
    return build(
        m.repos,
        m.files,
        m.options,
        shards=shard.coverage(m.of, m.present),
        sources=[str(Path(p).resolve()) for p in m.sources],
    )


def _pr(r: dict) -> dict | None:
    if not any(r.get(k) for k in ("pr_url", "pr_state", "publish_error", "pushed_sha")):
        return None
    return {
        "url": r.get("pr_url"),
        "number": r.get("pr_number"),
        "state": r.get("pr_state"),
        "pushed": r.get("pushed_sha"),
        "error": r.get("publish_error"),
    }


def headline(fixed: list[dict]) -> dict:
    """What the report leads with: the measured total when there is one, else the estimate; always
    over how many of the fixed repos."""
    n = len(fixed)
    measured = [r for r in fixed if r["measured_before"] is not None and r["measured_after"] is not None]
    seen = {id(r) for r in measured}
    estimated = [r for r in fixed if id(r) not in seen and r["est_low"] is not None]
    h: dict = {
        "fixed": n,
        "measured_repos": len(measured),
        "estimated_repos": len(estimated),
        "measured_saved": sum(r["measured_before"] - r["measured_after"] for r in measured) if measured else None,
        "estimated": None
        if not estimated
        else {"low": sum(r["est_low"] for r in estimated), "high": sum(r["est_high"] for r in estimated)},
    }
    est = h["estimated"]
    est_text = (
        f"{human(est['low'])}–{human(est['high'])}"
        if est and est["low"] != est["high"]
        else (human(est["low"]) if est else "")
    )
    if measured:
        h["kind"] = "measured"
        h["text"] = f"Measured saving {human(h['measured_saved'])} over {len(measured)} of {n} fixed repos"
        if estimated:
            h["text"] += f"; estimated {est_text} over {len(estimated)} more (offline estimate, not built)"
    elif estimated:
        h["kind"] = "estimated"
        h["text"] = (
            f"Estimated saving {est_text} over {len(estimated)} of {n} fixed repos (offline estimate, not built)"
        )
    else:
        h["kind"] = None
        h["text"] = (
            f"No saving to show: none of the {n} fixed repos has a measured size or an offline estimate"
            if n
            else "No repo was changed"
        )
    return h


def file_targets(f: dict) -> dict | None:
    """The seed's targets of one measured Dockerfile's images, before and after; None when its
    images were not built (an offline estimate is of bytes saved, not an image size: not judged)."""
    if f.get("measured_before") is None or f.get("measured_after") is None:
        return None
    builds = f.get("builds") or {}
    return {
        side: tg.judge(
            f[f"measured_{side}"], (builds.get(side) or {}).get("seconds"), (builds.get(side) or {}).get("cold")
        )
        for side in ("before", "after")
    }


def count_targets(verdicts: list[dict]) -> dict:
    """How many of these images (file_targets) meet each target, and both, before and after."""
    out: dict = {"images": len(verdicts)}
    for side in ("before", "after"):
        vs = [v[side] for v in verdicts]
        out[side] = {
            "size": sum(1 for v in vs if v["size"]["met"]),
            "build": sum(1 for v in vs if v["build"]["met"]),
            "both": sum(1 for v in vs if v["both"]),
            "build_judged": sum(1 for v in vs if v["build"]["met"] is not None),
        }
    return out


def targets_text(t: dict, not_built: int) -> str:
    """The fleet line: how many measured images meet both targets, before and after."""
    n, b, a = t["images"], t["before"], t["after"]
    text = (
        f"Of {n} measured image{'' if n == 1 else 's'}, meeting both targets ({tg.SIZE_TARGET_TEXT}, {tg.BUILD_TARGET_TEXT}): "
        f"before {b['both']}, after {a['both']}; {tg.SIZE_TARGET_TEXT}: before {b['size']}, after {a['size']}; "
        f"{tg.BUILD_TARGET_TEXT}: before {b['build']}, after {a['build']}"
    )
    unjudged = max(n - b["build_judged"], n - a["build_judged"])
    if unjudged:
        text += (
            f"; build time not judged for {unjudged} of {n} (warm builds or no build time recorded: "
            "only a cold build's time counts)"
        )
    if not_built:
        text += (
            f"; {not_built} fixed Dockerfile(s) not built are not counted "
            "(an offline estimate is of bytes saved, not an image size)"
        )
    return text


def build(
    repos: list[dict], files: list[dict], options: dict, shards: dict | None = None, sources: list[str] | None = None
) -> dict:
    """The report data from state rows (repos ordered by name)."""
    by_repo: dict[int, list[dict]] = {}
    for f in files:
        by_repo.setdefault(f["repo_id"], []).append(f)
    names = _rule_names()

    status = Counter(r["status"] for r in repos)
    found, fixed, in_repos = Counter(), Counter(), {}
    engines: dict[str, dict[str, int]] = {}
    for f in files:
        found.update(f["findings"])
        fixed.update(f["fixes"])
        for code in f["findings"]:
            in_repos.setdefault(code, set()).add(f["repo_id"])
        if f.get("engine"):
            e = engines.setdefault(f["engine"], {"builds": 0, "retried_here": 0})
            e["builds"] += 1
            e["retried_here"] += f.get("engine_retries") or 0
    measured = [r for r in repos if r["measured_before"] is not None and r["measured_after"] is not None]
    changed = [r for r in repos if r["status"] == "fixed"]
    totals = {
        "repos": len(repos),
        **{s: status.get(s, 0) for s in STATUS_ORDER},
        "dockerfiles": sum(r["dockerfiles"] for r in repos),
        "dockerfiles_fixed": sum(1 for f in files if f["status"] == "fixed"),
        "dockerfiles_failed": sum(1 for f in files if f["status"] == "failed"),
        "findings": sum(found.values()),
        "fixes": sum(fixed.values()),
        "estimated_saving": None
        if not any(r["est_low"] is not None for r in changed)
        else {"low": sum(r["est_low"] or 0 for r in changed), "high": sum(r["est_high"] or 0 for r in changed)},
        "measured": None
        if not measured
        else {
            "repos": len(measured),
            "before": sum(r["measured_before"] for r in measured),
            "after": sum(r["measured_after"] for r in measured),
            "saved": sum(r["measured_before"] - r["measured_after"] for r in measured),
        },
        "headline": headline(changed),
        "engines": {k: engines[k] for k in sorted(engines)},
    }
    fleet = [v for v in (file_targets(f) for f in files) if v is not None]
    not_built = sum(1 for f in files if f["status"] == "fixed" and file_targets(f) is None)
    counted = count_targets(fleet)
    totals["targets"] = {**counted, "not_built": not_built, "text": targets_text(counted, not_built)}
    per_repo = []
    failures = []
    for r in repos:
        rf = by_repo.get(r["id"], [])
        entry = {
            "name": r["name"],
            "status": r["status"],
            "reason": r["reason"],
            "url": r["url"],
            "path": r["path"],
            "dockerfiles": r["dockerfiles"],
            "findings": r["findings"],
            "fixes": r["fixes"],
            "estimated_saving": None if r["est_low"] is None else {"low": r["est_low"], "high": r["est_high"]},
            "measured": None
            if r["measured_before"] is None or r["measured_after"] is None
            else {"before": r["measured_before"], "after": r["measured_after"]},
            "base": r["base_sha"],
            "branch": r["branch"] if r["status"] == "fixed" else None,
            "commit": r["commit_sha"] if r["status"] == "fixed" else None,
            "patch": r["patch"],
            "attempts": r["attempts"],
            "pr": _pr(r),
            "files": [
                {
                    **{
                        k: f[k]
                        for k in (
                            "path",
                            "status",
                            "findings",
                            "fixes",
                            "unfixed",
                            "est_low",
                            "est_high",
                            "measured_before",
                            "measured_after",
                            "measure_error",
                            "error",
                        )
                    },
                    "verification": f.get("verification"),
                    "targets": file_targets(f),
                    "engine": f.get("engine"),
                    "engine_retries": f.get("engine_retries") or 0,
                }
                for f in rf
            ],
        }
        entry["targets"] = count_targets([f["targets"] for f in entry["files"] if f["targets"]])
        per_repo.append(entry)
        if r["status"] == "failed":
            failures.append({"repo": r["name"], "file": None, "reason": r["reason"] or "unknown error"})
        for f in rf:
            if f["status"] == "failed" and r["status"] != "failed":
                failures.append({"repo": r["name"], "file": f["path"], "reason": f["error"]})
            if f["measure_error"]:
                failures.append({"repo": r["name"], "file": f["path"], "reason": f"measure: {f['measure_error']}"})
        if r.get("publish_error"):
            failures.append({"repo": r["name"], "file": None, "reason": f"publish: {r['publish_error']}"})
    verified = [
        {"repo": r["name"], "file": f["path"], **f["verification"]}
        for r in per_repo
        for f in r["files"]
        if f.get("verification")
    ]
    common = [
        {
            "code": c,
            "name": names.get(c, ("", ""))[0],
            "summary": names.get(c, ("", ""))[1],
            "found": n,
            "fixed": fixed.get(c, 0),
            "repos": len(in_repos.get(c, ())),
        }
        for c, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    sources = sources or []
    return {
        "version": 1,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime()),
        "state": sources[0] if len(sources) == 1 else None,
        "states": sources,
        "shards": shards,
        "options": options,
        "totals": totals,
        "repos": per_repo,
        "findings": common,
        "failures": failures,
        "verified": verified,
    }


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def _md(s: object) -> str:
    return str(s if s is not None else "").replace("|", "\\|").replace("\n", " ")


def _where(r: dict, q: str = "`") -> str:
    if r["status"] != "fixed":
        return ""
    if r["patch"]:
        return f"patch {q}{os.path.basename(r['patch'])}{q}"
    if r["branch"] and r["commit"]:
        return f"branch {q}{r['branch']}{q} @ {q}{r['commit'][:10]}{q}"
    return "would change (dry run)"


def _saving_text(r: dict) -> str:
    m = r.get("measured")
    if m:
        return f"{human(m['before'] - m['after'])} (measured)"
    e = r.get("estimated_saving")
    return f"{human_range(e['low'], e['high'])} (est.)" if e else "-"


def targets_cell(r: dict) -> str:
    """A repo's images against the targets, before → after (counts of its measured images)."""
    t = r.get("targets")
    if not t or not t["images"]:
        return "-"
    n, b, a = t["images"], t["before"], t["after"]
    out = f"< 3 GB {b['size']}/{n} → {a['size']}/{n}"
    if b["build_judged"] or a["build_judged"]:
        return out + f"; cold < 5 min {b['build']}/{b['build_judged']} → {a['build']}/{a['build_judged']}"
    return out + "; build time not judged"


def pr_text(r: dict) -> str:
    """The pull request of a repo, or why pushing / opening it failed (the fix itself stands)."""
    pr = r.get("pr")
    if not pr:
        return ""
    if pr.get("error"):
        return f"failed: {pr['error']}"
    if pr.get("url"):
        return f"{pr.get('state') or 'open'}: {pr['url']}"
    return f"pushed {pr['pushed'][:10]}" if pr.get("pushed") else (pr.get("state") or "")


def shards_text(data: dict) -> str | None:
    sh = data.get("shards")
    if not sh:
        return None
    present, of, missing = sh["present"], sh["of"], sh["missing"]
    if len(present) == 1 and of > 1 and len(data.get("states") or []) <= 1:
        return (
            f"Covers shard {present[0]} of {of} only (the repos whose identity hashes to it); "
            "`slimml report --merge` combines the shards' states."
        )
    text = f"Shards: {len(present)} of {of} present ({', '.join(map(str, present))})"
    if missing:
        return text + f"; missing: {', '.join(map(str, missing))} -- their repos are not in this report."
    return text + "; none missing."


def unquantified(data: dict) -> list[str]:
    """Fixed repos with neither a measured size nor an offline estimate (not on the chart)."""
    return [
        r["name"]
        for r in data["repos"]
        if r["status"] == "fixed" and not r.get("measured") and not r.get("estimated_saving")
    ]


def markdown(data: dict) -> str:
    t = data["totals"]
    out = ["# slimml migration report", ""]
    mode = data["options"].get("mode")
    src = f"`{data['state']}`" if data["state"] else (f"{len(data['states'])} merged states" if data["states"] else "")
    out.append(
        f"Generated {data['generated']}" + (f" from {src}" if src else "") + (f"; mode: {mode}" if mode else "") + "."
    )
    if shards_text(data):
        out += ["", shards_text(data)]
    out += ["", f"**{t['headline']['text']}.**"]
    if t["targets"]["images"] or t["targets"]["not_built"]:
        out += ["", f"Targets: {t['targets']['text']}."]
    out += ["", "## Totals", "", "| | |", "|---|---:|"]
    rows = [
        ("Repositories", t["repos"]),
        ("Fixed", t["fixed"]),
        ("Already clean (unchanged)", t["unchanged"]),
        ("Skipped", t["skipped"]),
        ("Failed", t["failed"]),
    ]
    if t["pending"] or t["in-progress"]:
        rows.append(("Not finished yet", t["pending"] + t["in-progress"]))
    rows += [
        ("Dockerfiles", t["dockerfiles"]),
        ("Dockerfiles fixed", t["dockerfiles_fixed"]),
        ("Dockerfiles failed", t["dockerfiles_failed"]),
        ("Findings", t["findings"]),
        ("Fixes applied", t["fixes"]),
    ]
    est = t["estimated_saving"]
    rows.append(("Estimated saving (offline)", human_range(est["low"], est["high"]) if est else "-"))
    m = t["measured"]
    rows.append(
        (
            "Measured saving",
            f"{human(m['saved'])} ({human(m['before'])} → {human(m['after'])}, {m['repos']} repos)"
            if m
            else "- (run with --measure)",
        )
    )
    out += [f"| {k} | {v} |" for k, v in rows]
    with_pr = any(r.get("pr") for r in data["repos"])
    out += [
        "",
        "## Repositories",
        "",
        "| repo | status | Dockerfiles | fixes | saving | targets (before → after) | result | note |"
        + (" pull request |" if with_pr else ""),
        "|---|---|---:|---:|---|---|---|---|" + ("---|" if with_pr else ""),
    ]
    for r in data["repos"]:
        out.append(
            f"| {_md(r['name'])} | {r['status']} | {r['dockerfiles']} | {r['fixes']} | {_saving_text(r)} | "
            f"{targets_cell(r)} | {_md(_where(r))} | {_md(r['reason'])} |"
            + (f" {_md(pr_text(r))} |" if with_pr else "")
        )
    none = unquantified(data)
    if none:
        out += [
            "",
            f"Fixed without a measured size or an offline estimate ({len(none)}): "
            + ", ".join(_md(n) for n in none)
            + ".",
        ]
    if t.get("engines"):
        out += [
            "",
            "## Build engines",
            "",
            "| engine | Dockerfiles built | retried here after another engine died |",
            "|---|---:|---:|",
        ]
        out += [f"| {_md(k)} | {v['builds']} | {v['retried_here']} |" for k, v in t["engines"].items()]
    out += ["", "## Most common findings", ""]
    if data["findings"]:
        out += ["| code | rule | found | fixed | repos |", "|---|---|---:|---:|---:|"]
        for f in data["findings"][:20]:
            out.append(f"| {f['code']} | {_md(f['name'])} | {f['found']} | {f['fixed']} | {f['repos']} |")
    else:
        out.append("None.")
    if data.get("verified"):
        out += [
            "",
            "## Unsafe fixes, proven per file (--verify)",
            "",
            "| repo | file | before | after | kept (verified by a build) | dropped, and why |",
            "|---|---|---:|---:|---|---|",
        ]
        for v in data["verified"]:
            dropped = "; ".join(f"{d['code']}: {d['why'][:160]}" for d in v.get("dropped") or []) or "-"
            before, after = v.get("measured_before"), v.get("measured_after")
            out.append(
                f"| {_md(v['repo'])} | {_md(v['file'])} | {human(before) if before else '-'} | "
                f"{human(after) if after else '-'} | {', '.join(v.get('kept') or []) or '-'} | {_md(dropped)} |"
            )
    out += ["", "## Failures", ""]
    if data["failures"]:
        out += ["| repo | file | reason |", "|---|---|---|"]
        for f in data["failures"]:
            out.append(f"| {_md(f['repo'])} | {_md(f['file'] or '')} | {_md(f['reason'])} |")
    else:
        out.append("None.")
    skipped = [r for r in data["repos"] if r["status"] == "skipped"]
    if skipped:
        out += ["", "## Skipped", "", "| repo | reason |", "|---|---|"]
        out += [f"| {_md(r['name'])} | {_md(r['reason'])} |" for r in skipped]
    return "\n".join(out) + "\n"


def html(data: dict, base: Path | None = None) -> str:
    """The self-contained HTML page (slimml.migrate.report_html)."""
    from .report_html import html as render

    return render(data, base=base)
