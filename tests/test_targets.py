"""The seed's targets (< 3 GB, cold build < 5 min): the verdicts at their boundaries, and how
`slimml measure` (text / markdown / JSON) and the migration report (markdown / JSON / HTML) show them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.knowledge import targets as tg
from slimml.measure import engine as E
from slimml.measure.report import to_json, to_markdown, to_text
from slimml.measure.run import ImageReport, MeasureReport
from slimml.migrate import report as R
from slimml.migrate import state

GB = 1_000_000_000


# -- verdicts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size,met",
    [(2_999_999_999, True), (3 * GB, False), (3 * GB + 1, False), (0, True)],
)
def test_size_target_is_strictly_under_3_decimal_gb(size, met):
    assert tg.SIZE_TARGET_BYTES == 3_000_000_000
    assert tg.size_verdict(size)["met"] is met


@pytest.mark.parametrize("seconds,met", [(299.0, True), (299.99, True), (300.0, False), (301.0, False)])
def test_cold_build_target_is_strictly_under_5_minutes(seconds, met):
    assert tg.build_verdict(seconds, cold=True)["met"] is met


@pytest.mark.parametrize("seconds", [10.0, 301.0])
def test_a_warm_build_is_not_judged_either_way(seconds):
    v = tg.build_verdict(seconds, cold=False)
    assert v == {"met": None, "why": "not judged: warm build"}
    assert tg.build_verdict(seconds, cold=None)["met"] is None  # not recorded: not cold


def test_both_needs_both_judged_and_met():
    assert tg.judge(GB, 100.0, True)["both"] is True
    assert tg.judge(GB, 100.0, False)["both"] is None  # size met, build not judged: unknown
    assert tg.judge(4 * GB, 100.0, False)["both"] is False  # the size alone decides it
    assert tg.judge(GB, 400.0, True)["both"] is False
    assert tg.judge(None, None, None) == {
        "size": {"met": None, "why": "not measured"},
        "build": {"met": None, "why": "not measured"},
        "both": None,
    }


# -- slimml measure ---------------------------------------------------------------------------------
def _img(label: str, size: int, seconds: float, cold: bool) -> ImageReport:
    return ImageReport(
        label, f"t:{label}", f"sha256:{label}", size, seconds, cold, "classic", "python:3.11",
        [E.Layer("(imported filesystem)", size, True)], 3, 0 if cold else 2,
    )  # fmt: skip


def _measured(cold: bool) -> MeasureReport:
    return MeasureReport(
        dockerfile="/p/Dockerfile",
        before=_img("before", 3 * GB, 301.0, cold),  # exactly 3 GB: not under
        after=_img("after", 2_999_999_999, 299.0, cold),
    )


def test_measure_json_has_targets_before_and_after():
    j = to_json(_measured(cold=True))
    assert j["before"]["targets"] == {
        "size": {"met": False, "why": "not under 3 GB"},
        "build": {"met": False, "why": "cold build not under 5 min"},
        "both": False,
    }
    assert j["after"]["targets"]["both"] is True
    json.dumps(j)


def test_measure_text_and_markdown_show_the_targets():
    text = to_text(_measured(cold=True))
    assert "targets   before  < 3 GB: no; cold build < 5 min: no; both: no" in text
    assert "targets   after   < 3 GB: yes; cold build < 5 min: yes; both: yes" in text
    md = to_markdown(_measured(cold=True))
    assert "| < 3 GB | no | yes | |" in md and "| cold build < 5 min | no | yes | |" in md


def test_measure_with_the_cache_does_not_judge_build_time():
    r = _measured(cold=False)
    assert "targets   after   < 3 GB: yes; cold build < 5 min: not judged: warm build; both: -" in to_text(r)
    assert "| cold build < 5 min | not judged: warm build | not judged: warm build | |" in to_markdown(r)
    assert to_json(r)["after"]["targets"]["build"]["met"] is None


def test_measure_of_the_original_only_still_judges_it():
    r = MeasureReport(dockerfile="/p/Dockerfile", before=_img("before", 4 * GB, 10.0, True))
    assert "targets   before  < 3 GB: no; cold build < 5 min: yes; both: no" in to_text(r)
    assert to_json(r)["after"] is None


# -- migration report -------------------------------------------------------------------------------
def _row(path: str, before: int | None, after: int | None, builds: dict | None = None) -> dict:
    return {
        "path": path,
        "status": "fixed",
        "findings": {"SLM001": 1},
        "fixes": {"SLM001": 1},
        "unfixed": {},
        "measured_before": before,
        "measured_after": after,
        "builds": builds,
        "est_low": None if before else GB // 10,
        "est_high": None if before else GB // 5,
    }


def _cold(b: float, a: float) -> dict:
    return {"before": {"seconds": b, "cold": True}, "after": {"seconds": a, "cold": True}}


def make_fleet(path: Path) -> None:
    conn = state.connect(path)
    state.init(conn)
    repos = {
        # 4.2 GB / 400 s -> 1.3 GB / 200 s: meets both after only
        "ml/big": [_row("Dockerfile", int(4.2 * GB), int(1.3 * GB), _cold(400.0, 200.0))],
        # two images: one meets both before and after; one under 3 GB but built with the cache
        "ml/two": [
            _row("api/Dockerfile", int(1.0 * GB), int(0.5 * GB), _cold(100.0, 90.0)),
            _row(
                "worker/Dockerfile",
                int(2.0 * GB),
                int(1.0 * GB),
                {"before": {"seconds": 50.0, "cold": False}, "after": {"seconds": 40.0, "cold": False}},
            ),
        ],
        # fixed, not built: an offline estimate only (not counted)
        "ml/estimated": [_row("Dockerfile", None, None)],
    }
    for name, rows in repos.items():
        rid = state.add_repo(conn, f"/fleet/{name}", f"/fleet/{name}", name, None)
        measured = [r for r in rows if r["measured_before"] is not None]
        state.finish(
            conn,
            rid,
            rows,
            status="fixed",
            dockerfiles=len(rows),
            findings=len(rows),
            fixes=len(rows),
            patch=f"/p/{name.replace('/', '-')}.patch",
            measured_before=sum(r["measured_before"] for r in measured) if measured else None,
            measured_after=sum(r["measured_after"] for r in measured) if measured else None,
            est_low=None if measured else GB // 10,
            est_high=None if measured else GB // 5,
        )
    conn.close()


@pytest.fixture
def fleet(tmp_path):
    p = tmp_path / "migrate.db"
    make_fleet(p)
    return p


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_state_keeps_the_build_times(fleet):
    conn = state.connect(fleet, readonly=True)
    files = {f["path"]: f for f in state.files(conn)}
    assert files["worker/Dockerfile"]["builds"]["after"] == {"seconds": 40.0, "cold": False}
    assert files["api/Dockerfile"]["builds"] == _cold(100.0, 90.0)


def test_report_json_counts_the_fleet(fleet):
    r = cli("report", "--state", fleet, "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    t = data["totals"]["targets"]
    assert t["images"] == 3 and t["not_built"] == 1
    assert t["before"] == {"size": 2, "build": 1, "both": 1, "build_judged": 2}
    assert t["after"] == {"size": 3, "build": 2, "both": 2, "build_judged": 2}
    repos = {x["name"]: x for x in data["repos"]}
    assert repos["ml/estimated"]["targets"] == {
        "images": 0,
        **{s: dict.fromkeys(t["before"], 0) for s in ("before", "after")},
    }
    big = repos["ml/big"]["files"][0]["targets"]
    assert big["before"]["both"] is False and big["after"]["both"] is True
    worker = {f["path"]: f for f in repos["ml/two"]["files"]}["worker/Dockerfile"]["targets"]
    assert (
        worker["after"]["build"] == {"met": None, "why": "not judged: warm build"} and worker["after"]["both"] is None
    )


def test_report_markdown_has_the_fleet_line_and_per_repo_cells(fleet):
    md = cli("report", "--state", fleet).stdout
    assert (
        "Targets: Of 3 measured images, meeting both targets (< 3 GB, cold build < 5 min): before 1, after 2; "
        "< 3 GB: before 2, after 3; cold build < 5 min: before 1, after 2; build time not judged for 1 of 3"
    ) in md
    assert "1 fixed Dockerfile(s) not built are not counted (an offline estimate is of bytes saved" in md
    assert "| targets (before → after) |" in md
    assert "| < 3 GB 0/1 → 1/1; cold < 5 min 0/1 → 1/1 |" in md  # ml/big
    assert "| < 3 GB 2/2 → 2/2; cold < 5 min 1/1 → 1/1 |" in md  # ml/two: one warm image not judged
    est = next(line for line in md.splitlines() if line.startswith("| ml/estimated |"))
    assert "(est.) | - |" in est


def test_report_html_shows_the_targets(fleet, tmp_path):
    out = tmp_path / "r.html"
    assert cli("report", "--state", fleet, "--format", "html", "-o", out).exit_code == 0
    page = out.read_text()
    assert '<p class="targets" id="targets">Targets: Of 3 measured images' in page
    assert "<th>targets (before → after)</th>" in page
    assert "&lt; 3 GB 0/1 → 1/1; cold &lt; 5 min 0/1 → 1/1" in page


def test_report_without_builds_says_nothing_about_targets(tmp_path):
    p = tmp_path / "m.db"
    conn = state.connect(p)
    state.init(conn)
    rid = state.add_repo(conn, "/r", "/r", "r", None)
    state.finish(conn, rid, [], status="unchanged")
    conn.close()
    data = R.collect(state.connect(p, readonly=True), p)
    assert data["totals"]["targets"]["images"] == 0
    assert "Targets:" not in R.markdown(data) and 'id="targets"' not in R.html(data)


def test_older_state_without_build_times_judges_size_only(fleet):
    conn = state.connect(fleet)
    conn.execute("UPDATE files SET builds=NULL")
    conn.close()
    data = R.collect(state.connect(fleet, readonly=True), fleet)
    t = data["totals"]["targets"]
    assert t["after"]["size"] == 3 and t["after"]["build_judged"] == 0 and t["after"]["both"] == 0
    assert "| < 3 GB 0/1 → 1/1; build time not judged |" in R.markdown(data)


@pytest.mark.parametrize("cold", [False, True])
def test_migrate_measure_records_its_build_times(monkeypatch, tmp_path, cold):
    """migrate --measure builds with the cache unless --cold-builds; the times are recorded with that."""
    import slimml.measure.run as run
    from slimml.migrate import measuring

    def fake(dockerfile, opts, ui=None, client=None):
        return MeasureReport(
            dockerfile=str(dockerfile),
            before=_img("before", 2 * GB, 120.0, opts.cold),
            after=_img("after", GB, 60.0, opts.cold),
        )

    monkeypatch.setattr(run, "run_measure", fake)
    out = measuring.measure_one(tmp_path / "Dockerfile", tmp_path / "c.toml", (), (), None, None, cold=cold)
    assert out["before"] == 2 * GB and out["after"] == GB
    assert out["builds"] == {"before": {"seconds": 120.0, "cold": cold}, "after": {"seconds": 60.0, "cold": cold}}
    judged = R.file_targets({"measured_before": out["before"], "measured_after": out["after"], "builds": out["builds"]})
    assert judged["after"]["both"] is (True if cold else None)


def test_cold_builds_needs_measure(tmp_path):
    r = CliRunner().invoke(main, ["migrate", str(tmp_path), "--cold-builds", "--state", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "--cold-builds is for --measure" in r.output
    assert not (tmp_path / "s.db").exists()


# -- a real engine: the verdicts of a real cold and a real warm measurement ------------------------
@pytest.mark.docker
@pytest.mark.parametrize("cache_flag", ["--cold", "--use-cache"])
def test_measure_judges_a_real_build(tmp_path, cache_flag):
    """A tiny image, built without network (the two files differ in a space only, so both build): under 3 GB,
    and its build time judged only when cold."""
    (tmp_path / "Dockerfile").write_text('FROM python:3.11-slim\nRUN echo one > /one\nCMD ["python3", "-c", "1"]\n')
    (tmp_path / "Dockerfile.b").write_text('FROM python:3.11-slim\nRUN echo one >/one\nCMD ["python3", "-c", "1"]\n')
    r = cli("measure", tmp_path / "Dockerfile", "--after", tmp_path / "Dockerfile.b", "--no-rebuild", cache_flag,
            "--format", "json")  # fmt: skip
    j = json.loads(r.stdout)
    assert j["before"] is not None and j["after"] is not None, r.output
    for side in ("before", "after"):
        t = j[side]["targets"]
        assert t["size"] == {"met": True, "why": "under 3 GB"}, t
        if cache_flag == "--cold":
            assert j[side]["cold"] is True and t["build"]["met"] is (j[side]["build_seconds"] < 300), t
        else:
            assert t["build"] == {"met": None, "why": "not judged: warm build"} and t["both"] is None


def test_the_fleet_line_counts_one_image_in_the_singular():
    from slimml.migrate import report as rp

    verdict = tg.judge(1_000_000, 10.0, True)
    counted = rp.count_targets([{"before": verdict, "after": verdict}])
    assert rp.targets_text(counted, 0).startswith("Of 1 measured image, meeting both targets")
