"""The migration report as one self-contained HTML page (split from ``report``: the page's CSS,
script and chart vary on their own).

The page loads nothing from the network: inline CSS, an inline SVG chart, a few lines of inline
JavaScript for the sortable tables. Everything shown is from the (already masked) state.
"""

from __future__ import annotations

import html as _html
import os
from pathlib import Path

from .fmt import human, human_range
from .report import STATUS_ORDER, _saving_text, _where, pr_text, shards_text, targets_cell, unquantified

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
.headline{font-size:17px;font-weight:600;margin:14px 0 4px}
.card.bad b{color:#cf222e}
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
CHART_LIMIT = 40  # bars drawn; the table lists every repo


def _e(s: object) -> str:
    return _html.escape(str(s if s is not None else ""), quote=True)


def chart_items(repos: list[dict]) -> list[tuple]:
    """(kind, name, a, b, order key) per fixed repo with a measured size ("m": a before, b after)
    or an estimated saving ("e": a low, b high); biggest savings first."""
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
    items.sort(key=lambda it: (-it[4], it[1]))
    return items


def legend(kinds: set[str]) -> str:
    """Keys for what the chart draws, and nothing else."""
    keys = []
    if "m" in kinds:
        keys += [
            f'<span class="key-measured"><i class="sw" style="background:{MEASURED_BEFORE}"></i>before (measured)'
            "</span>",
            f'<span class="key-measured"><i class="sw" style="background:{MEASURED_AFTER}"></i>after (measured)</span>',
        ]
    if "e" in kinds:
        keys.append(
            '<span class="key-estimated"><i class="sw" style="background:repeating-linear-gradient(45deg,'
            '#d4a72c 0 3px,#fbe3b6 3px 6px)"></i>estimated saving, low–high (offline estimate; no build: run '
            "with <code>--measure</code> for sizes)</span>"
        )
    return f'<div class="legend">{"".join(keys)}</div>' if keys else ""


def chart_svg(repos: list[dict], limit: int = CHART_LIMIT) -> str:
    """Horizontal bars per repo: measured before/after (solid), or the estimated saving range
    (hatched) where nothing was measured. Biggest savings first; at most ``limit`` repos."""
    items = chart_items(repos)
    if not items:
        return '<p class="chart-empty">Nothing to chart: no fixed repo has a measured size or an estimated saving.</p>'
    shown = items[:limit]
    # One scale (bytes) for everything, so an estimated saving and a measured size compare honestly.
    scale = max(max(it[2], it[3]) for it in shown) or 1
    label_w, bar_w, row_h = 260, 560, 34
    height = 20 + row_h * len(shown)
    parts = [
        (
            f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 280}" height="{height}" '
            f'role="img" aria-label="Image size before and after per repository">'
        ),
        (
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fbe3b6"/>'
            '<rect width="3" height="6" fill="#d4a72c"/></pattern></defs>'
        ),
    ]
    y = 10
    for kind, name, a, b, _ in shown:
        short = name if len(name) <= 36 else "…" + name[-35:]
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end" font-size="12" fill="#1f2328">{_e(short)}</text>'
        )
        if kind == "m":
            wb = max(2, round(bar_w * a / scale))
            wa = max(2, round(bar_w * b / scale))
            parts.append(
                f'<rect class="bar measured before" x="{label_w}" y="{y + 2}" width="{wb}" height="13" '
                f'fill="{MEASURED_BEFORE}"><title>{_e(name)}: before {human(a)} (measured)</title></rect>'
            )
            parts.append(
                f'<rect class="bar measured after" x="{label_w}" y="{y + 16}" width="{wa}" height="13" '
                f'fill="{MEASURED_AFTER}"><title>{_e(name)}: after {human(b)} (measured)</title></rect>'
            )
            parts.append(f'<text x="{label_w + wb + 6}" y="{y + 13}" font-size="11" fill="#59636e">{human(a)}</text>')
            parts.append(
                f'<text x="{label_w + wa + 6}" y="{y + 27}" font-size="11" fill="#1f2328">{human(b)} '
                f"(−{human(a - b)}, measured)</text>"
            )
        else:
            wl = max(2, round(bar_w * a / scale))
            wh = max(2, round(bar_w * b / scale))
            parts.append(
                f'<rect class="bar estimated" x="{label_w}" y="{y + 6}" width="{wh}" height="18" '
                f'fill="{EST_FILL}" stroke="#9a6700" stroke-dasharray="4 2">'
                f"<title>{_e(name)}: estimated saving {human_range(a, b)} (offline estimate, not built)"
                f"</title></rect>"
            )
            parts.append(
                f'<line x1="{label_w + wl}" x2="{label_w + wl}" y1="{y + 4}" y2="{y + 26}" '
                f'stroke="#9a6700" stroke-width="2"/>'
            )
            parts.append(
                f'<text x="{label_w + wh + 6}" y="{y + 20}" font-size="11" fill="#9a6700">'
                f"saves ~{human_range(a, b)} (estimated)</text>"
            )
        y += row_h
    parts.append("</svg>")
    more = f"<p>{len(items) - limit} more repos in the table below.</p>" if len(items) > limit else ""
    return "".join(parts) + more


