"""What ships in the final image (semantics.ship), and cache findings in stages that never ship:
severity info, a 0-byte estimate, the fix kept."""

from __future__ import annotations

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.engine import fix_text
from slimml.semantics import ship as SH

PIP = "RUN pip install flask\n"


def _ships(text: str, stage: int, path: str | None = "/root/.cache/pip") -> bool:
    return SH.path_ships(parse(text), stage, path).ships


@pytest.mark.parametrize(
    "text,ships",
    [
        # not used by the final image at all
        ('FROM python:3.11 AS builder\nRUN x\nFROM python:3.11-slim\nCMD ["x"]\n', False),
        # the final image is built FROM it
        ('FROM python:3.11 AS builder\nRUN x\nFROM builder AS final\nCMD ["x"]\n', True),
        # copied wholesale, in every spelling of the root
        ("FROM python:3.11 AS builder\nFROM scratch\nCOPY --from=builder / /\n", True),
        ("FROM python:3.11 AS builder\nFROM scratch\nCOPY --from=builder . /\n", True),
        ("FROM python:3.11 AS builder\nFROM scratch\nCOPY --from=BUILDER ./ /x/\n", True),
        ('FROM python:3.11 AS builder\nFROM scratch\nCOPY ["--from=builder", "/", "/"]\n', False),  # no flag in JSON
        # by index
        ("FROM python:3.11\nFROM python:3.11-slim\nCOPY --from=0 / /\n", True),
        # a partial copy elsewhere does not take the cache; an ancestor or a part of it does
        ("FROM python:3.11 AS builder\nFROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\n", False),
        ("FROM python:3.11 AS builder\nFROM python:3.11-slim\nCOPY --from=builder /root /root\n", True),
        ("FROM python:3.11 AS builder\nFROM python:3.11-slim\nCOPY --from=builder /root/.cache/pip/wheels /w\n", True),
        # what cannot be told counts as shipping
        ("ARG S=builder\nFROM python:3.11 AS builder\nFROM python:3.11-slim\nCOPY --from=${S} /opt /opt\n", True),
        ("FROM python:3.11 AS builder\nFROM python:3.11-slim\nCOPY --from=builder /ro*t /r\n", True),
        # mounts read the stage: their source is what a RUN can take
        (
            "FROM python:3.11 AS builder\nFROM python:3.11-slim\n"
            "RUN --mount=type=bind,from=builder,source=/wheels,target=/w pip install /w/*\n",
            False,
        ),
        (
            "FROM python:3.11 AS builder\nFROM python:3.11-slim\nRUN --mount=from=builder,target=/b cp -r /b/root /\n",
            True,
        ),
    ],
)
def test_path_ships(text, ships):
    assert _ships(text, 0) is ships


def test_shipping_passes_through_chains_and_stops_at_non_shipping_consumers():
    text = (
        "FROM python:3.11 AS base\n"  # 0: base of 1
        "FROM base AS builder\n"  # 1: copied wholesale by the final stage
        "FROM python:3.11 AS tools\n"  # 2: copied from only by 3, which does not ship
        "FROM python:3.11 AS scratchpad\nCOPY --from=tools / /\n"  # 3
        "FROM python:3.11-slim\nCOPY --from=builder / /\n"
    )
    doc = parse(text)
    assert [SH.stage_ships(doc, i).ships for i in range(5)] == [True, True, False, False, True]
    assert "built FROM it" in SH.stage_ships(doc, 0).reason


def test_partly_shipping_stage_makes_what_it_copies_from_ship():
    # `mid` ships only /app; its COPY --from=deps could land in /app: deps counts as shipping.
    text = (
        "FROM python:3.11 AS deps\nFROM python:3.11 AS mid\nCOPY --from=deps /x /app/x\n"
        "FROM python:3.11-slim\nCOPY --from=mid /app /app\n"
    )
    assert _ships(text, 0) is True and _ships(text, 1) is False and _ships(text, 1, "/app/x") is True


def test_unknown_cache_place_ships_when_anything_is_copied():
    text = "FROM python:3.11 AS builder\nFROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\n"
    assert _ships(text, 0, None) is True
    assert _ships("FROM python:3.11 AS builder\nFROM python:3.11-slim\n", 0, None) is False


