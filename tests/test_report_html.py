"""`slimml report`: markdown / json / html from a migration state; the HTML page is rendered in a
real headless Chromium (Debian's `chromium` package) and the screenshot must show the chart.

The state is written through the same API the migrate workers use, with measured sizes for
some repos and offline estimates for others, so both kinds of bars are drawn.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.migrate import report_html, state

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_NO_CHROMIUM = "needs Debian's `chromium` package (apt-get install -y chromium; .ci/run installs it)"


@pytest.fixture
def needs_chromium():
    """Skips without chromium -- except in CI (CI=true), where a missing browser is a failure."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: {_NO_CHROMIUM}")
        pytest.skip(_NO_CHROMIUM)


GB = 1_000_000_000


def make_state(path: Path) -> None:
    conn = state.connect(path)
    state.init(conn)
    state.set_meta(conn, "options", json.dumps({"mode": "branch", "branch": "slimml/slim-images"}))
    rows = [
        {
            "path": "Dockerfile",
            "status": "fixed",
            "findings": {"SLM001": 2, "SLM002": 1},
            "fixes": {"SLM001": 2},
            "unfixed": {"SLM002": 1},
        }
    ]
    for i, (before, after) in enumerate([(6.4 * GB, 3.9 * GB), (2.6 * GB, 1.2 * GB), (4.2 * GB, 1.3 * GB)]):
        rid = state.add_repo(conn, f"/fleet/measured-{i}", f"/fleet/measured-{i}", f"ml/measured-{i}", None)
        state.finish(
            conn,
            rid,
            rows,
            status="fixed",
            dockerfiles=1,
            findings=3,
            fixes=2,
            branch="slimml/slim-images",
            commit_sha=f"{i}" * 40,
            base_sha="b" * 40,
            measured_before=int(before),
            measured_after=int(after),
        )
    for i, (lo, hi) in enumerate([(0.8 * GB, 2.0 * GB), (0.3 * GB, 0.9 * GB)]):
        rid = state.add_repo(conn, f"/fleet/est-{i}", f"/fleet/est-{i}", f"ml/estimated-{i}", None)
        state.finish(
            conn,
            rid,
            rows,
            status="fixed",
            dockerfiles=1,
            findings=3,
            fixes=2,
            patch=f"/p/est-{i}.patch",
            est_low=int(lo),
            est_high=int(hi),
        )
    rid = state.add_repo(conn, "/fleet/dirty", "/fleet/dirty", "web/dirty", None)
    state.finish(conn, rid, [], status="skipped", reason="dirty working tree: 1 uncommitted change(s) (app.py)")
    rid = state.add_repo(conn, "/fleet/broken", "/fleet/broken", "web/broken", None)
    state.finish(
        conn,
        rid,
        [{"path": "Dockerfile", "status": "failed", "error": "Dockerfile: not a valid Dockerfile"}],
        status="failed",
        reason="Dockerfile: not a valid Dockerfile: no FROM",
    )
    conn.close()


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def st(tmp_path):
    p = tmp_path / "migrate.db"
    make_state(p)
    return p


def test_markdown_and_json(st):
    r = cli("report", "--state", st)
    assert r.exit_code == 0
    md = r.stdout
    assert "| Repositories | 7 |" in md and "| Fixed | 5 |" in md and "| Skipped | 1 |" in md and "| Failed | 1 |" in md
    assert "| ml/measured-0 | fixed | 1 | 2 | 2.5 GB (measured) |" in md
    assert "| ml/estimated-0 | fixed | 1 | 2 | 800.0 MB-2.0 GB (est.) | - | patch `est-0.patch` |" in md
    assert "| SLM001 | pip-no-cache | 10 | 10 | 5 |" in md
    assert "| web/broken |  | Dockerfile: not a valid Dockerfile: no FROM |" in md
    data = json.loads(cli("report", "--state", st, "--format", "json").stdout)
    t = data["totals"]
    assert t["measured"] == {
        "repos": 3,
        "before": int(6.4 * GB) + int(2.6 * GB) + int(4.2 * GB),
        "after": int(3.9 * GB) + int(1.2 * GB) + int(1.3 * GB),
        "saved": t["measured"]["before"] - t["measured"]["after"],
    }
    assert t["estimated_saving"] == {"low": int(0.8 * GB) + int(0.3 * GB), "high": int(2.0 * GB) + int(0.9 * GB)}
    assert [f["code"] for f in data["findings"]] == ["SLM001", "SLM002"]
    assert data["failures"] == [
        {"repo": "web/broken", "file": None, "reason": "Dockerfile: not a valid Dockerfile: no FROM"}
    ]