def _cell(value: object, shown: str | None = None, num: bool = False, title: str | None = None) -> str:
    """A table cell: ``value`` sorts it (data-v), ``shown`` is its HTML (default: the value, escaped)."""
    attrs = (' class="num"' if num else "") + f' data-v="{_e(value)}"' + (f' title="{_e(title)}"' if title else "")
    return f"<td{attrs}>{_e(value) if shown is None else shown}</td>"


def _table(tid: str, heads: tuple[str, ...], rows: list[list[str]]) -> str:
    """A sortable table, or "None." without rows."""
    if not rows:
        return "<p>None.</p>"
    return (
        f'<table class="sortable" id="{tid}"><thead><tr>'
        + "".join(f"<th>{_e(h)}</th>" for h in heads)
        + "</tr></thead><tbody>\n"
        + "\n".join("<tr>" + "".join(r) + "</tr>" for r in rows)
        + "\n</tbody></table>"
    )


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
    cards = [
        ("repos", t["repos"]),
        ("fixed", t["fixed"]),
        ("unchanged", t["unchanged"]),
        ("skipped", t["skipped"]),
        ("failed", t["failed"]),
        ("Dockerfiles", t["dockerfiles"]),
        ("Dockerfiles failed", t["dockerfiles_failed"]),
        ("fixes", t["fixes"]),
        ("estimated saving", human_range(est["low"], est["high"]) if est else "-"),
        ("measured saving", human(m["saved"]) if m else "-"),
    ]
    items = chart_items(data["repos"])
    src = (
        f" from <code>{_e(data['state'])}</code>"
        if data["state"]
        else (f" from {len(data['states'])} merged states" if data.get("states") else "")
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>slimml migration report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>slimml migration report</h1>",
        f'<div class="meta">Generated {_e(data["generated"])}{src}</div>',
    ]
    if shards_text(data):
        out.append(f'<p class="shards">{_e(shards_text(data))}</p>')
    out += [
        f'<p class="headline" id="headline">{_e(t["headline"]["text"])}.</p>',
        (
            f'<p class="targets" id="targets">Targets: {_e(t["targets"]["text"])}.</p>'
            if t["targets"]["images"] or t["targets"]["not_built"]
            else ""
        ),
        '<div class="cards">'
        + "".join(
            f'<div class="card{" bad" if k.endswith("failed") and v else ""}"><b>{_e(v)}</b>{_e(k)}</div>'
            for k, v in cards
        )
        + "</div>",
        "<h2>Image size per repository</h2>",
        legend({it[0] for it in items[:CHART_LIMIT]}),
        chart_svg(data["repos"]),
    ]
    none = unquantified(data)
    if none:
        out.append(
            f'<p class="unquantified" id="unquantified">Fixed, but without a measured size or an offline '
            f"estimate ({len(none)}; not on the chart): " + ", ".join(_e(n) for n in none) + ".</p>"
        )
    with_pr = any(r.get("pr") for r in data["repos"])
    out += [
        "<h2>Repositories</h2>",
        (
            '<table class="sortable" id="repos"><thead><tr><th>repo</th><th>status</th><th>Dockerfiles</th>'
            "<th>fixes</th><th>saving</th><th>kind</th><th>targets (before → after)</th><th>result</th><th>note</th>"
            + ("<th>pull request</th>" if with_pr else "")
            + "</tr></thead><tbody>"
        ),
    ]
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
        pr_cell = ""
        if with_pr:
            pr, text = r.get("pr") or {}, pr_text(r)
            linkable = str(pr.get("url") or "").startswith(("https://", "http://"))  # never a javascript: link
            shown = f'<a href="{_e(pr["url"])}">{_e(text)}</a>' if linkable and not pr.get("error") else _e(text)
            pr_cell = f'<td data-v="{_e(text)}">{shown}</td>'
        out.append(
            f'<tr><td data-v="{_e(r["name"])}">{_e(r["name"])}</td>'
            f'<td data-v="{order.get(r["status"], 9)}"><span class="st st-{_e(r["status"])}">{_e(r["status"])}</span></td>'
            f'<td class="num" data-v="{r["dockerfiles"]}">{r["dockerfiles"]}</td>'
            f'<td class="num" data-v="{r["fixes"]}">{r["fixes"]}</td>'
            f'<td class="num" data-v="{saving}">{_e(_saving_text(r))}</td>'
            f'<td data-v="{kind}">{kind}</td><td data-v="{_e(targets_cell(r))}">{_e(targets_cell(r))}</td>'
            f'<td data-v="{_e(where)}">{result}</td>'
            f'<td data-v="{_e(r["reason"])}">{_e(r["reason"])}</td>{pr_cell}</tr>'
        )
    out.append("</tbody></table>")
    if t.get("engines"):
        out.append("<h2>Build engines</h2>")
        out.append(
            _table(
                "engines",
                ("engine", "Dockerfiles built", "retried here after another engine died"),
                [
                    [
                        _cell(k, f"<code>{_e(k)}</code>"),
                        _cell(v["builds"], num=True),
                        _cell(v["retried_here"], num=True),
                    ]
                    for k, v in t["engines"].items()
                ],
            )
        )
    out.append("<h2>Most common findings</h2>")
    out.append(
        _table(
            "findings",
            ("code", "rule", "found", "fixed", "repos"),
            [
                [
                    _cell(f["code"]),
                    _cell(f["name"], title=f["summary"]),
                    _cell(f["found"], num=True),
                    _cell(f["fixed"], num=True),
                    _cell(f["repos"], num=True),
                ]
                for f in data["findings"]
            ],
        )
    )
    if data.get("verified"):
        out.append("<h2>Unsafe fixes, proven per file (--verify)</h2>")
        rows = []
        for v in data["verified"]:
            dropped = "; ".join(f"{d['code']}: {d['why']}" for d in v.get("dropped") or []) or "-"
            b, a = v.get("measured_before"), v.get("measured_after")
            kept = v.get("kept") or []
            rows.append(
                [
                    _cell(v["repo"]),
                    _cell(v["file"]),
                    _cell(b or 0, _e(human(b) if b else "-"), num=True),
                    _cell(a or 0, _e(human(a) if a else "-"), num=True),
                    _cell(",".join(kept), _e(", ".join(kept) or "-")),
                    _cell(dropped),
                ]
            )
        out.append(_table("verified", ("repo", "file", "before", "after", "kept", "dropped, and why"), rows))
    out.append("<h2>Failures</h2>")
    out.append(
        _table(
            "failures",
            ("repo", "file", "reason"),
            [[_cell(f["repo"]), _cell(f["file"]), _cell(f["reason"])] for f in data["failures"]],
        )
    )
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"
