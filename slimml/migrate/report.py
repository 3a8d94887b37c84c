"""Migration reports from the state database: markdown, JSON and one self-contained HTML file.

Everything in the state is already masked; the renderers add nothing from the Dockerfiles.
The HTML page loads nothing from the network: inline CSS, an inline SVG chart, a few lines of
inline JavaScript for the sortable table.
"""

from __future__ import annotations

import html as _html
import json
import os
import time
from collections import Counter
from pathlib import Path

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
    repos = state.repos(conn)
    files = state.files(conn)
    by_repo: dict[int, list[dict]] = {}
    for f in files:
        by_repo.setdefault(f["repo_id"], []).append(f)
    names = _rule_names()
    mode_opts = json.loads(state.meta(conn, "options") or "{}")

    status = Counter(r["status"] for r in repos)
    found, fixed, in_repos = Counter(), Counter(), {}
    for f in files:
        found.update(f["findings"])
        fixed.update(f["fixes"])
        for code in f["findings"]:
            in_repos.setdefault(code, set()).add(f["repo_id"])
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
        "estimated_saving": None if not any(r["est_low"] is not None for r in changed) else {
            "low": sum(r["est_low"] or 0 for r in changed), "high": sum(r["est_high"] or 0 for r in changed)},
        "measured": None if not measured else {
            "repos": len(measured),
            "before": sum(r["measured_before"] for r in measured),
            "after": sum(r["measured_after"] for r in measured),
            "saved": sum(r["measured_before"] - r["measured_after"] for r in measured)},
    }
    per_repo = []
    failures = []
    for r in repos:
        rf = by_repo.get(r["id"], [])
        entry = {
            "name": r["name"], "status": r["status"], "reason": r["reason"], "url": r["url"], "path": r["path"],
            "dockerfiles": r["dockerfiles"], "findings": r["findings"], "fixes": r["fixes"],
            "estimated_saving": None if r["est_low"] is None else {"low": r["est_low"], "high": r["est_high"]},
            "measured": None if r["measured_before"] is None or r["measured_after"] is None else {
                "before": r["measured_before"], "after": r["measured_after"]},
            "base": r["base_sha"], "branch": r["branch"] if r["status"] == "fixed" else None,
            "commit": r["commit_sha"] if r["status"] == "fixed" else None, "patch": r["patch"],
            "attempts": r["attempts"],
            "files": [{**{k: f[k] for k in ("path", "status", "findings", "fixes", "unfixed", "est_low", "est_high",
                                            "measured_before", "measured_after", "measure_error", "error")},
                       "verification": f.get("verification")} for f in rf],
        }
        per_repo.append(entry)
        if r["status"] == "failed":
            failures.append({"repo": r["name"], "file": None, "reason": r["reason"] or "unknown error"})
        for f in rf:
            if f["status"] == "failed" and r["status"] != "failed":
                failures.append({"repo": r["name"], "file": f["path"], "reason": f["error"]})
            if f["measure_error"]:
                failures.append({"repo": r["name"], "file": f["path"], "reason": f"measure: {f['measure_error']}"})
    verified = [{"repo": r["name"], "file": f["path"], **f["verification"]} for r in per_repo for f in r["files"]
                if f.get("verification")]
    common = [{"code": c, "name": names.get(c, ("", ""))[0], "summary": names.get(c, ("", ""))[1],
               "found": n, "fixed": fixed.get(c, 0), "repos": len(in_repos.get(c, ()))}
              for c, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {
        "version": 1,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime()),
        "state": str(state_path) if state_path else None,
        "options": mode_opts,
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


def markdown(data: dict) -> str:
    t = data["totals"]
    out = ["# slimml migration report", ""]
    mode = data["options"].get("mode")
    out.append(f"Generated {data['generated']}" + (f" from `{data['state']}`" if data["state"] else "")
               + (f"; mode: {mode}" if mode else "") + ".")
    out += ["", "## Totals", "", "| | |", "|---|---:|"]
    rows = [("Repositories", t["repos"]), ("Fixed", t["fixed"]), ("Already clean (unchanged)", t["unchanged"]),
            ("Skipped", t["skipped"]), ("Failed", t["failed"])]
    if t["pending"] or t["in-progress"]:
        rows.append(("Not finished yet", t["pending"] + t["in-progress"]))
    rows += [("Dockerfiles", t["dockerfiles"]), ("Dockerfiles fixed", t["dockerfiles_fixed"]),
             ("Findings", t["findings"]), ("Fixes applied", t["fixes"])]
    est = t["estimated_saving"]
    rows.append(("Estimated saving (offline)", human_range(est["low"], est["high"]) if est else "-"))
    m = t["measured"]
    rows.append(("Measured saving", f"{human(m['saved'])} ({human(m['before'])} → {human(m['after'])}, "
                                    f"{m['repos']} repos)" if m else "- (run with --measure)"))
    out += [f"| {k} | {v} |" for k, v in rows]
    out += ["", "## Repositories", "", "| repo | status | Dockerfiles | fixes | saving | result | note |",
            "|---|---|---:|---:|---|---|---|"]
    for r in data["repos"]:
        out.append(f"| {_md(r['name'])} | {r['status']} | {r['dockerfiles']} | {r['fixes']} | {_saving_text(r)} | "
                   f"{_md(_where(r))} | {_md(r['reason'])} |")
    out += ["", "## Most common findings", ""]
    if data["findings"]:
        out += ["| code | rule | found | fixed | repos |", "|---|---|---:|---:|---:|"]
        for f in data["findings"][:20]:
            out.append(f"| {f['code']} | {_md(f['name'])} | {f['found']} | {f['fixed']} | {f['repos']} |")
    else:
        out.append("None.")
    if data.get("verified"):
        out += ["", "## Unsafe fixes, proven per file (--verify)", "",
                "| repo | file | before | after | kept (verified by a build) | dropped, and why |",
                "|---|---|---:|---:|---|---|"]
        for v in data["verified"]:
            dropped = "; ".join(f"{d['code']}: {d['why'][:160]}" for d in v.get("dropped") or []) or "-"
            before, after = v.get("measured_before"), v.get("measured_after")
            out.append(f"| {_md(v['repo'])} | {_md(v['file'])} | {human(before) if before else '-'} | "
                       f"{human(after) if after else '-'} | {', '.join(v.get('kept') or []) or '-'} | {_md(dropped)} |")
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


# -- HTML ------------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#59636e;margin-bottom:16px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #d1d9e0;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d1d9e0;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;cursor:pointer;user-select:none;white-space:nowrap}
th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.st{border-radius:10px;padding:1px 8px;font-size:12px}
.st-fixed{background:#dafbe1}.st-unchanged{background:#eef1f4}.st-skipped{background:#fff8c5}
.st-failed{background:#ffebe9}.st-in-progress,.st-pending{background:#ddf4ff}
.legend span{display:inline-block;margin-right:16px}
.sw{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:middle;border:1px solid #555}
code{font-size:12px}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var asc=!th.classList.contains('sorted-asc');
      t.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc')});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var rows=Array.prototype.slice.call(t.tBodies[0].rows);
      rows.sort(function(a,b){
        var x=a.cells[i].getAttribute('data-v'),y=b.cells[i].getAttribute('data-v');
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));
        return asc?c:-c;});
      rows.forEach(function(r){t.tBodies[0].appendChild(r)});
    });
  });
});
"""

MEASURED_BEFORE, MEASURED_AFTER = "#8c959f", "#1f6feb"
EST_FILL = "url(#hatch)"


def _e(s: object) -> str:
    return _html.escape(str(s if s is not None else ""), quote=True)


def chart_svg(repos: list[dict], limit: int = 40) -> str:
    """Horizontal bars per repo: measured before/after (solid), or the estimated saving range
    (hatched) where nothing was measured. Biggest savings first; at most ``limit`` repos."""
    items = []
    for r in repos:
        if r["status"] != "fixed":
            continue
        if r.get("measured"):
            m = r["measured"]
            items.append(("m", r["name"], m["before"], m["after"], m["before"] - m["after"]))
        elif r.get("estimated_saving"):
            e = r["estimated_saving"]
            items.append(("e", r["name"], e["low"], e["high"], e["high"]))
    if not items:
        return ('<p class="chart-empty">Nothing to chart: no fixed repo has a measured size or an estimated '
                'saving.</p>')
    items.sort(key=lambda it: (-it[4], it[1]))
    shown = items[:limit]
    # One scale (bytes) for everything, so an estimated saving and a measured size compare honestly.
    scale = max(max(it[2], it[3]) for it in shown) or 1
    label_w, bar_w, row_h = 260, 560, 34
    height = 20 + row_h * len(shown)
    parts = [(f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 280}" height="{height}" '
             f'role="img" aria-label="Image size before and after per repository">'),
             ('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fbe3b6"/>'
             '<rect width="3" height="6" fill="#d4a72c"/></pattern></defs>')]
    y = 10
    for kind, name, a, b, _ in shown:
        short = name if len(name) <= 36 else "…" + name[-35:]
        parts.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end" font-size="12" fill="#1f2328">'
                     f'{_e(short)}</text>')
        if kind == "m":
            wb = max(2, round(bar_w * a / scale))
            wa = max(2, round(bar_w * b / scale))
            parts.append(f'<rect class="bar measured before" x="{label_w}" y="{y + 2}" width="{wb}" height="13" '
                         f'fill="{MEASURED_BEFORE}"><title>{_e(name)}: before {human(a)} (measured)</title></rect>')
            parts.append(f'<rect class="bar measured after" x="{label_w}" y="{y + 16}" width="{wa}" height="13" '
                         f'fill="{MEASURED_AFTER}"><title>{_e(name)}: after {human(b)} (measured)</title></rect>')
            parts.append(f'<text x="{label_w + wb + 6}" y="{y + 13}" font-size="11" fill="#59636e">{human(a)}</text>')
            parts.append(f'<text x="{label_w + wa + 6}" y="{y + 27}" font-size="11" fill="#1f2328">{human(b)} '
                         f'(−{human(a - b)}, measured)</text>')
        else:
            wl = max(2, round(bar_w * a / scale))
            wh = max(2, round(bar_w * b / scale))
            parts.append(f'<rect class="bar estimated" x="{label_w}" y="{y + 6}" width="{wh}" height="18" '
                         f'fill="{EST_FILL}" stroke="#9a6700" stroke-dasharray="4 2">'
                         f'<title>{_e(name)}: estimated saving {human_range(a, b)} (offline estimate, not built)'
                         f'</title></rect>')
            parts.append(f'<line x1="{label_w + wl}" x2="{label_w + wl}" y1="{y + 4}" y2="{y + 26}" '
                         f'stroke="#9a6700" stroke-width="2"/>')
            parts.append(f'<text x="{label_w + wh + 6}" y="{y + 20}" font-size="11" fill="#9a6700">'
                         f'saves ~{human_range(a, b)} (estimated)</text>')
        y += row_h
    parts.append("</svg>")
    more = f"<p>{len(items) - limit} more repos in the table below.</p>" if len(items) > limit else ""
    return "".join(parts) + more


def _href(path: str | None, base: Path | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    if base is not None:
        try:
            return Path(os.path.relpath(p, base)).as_posix()
        except ValueError:  # pragma: no cover - other drive
            pass
    return p.resolve().as_uri()


def html(data: dict, base: Path | None = None) -> str:
    """``base``: the folder the HTML file is written to (links to patches are relative to it)."""
    t = data["totals"]
    est, m = t["estimated_saving"], t["measured"]
    cards = [("repos", t["repos"]), ("fixed", t["fixed"]), ("unchanged", t["unchanged"]), ("skipped", t["skipped"]),
             ("failed", t["failed"]), ("Dockerfiles", t["dockerfiles"]), ("fixes", t["fixes"]),
             ("estimated saving", human_range(est["low"], est["high"]) if est else "-"),
             ("measured saving", human(m["saved"]) if m else "-")]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>slimml migration report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>slimml migration report</h1>",
           f'<div class="meta">Generated {_e(data["generated"])}'
           + (f' from <code>{_e(data["state"])}</code>' if data["state"] else "") + "</div>",
           '<div class="cards">' + "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards) + "</div>",
           "<h2>Image size per repository</h2>",
           ('<div class="legend">'
           f'<span><i class="sw" style="background:{MEASURED_BEFORE}"></i>before (measured)</span>'
           f'<span><i class="sw" style="background:{MEASURED_AFTER}"></i>after (measured)</span>'
           '<span><i class="sw" style="background:repeating-linear-gradient(45deg,#d4a72c 0 3px,#fbe3b6 3px 6px)">'
           '</i>estimated saving, low–high (offline estimate; no build: run with <code>--measure</code> for sizes)'
           '</span></div>'),
           chart_svg(data["repos"]),
           "<h2>Repositories</h2>",
           ('<table class="sortable" id="repos"><thead><tr><th>repo</th><th>status</th><th>Dockerfiles</th>'
           "<th>fixes</th><th>saving</th><th>kind</th><th>result</th><th>note</th></tr></thead><tbody>")]
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    for r in data["repos"]:
        if r.get("measured"):
            saving, kind = r["measured"]["before"] - r["measured"]["after"], "measured"
        elif r.get("estimated_saving"):
            saving, kind = r["estimated_saving"]["high"], "estimated"
        else:
            saving, kind = 0, ""
        where = _where(r, q="")
        link = _href(r["patch"], base) if r["patch"] else (_href(r["path"], None) if r["branch"] else None)
        result = f'<a href="{_e(link)}">{_e(where)}</a>' if link and where else _e(where)
        out.append(
            f'<tr><td data-v="{_e(r["name"])}">{_e(r["name"])}</td>'
            f'<td data-v="{order.get(r["status"], 9)}"><span class="st st-{_e(r["status"])}">{_e(r["status"])}</span></td>'
            f'<td class="num" data-v="{r["dockerfiles"]}">{r["dockerfiles"]}</td>'
            f'<td class="num" data-v="{r["fixes"]}">{r["fixes"]}</td>'
            f'<td class="num" data-v="{saving}">{_e(_saving_text(r))}</td>'
            f'<td data-v="{kind}">{kind}</td><td data-v="{_e(where)}">{result}</td>'
            f'<td data-v="{_e(r["reason"])}">{_e(r["reason"])}</td></tr>')
    out.append("</tbody></table>")
    out.append("<h2>Most common findings</h2>")
    if data["findings"]:
        out.append('<table class="sortable" id="findings"><thead><tr><th>code</th><th>rule</th><th>found</th>'
                   "<th>fixed</th><th>repos</th></tr></thead><tbody>")
        for f in data["findings"]:
            out.append(f'<tr><td data-v="{_e(f["code"])}">{_e(f["code"])}</td>'
                       f'<td data-v="{_e(f["name"])}" title="{_e(f["summary"])}">{_e(f["name"])}</td>'
                       f'<td class="num" data-v="{f["found"]}">{f["found"]}</td>'
                       f'<td class="num" data-v="{f["fixed"]}">{f["fixed"]}</td>'
                       f'<td class="num" data-v="{f["repos"]}">{f["repos"]}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>None.</p>")
    if data.get("verified"):
        out.append("<h2>Unsafe fixes, proven per file (--verify)</h2>")
        out.append('<table class="sortable" id="verified"><thead><tr><th>repo</th><th>file</th><th>before</th>'
                   "<th>after</th><th>kept</th><th>dropped, and why</th></tr></thead><tbody>")
        for v in data["verified"]:
            dropped = "; ".join(f"{d['code']}: {d['why']}" for d in v.get("dropped") or []) or "-"
            b, a = v.get("measured_before"), v.get("measured_after")
            out.append(f'<tr><td data-v="{_e(v["repo"])}">{_e(v["repo"])}</td><td data-v="{_e(v["file"])}">'
                       f'{_e(v["file"])}</td><td class="num" data-v="{b or 0}">{_e(human(b) if b else "-")}</td>'
                       f'<td class="num" data-v="{a or 0}">{_e(human(a) if a else "-")}</td>'
                       f'<td data-v="{_e(",".join(v.get("kept") or []))}">{_e(", ".join(v.get("kept") or []) or "-")}'
                       f'</td><td data-v="{_e(dropped)}">{_e(dropped)}</td></tr>')
        out.append("</tbody></table>")
    out.append("<h2>Failures</h2>")
    if data["failures"]:
        out.append('<table class="sortable" id="failures"><thead><tr><th>repo</th><th>file</th><th>reason</th>'
                   "</tr></thead><tbody>")
        for f in data["failures"]:
            out.append(f'<tr><td data-v="{_e(f["repo"])}">{_e(f["repo"])}</td><td data-v="{_e(f["file"])}">'
                       f'{_e(f["file"])}</td><td data-v="{_e(f["reason"])}">{_e(f["reason"])}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>None.</p>")
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"