def test_report_errors(tmp_path):
    r = cli("report", "--state", tmp_path / "missing.db")
    assert r.exit_code == 2 and "no migration state" in r.output
    other = tmp_path / "other.db"
    other.write_bytes(b"not sqlite at all" * 100)
    r = cli("report", "--state", other)
    assert r.exit_code == 2


def test_html_is_self_contained(st, tmp_path):
    out = tmp_path / "r.html"
    assert cli("report", "--state", st, "--format", "html", "-o", out).exit_code == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)  # nothing loaded from the network
    assert "<link" not in page and "@import" not in page and not re.search(r"url\((?!#)", page)
    assert page.count('class="bar measured before"') == 3 and page.count('class="bar estimated"') == 2
    assert 'href="../../p/est-0.patch"' in page or 'href="' + os.path.relpath("/p/est-0.patch", tmp_path) + '"' in page


# -- PNG decoding (no Pillow needed) ----------------------------------------------------------------
def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixel bytes) of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = bytearray(stride * height)
    prev = bytearray(stride)
    i = 0
    for y in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        if f == 1:
            for x in range(channels, stride):
                line[x] = (line[x] + line[x - channels]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


def count_color(png: tuple, rgb: tuple[int, int, int], tol: int = 10, box=None) -> int:
    w, h, ch, px = png
    x0, y0, x1, y1 = box or (0, 0, w, h)
    n = 0
    for y in range(y0, min(y1, h)):
        row = px[y * w * ch : (y + 1) * w * ch]
        for x in range(x0, min(x1, w)):
            r, g, b = row[x * ch], row[x * ch + 1], row[x * ch + 2]
            if abs(r - rgb[0]) <= tol and abs(g - rgb[1]) <= tol and abs(b - rgb[2]) <= tol:
                n += 1
    return n


def solid_pixels(png: tuple, rgb: tuple[int, int, int], tol: int = 6) -> int:
    """Pixels of the colour whose 8 neighbours have it too: the inside of a filled shape (a legend
    swatch, a bar), never the anti-aliased edge of a letter."""
    w, h, ch, px = png

    def hit(x, y):
        i = (y * w + x) * ch
        return all(abs(px[i + k] - rgb[k]) <= tol for k in range(3))

    return sum(
        1
        for y in range(1, h - 1)
        for x in range(1, w - 1)
        if hit(x, y) and all(hit(x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
    )


def hex_rgb(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, check=False, capture_output=True, timeout=120)


@pytest.mark.usefixtures("needs_chromium")
def test_html_renders_chart_in_chromium(st, tmp_path):
    out = tmp_path / "report.html"
    assert cli("report", "--state", st, "--format", "html", "-o", out).exit_code == 0
    shot = tmp_path / "shot.png"
    cp = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", out.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, cp.stderr.decode(errors="replace")[-2000:]
    png = decode_png(shot.read_bytes())
    w, h, _, _ = png
    assert (w, h) == (1200, 900)
    # Measured bars: grey "before" and blue "after"; estimated ones: the amber hatch. Each of those
    # colours is used by the chart only, so enough pixels of each means the chart was drawn.
    before = count_color(png, hex_rgb(report_html.MEASURED_BEFORE))
    after = count_color(png, hex_rgb(report_html.MEASURED_AFTER), box=(0, 300, w, h))  # below the legend
    hatch = count_color(png, (0xD4, 0xA7, 0x2C), tol=25, box=(0, 300, w, h))
    assert before > 3 * 13 * 100, before  # three bars 13 px high, the shortest well over 100 px long
    assert after > 3 * 13 * 40, after
    assert hatch > 2 * 18 * 20, hatch
    # and the page is not blank elsewhere: the summary cards' text is there
    assert count_color(png, (0x1F, 0x23, 0x28), tol=40, box=(0, 0, w, 250)) > 500


@pytest.mark.usefixtures("needs_chromium")
def test_html_table_sorts_in_chromium(st, tmp_path):
    out = tmp_path / "report.html"
    assert cli("report", "--state", st, "--format", "html", "-o", out).exit_code == 0
    page = out.read_text()
    # click the "saving" header twice (descending), as a user would, then dump the DOM
    click = (
        "<script>var th=document.querySelectorAll('#repos th')[4];th.click();th.click();"
        "document.body.setAttribute('data-sorted','yes');</script></body>"
    )
    sorted_page = tmp_path / "sorted.html"
    sorted_page.write_text(page.replace("</body>", click))
    cp = chromium(tmp_path, "--dump-dom", sorted_page.as_uri())
    dom = cp.stdout.decode()
    assert 'data-sorted="yes"' in dom, cp.stderr.decode(errors="replace")[-2000:]
    body = dom.split('id="repos"', 1)[1].split("</table>", 1)[0]
    names = re.findall(r'<tr><td data-v="([^"]+)">', body)
    assert names[:5] == ["ml/measured-2", "ml/measured-0", "ml/estimated-0", "ml/measured-1", "ml/estimated-1"], names
    assert 'class="sorted-desc"' in body


# -- a report people can act on (issue 12, item 6) --------------------------------------------------
FIX_ROW = {"path": "Dockerfile", "status": "fixed", "findings": {"SLM001": 1}, "fixes": {"SLM001": 1}, "unfixed": {}}


def state_with(path: Path, repos: list[dict]) -> Path:
    """repos: {"name", "status", "files": [...], **repo fields}."""
    conn = state.connect(path)
    state.init(conn)
    state.set_meta(conn, "options", json.dumps({"mode": "branch", "branch": "slimml/slim-images"}))
    for spec in repos:
        spec = dict(spec)
        name, files = spec.pop("name"), spec.pop("files", [FIX_ROW])
        rid = state.add_repo(conn, f"/fleet/{name}", f"/fleet/{name}", name, None)
        spec.setdefault("dockerfiles", len(files))
        state.finish(conn, rid, files, **spec)
    conn.close()
    return path


def render(db: Path, fmt: str, tmp_path: Path) -> str:
    out = tmp_path / f"r.{fmt}"
    assert cli("report", "--state", db, "--format", {"md": "markdown"}.get(fmt, fmt), "-o", out).exit_code == 0
    return out.read_text()


ESTIMATED_ONLY = [
    {
        "name": f"est-{i}",
        "status": "fixed",
        "est_low": (i + 1) * GB // 4,
        "est_high": (i + 1) * GB // 2,
        "commit_sha": "c" * 40,
        "branch": "slimml/slim-images",
    }
    for i in range(3)
]
MEASURED_ONLY = [
    {
        "name": f"m-{i}",
        "status": "fixed",
        "measured_before": 3 * GB,
        "measured_after": GB,
        "commit_sha": "c" * 40,
        "branch": "slimml/slim-images",
    }
    for i in range(2)
]


def test_legend_shows_only_what_is_drawn(tmp_path):
    page = render(state_with(tmp_path / "e.db", ESTIMATED_ONLY), "html", tmp_path)
    legend = page.split('<div class="legend">', 1)[1].split("</div>", 1)[0]
    assert "estimated saving" in legend and "measured" not in legend
    assert 'class="bar measured' not in page and page.count('class="bar estimated"') == 3
    page = render(state_with(tmp_path / "m.db", MEASURED_ONLY), "html", tmp_path)
    legend = page.split('<div class="legend">', 1)[1].split("</div>", 1)[0]
    assert "before (measured)" in legend and "after (measured)" in legend and "estimated" not in legend
    page = render(
        state_with(
            tmp_path / "n.db",
            [{"name": "clean", "status": "unchanged", "files": [{**FIX_ROW, "status": "unchanged", "fixes": {}}]}],
        ),
        "html",
        tmp_path,
    )
    assert 'class="legend"' not in page and "Nothing to chart" in page


def test_fixed_repos_without_a_number_are_listed_under_the_chart(tmp_path):
    db = state_with(
        tmp_path / "s.db",
        ESTIMATED_ONLY
        + [
            {"name": "team/no-number", "status": "fixed", "commit_sha": "c" * 40, "branch": "slimml/slim-images"},
            {"name": "team/skipped", "status": "skipped", "reason": "dirty", "files": []},
        ],
    )
    page = render(db, "html", tmp_path)
    after_chart = page.split("</svg>", 1)[1].split("<h2>Repositories</h2>", 1)[0]
    assert 'id="unquantified"' in after_chart and "team/no-number" in after_chart and "(1;" in after_chart
    assert "team/skipped" not in after_chart and "team/no-number" not in page.split("</svg>", 1)[0]
    md = render(db, "md", tmp_path)
    assert "Fixed without a measured size or an offline estimate (1): team/no-number." in md
    assert json.loads(render(db, "json", tmp_path))["totals"]["headline"]["text"].endswith(
        "over 3 of 4 fixed repos (offline estimate, not built)"
    )


def test_failed_dockerfiles_count_in_tiles_and_totals(tmp_path):
    db = state_with(
        tmp_path / "s.db",
        [
            {
                "name": "half",
                "status": "fixed",
                "est_low": GB,
                "est_high": GB,
                "commit_sha": "c" * 40,
                "branch": "slimml/slim-images",
                "reason": "legacy/Dockerfile: no FROM",
                "files": [
                    FIX_ROW,
                    {"path": "legacy/Dockerfile", "status": "failed", "error": "legacy/Dockerfile: no FROM"},
                ],
            },
            {
                "name": "broken",
                "status": "failed",
                "reason": "Dockerfile: no FROM",
                "files": [{"path": "Dockerfile", "status": "failed", "error": "Dockerfile: no FROM"}],
            },
        ],
    )
    page = render(db, "html", tmp_path)
    assert '<div class="card bad"><b>2</b>Dockerfiles failed</div>' in page
    assert '<div class="card bad"><b>1</b>failed</div>' in page  # repos failed: the half-fixed repo is not one
    md = render(db, "md", tmp_path)
    assert "| Dockerfiles | 3 |" in md and "| Dockerfiles failed | 2 |" in md and "| Failed | 1 |" in md


def test_headline_says_measured_or_estimated_and_over_how_many(st, tmp_path):
    md = cli("report", "--state", st).stdout
    # 3 measured (2.5 + 1.4 + 2.9 GB), 2 estimated of the 5 fixed
    assert (
        "**Measured saving 6.8 GB over 3 of 5 fixed repos; estimated 1.1 GB–2.9 GB over 2 more "
        "(offline estimate, not built).**"
    ) in md
    page = render(st, "html", tmp_path)
    assert '<p class="headline" id="headline">Measured saving 6.8 GB over 3 of 5 fixed repos;' in page
    db = state_with(tmp_path / "e.db", ESTIMATED_ONLY)
    assert "**Estimated saving 1.5 GB–3.0 GB over 3 of 3 fixed repos (offline estimate, not built).**" in render(
        db, "md", tmp_path
    )
    h = json.loads(render(db, "json", tmp_path))["totals"]["headline"]
    assert h["kind"] == "estimated" and h["estimated_repos"] == 3 and h["measured_repos"] == 0


def test_pull_requests_and_build_engines_are_shown(tmp_path):
    built = [
        {**FIX_ROW, "engine": "unix:///run/dockerd-a.sock", "measured_before": 2 * GB, "measured_after": GB},
        {
            **FIX_ROW,
            "path": "gpu/Dockerfile",
            "engine": "unix:///run/dockerd-b.sock",
            "engine_retries": 1,
            "measured_before": 2 * GB,
            "measured_after": GB,
        },
    ]
    db = state_with(
        tmp_path / "s.db",
        [
            {
                "name": "org/opened",
                "status": "fixed",
                "commit_sha": "c" * 40,
                "branch": "slimml/slim-images",
                "pr_url": "https://github.com/org/opened/pull/7",
                "pr_number": 7,
                "pr_state": "opened",
                "pushed_sha": "c" * 40,
                "measured_before": 4 * GB,
                "measured_after": 2 * GB,
                "files": built,
            },
            {
                "name": "org/refused",
                "status": "fixed",
                "commit_sha": "d" * 40,
                "branch": "slimml/slim-images",
                "pr_state": "failed",
                "publish_error": "push rejected: protected branch",
                "est_low": GB,
                "est_high": GB,
            },
            {"name": "org/plain", "status": "unchanged", "files": [{**FIX_ROW, "status": "unchanged", "fixes": {}}]},
        ],
    )
    md = render(db, "md", tmp_path)
    assert "| note | pull request |" in md
    assert "| opened: https://github.com/org/opened/pull/7 |" in md
    assert "| failed: push rejected: protected branch |" in md
    assert "| org/refused |  | publish: push rejected: protected branch |" in md  # listed with the failures
    assert "## Build engines" in md and "| unix:///run/dockerd-a.sock | 1 | 0 |" in md
    assert "| unix:///run/dockerd-b.sock | 1 | 1 |" in md
    page = render(db, "html", tmp_path)
    assert '<a href="https://github.com/org/opened/pull/7">opened: https://github.com/org/opened/pull/7</a>' in page
    assert 'id="engines"' in page and "<th>pull request</th>" in page
    js = json.loads(render(db, "json", tmp_path))
    assert js["totals"]["engines"] == {
        "unix:///run/dockerd-a.sock": {"builds": 1, "retried_here": 0},
        "unix:///run/dockerd-b.sock": {"builds": 1, "retried_here": 1},
    }
    opened = next(r for r in js["repos"] if r["name"] == "org/opened")
    assert opened["pr"] == {
        "url": "https://github.com/org/opened/pull/7",
        "number": 7,
        "state": "opened",
        "pushed": "c" * 40,
        "error": None,
    }
    assert [f["engine_retries"] for f in opened["files"]] == [0, 1]
    # without pull requests or engines: no such column or table
    plain = render(state_with(tmp_path / "p.db", ESTIMATED_ONLY), "md", tmp_path)
    assert "pull request" not in plain and "Build engines" not in plain


@pytest.mark.usefixtures("needs_chromium")
def test_estimated_only_page_draws_no_measured_colour_in_chromium(tmp_path):
    """Before issue 12 the legend always drew the measured swatches; now nothing measured means no
    measured colour anywhere on the rendered page, while the hatch is there."""
    db = state_with(
        tmp_path / "e.db",
        ESTIMATED_ONLY
        + [{"name": "no-number", "status": "fixed", "commit_sha": "c" * 40, "branch": "slimml/slim-images"}],
    )
    out = tmp_path / "report.html"
    assert cli("report", "--state", db, "--format", "html", "-o", out).exit_code == 0
    shot = tmp_path / "shot.png"
    cp = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", out.as_uri())
    assert shot.exists(), cp.stderr.decode(errors="replace")[-2000:]
    png = decode_png(shot.read_bytes())
    assert solid_pixels(png, hex_rgb(report_html.MEASURED_BEFORE)) == 0
    assert solid_pixels(png, hex_rgb(report_html.MEASURED_AFTER)) == 0
    assert count_color(png, (0xD4, 0xA7, 0x2C), tol=25) > 3 * 18 * 20
    dom = chromium(tmp_path, "--dump-dom", out.as_uri()).stdout.decode()
    assert re.search(r'id="unquantified">[^<]*no-number', dom)