def _cache_findings(text: str):
    result = fix_text(text, Context(settings=Settings(select=("SLM001", "SLM002"))))
    assert not result.reverted and not result.nonconverged
    return result


def test_pip_cache_in_a_builder_is_info_with_zero_saving_and_keeps_its_fix():
    text = (
        "FROM python:3.11 AS builder\nRUN pip install flask\n"
        "FROM python:3.11-slim\nCOPY --from=builder /usr/local/lib/python3.11 /usr/local/lib/python3.11\n"
        "RUN pip install requests\n"
    )
    r = _cache_findings(text)
    builder, final = r.findings
    assert (builder.severity, builder.estimate) == ("info", (0, 0))
    assert "does not ship in the final image: build-cache hygiene only" in builder.message
    assert builder.fix is not None and "--no-cache-dir" in r.output.splitlines()[1]
    assert final.severity == "warning" and final.estimate is not None and final.estimate[1] > 0
    low, high, bases = r.estimated_savings()
    assert (low, high) == final.estimate  # the builder adds 0
    assert any("build-cache hygiene only" in b for b in bases)


@pytest.mark.parametrize(
    "final",
    [
        "FROM builder\n",
        "FROM python:3.11-slim\nCOPY --from=builder / /\n",
        "FROM python:3.11-slim\nCOPY --from=builder /root/.cache /root/.cache\n",
    ],
)
def test_pip_cache_in_a_shipping_stage_keeps_its_size(final):
    r = _cache_findings("FROM python:3.11 AS builder\nRUN pip install flask\n" + final)
    assert [(f.code, f.severity) for f in r.findings] == [("SLM001", "warning")]
    assert r.findings[0].estimate is not None and r.findings[0].estimate[1] > 0


def test_cache_of_another_user_or_moved_cache_is_not_claimed_away():
    # A non-root user's or an XDG cache: where it lives is not known, so a partial copy may take it.
    for extra in ("USER app\n", "ENV XDG_CACHE_HOME=/opt/venv/cache\n"):
        text = (
            f"FROM python:3.11 AS builder\n{extra}RUN pip install flask\n"
            "FROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\n"
        )
        assert [f.severity for f in _cache_findings(text).findings] == ["warning"], extra
    # PIP_CACHE_DIR inside what ships
    text = (
        "FROM python:3.11 AS builder\nENV PIP_CACHE_DIR=/opt/venv/.pipcache\nRUN pip install flask\n"
        "FROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\n"
    )
    assert [f.severity for f in _cache_findings(text).findings] == ["warning"]


def test_uv_and_conda_findings_in_a_builder_are_info():
    text = (
        "FROM python:3.11 AS builder\nRUN uv pip install --system flask\n"
        "RUN conda install -y numpy\n"
        "FROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\n"
    )
    r = _cache_findings(text)
    sev = {f.message.split("`")[1]: f.severity for f in r.findings}
    assert sev["uv pip install"] == "info"
    assert sev["conda install"] == "warning"  # conda's pkgs dir sits under an unknown prefix: may be copied


def test_apt_lists_in_a_builder_are_info():
    text = (
        "FROM python:3.11 AS builder\nRUN apt-get update && apt-get install -y --no-install-recommends gcc\n"
        "FROM python:3.11-slim\nCOPY --from=builder /usr/bin/gcc /usr/bin/gcc\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends curl\n"
    )
    r = _cache_findings(text)
    lists = [f for f in r.findings if "package lists" in f.message]
    assert [(f.severity, f.estimate == (0, 0)) for f in lists] == [("info", True), ("warning", False)]


@pytest.mark.parametrize(
    "flag,severity",
    [
        ("--cache-dir=/opt/venv/.c", "warning"),  # inside what ships
        ("--cache-dir /opt/venv/.c", "warning"),
        ("--cache-dir=/tmp/c", "info"),
        ("--cache-dir=$C", "warning"),  # not known
    ],
)
def test_cache_dir_flag_decides_where_the_cache_is(flag, severity):
    text = (
        f"FROM python:3.11 AS builder\nRUN pip install {flag} flask\n"
        "FROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\n"
    )
    assert [f.severity for f in _cache_findings(text).findings] == [severity]
