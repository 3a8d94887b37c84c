"""Focused tests for SLM002 apt-hygiene: flag parsing, where `apt-get update &&` may go, styles."""

from __future__ import annotations

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.engine import Applicability, fix_text
from slimml.rules import apt_hygiene as R


def _calls(line: str):
    doc = parse(f"FROM debian\nRUN {line}\n")
    return doc, R.run_calls(doc, doc.instructions[1])


def _install(line: str):
    _, calls = _calls(line)
    return next(c for c in calls if c.sub == "install")


def _findings(text: str, unsafe: bool = False):
    ctx = Context(settings=Settings(select=("SLM002",), unsafe_fixes=unsafe))
    doc = parse(text)
    return list(R.check(doc, ctx))


def _fix(text: str, unsafe: bool = False) -> str:
    ctx = Context(settings=Settings(select=("SLM002",), unsafe_fixes=unsafe))
    result = fix_text(text, ctx)
    assert not result.reverted and not result.nonconverged
    again = fix_text(result.output, ctx)
    assert again.output == result.output, "not idempotent"
    return result.output


@pytest.mark.parametrize(
    "line",
    [
        "apt-get install -y x",
        "apt-get install --yes x",
        "apt-get --assume-yes install x",
        "apt-get -qq install x",
        "apt-get -q -q install x",
        "apt-get -q=2 install x",
        "apt-get --quiet=2 install x",
        "apt-get install -qy x",
        "apt-get -yq install x",
        "apt-get -o APT::Get::Assume-Yes=true install x",
        "apt-get -oAPT::Get::Assume-Yes=1 install x",
        "yes | apt-get install x",
    ],
)
def test_assumes_yes(line):
    assert R.apt_assumes_yes(_install(line))


@pytest.mark.parametrize(
    "line",
    [
        "apt-get install x",
        "apt-get -q install x",
        "apt-get -tbookworm-backports install x",  # the y is in the value of -t
        "apt-get -t yakkety install x",
        "apt-get -o Foo::yes=y install x",
        "apt-get install --force-yes x",  # does not answer the prompt
        "echo y | apt-get install x",
    ],
)
def test_does_not_assume_yes(line):
    assert not R.apt_assumes_yes(_install(line))


@pytest.mark.parametrize(
    "line,expected",
    [
        ("apt-get install --no-install-recommends x", True),
        ("apt-get -o APT::Install-Recommends=false install x", True),
        ("apt-get -o=APT::Install-Recommends=0 install x", True),
        ("apt-get install x", False),
        ("apt-get -o APT::Install-Recommends=true install x", False),
    ],
)
def test_no_recommends(line, expected):
    assert R.apt_no_recommends(_install(line)) is expected


def test_classify_strips_wrappers_and_finds_subcommand_after_option_values():
    c = _install("sudo -u root env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=3 install -y x")
    assert c.tool == "apt-get" and c.sub == "install"
    assert c.privilege_prefix() == "sudo "
    _, calls = _calls("dnf -y --setopt tsflags=nodocs group install 'Development Tools'")
    assert calls[0].sub == "install" and calls[0].sub_word.value == "install"


@pytest.mark.parametrize(
    "line,before",
    [
        ("a && apt-get install -y x", "apt-get install"),
        ("DEBIAN_FRONTEND=noninteractive apt-get install -y x", "DEBIAN_FRONTEND"),
        ("yes | apt-get install x > /dev/null", "yes |"),
        ("! apt-get install -y x", "! apt-get"),
        ("apt-get install -y x || true", "apt-get install"),
        ("a; b && apt-get install -y x || true", "apt-get install"),
    ],
)
def test_insertion_point(line, before):
    doc, _ = _calls(line)
    c = _install(line)
    at = R.insertion_point(c.cmd)
    assert doc.text[at:].startswith(before)


def test_no_insertion_point_after_or():
    # `a || apt-get update && apt-get install` would be `(a || update) && install`: update skipped.
    assert R.insertion_point(_install("a || apt-get install -y x").cmd) is None
    text = "FROM debian\nRUN a || apt-get install -y --no-install-recommends x\n"
    f = [f for f in _findings(text) if "apt-get update" in f.message and "relies" in f.message]
    assert len(f) == 1 and f[0].fix is None and f[0].note


def test_merge_into_heredoc_install():
    text = (
        "# syntax=docker/dockerfile:1\nFROM debian\nRUN apt-get update\nRUN <<EOF\nset -e\n"
        "apt-get install -y --no-install-recommends x\nEOF\n"
    )
    assert _fix(text) == (
        "# syntax=docker/dockerfile:1\nFROM debian\nRUN <<EOF\nset -e\n"
        "apt-get update && apt-get install -y --no-install-recommends x\n"
        "rm -rf /var/lib/apt/lists/*\nEOF\n"
    )


def test_lone_update_with_other_flags_is_not_merged():
    text = (
        "FROM debian\nRUN --mount=type=secret,id=netrc apt-get update\n"
        "RUN apt-get install -y --no-install-recommends x\n"
    )
    out = _fix(text)
    # Not merged (the install RUN lacks the secret); each RUN cleans up after itself.
    assert out == (
        "FROM debian\nRUN --mount=type=secret,id=netrc apt-get update && rm -rf /var/lib/apt/lists/*\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends x && rm -rf /var/lib/apt/lists/*\n"
    )


def test_update_already_in_install_run_just_drops_the_lone_one():
    text = "FROM debian\nRUN apt-get update\nRUN apt-get update && apt-get install -y --no-install-recommends x\n"
    assert _fix(text) == (
        "FROM debian\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends x && rm -rf /var/lib/apt/lists/*\n"
    )


def test_rm_withheld_when_a_derived_stage_relies_on_the_lists():
    text = (
        "FROM debian AS base\nRUN apt-get update && apt-get install -y --no-install-recommends x\n"
        'FROM base AS more\nRUN ["apt-get", "install", "-y", "y"]\n'
    )
    f = [f for f in _findings(text) if "/var/lib/apt/lists" in f.message]
    assert len(f) == 1 and f[0].fix is None and "line 4" in f[0].note
    # An unrelated stage does not hold it back.
    text2 = text.replace("FROM base AS more", "FROM debian AS more")
    f2 = [f for f in _findings(text2) if "/var/lib/apt/lists" in f.message]
    assert len(f2) == 1 and f2[0].fix is not None


def test_recommends_is_unsafe_with_reason_and_lands_after_yes():
    text = "FROM debian\nRUN apt-get update && apt-get install curl && rm -rf /var/lib/apt/lists/*\n"
    rec = [f for f in _findings(text) if "recommend" in f.message]
    assert len(rec) == 1 and rec[0].fix.applicability is Applicability.UNSAFE
    assert "ca-certificates" in rec[0].fix.reason
    assert _fix(text) == text.replace("install curl", "install -y curl")
    assert _fix(text, unsafe=True) == text.replace("install curl", "install -y --no-install-recommends curl")


def test_apt_conf_written_earlier_exempts_recommends_in_derived_stage():
    text = (
        "FROM debian AS base\n"
        "RUN echo 'APT::Install-Recommends \"false\";' > /etc/apt/apt.conf.d/00norec\n"
        "FROM base\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n"
    )
    assert _findings(text) == []


@pytest.mark.parametrize(
    "body,expected_tail",
    [
        # `&&` at the start of lines: the same, at the indentation of the last `&&` line.
        (
            "apt-get update \\\n    && apt-get install -y --no-install-recommends \\\n        a \\\n        b\n",
            "        b \\\n    && rm -rf /var/lib/apt/lists/*\n",
        ),
        # `&&` at the end of lines: the same.
        (
            "apt-get update && \\\n  apt-get install -y --no-install-recommends \\\n      a\n",
            "      a && \\\n  rm -rf /var/lib/apt/lists/*\n",
        ),
    ],
)
def test_append_follows_continuation_style(body, expected_tail):
    out = _fix(f"FROM debian\nRUN {body}")
    assert out.endswith(expected_tail)


def test_crlf_and_escape_directive():
    text = (
        "# escape=`\r\nFROM debian\r\nRUN apt-get update && apt-get install -y --no-install-recommends `\r\n    x\r\n"
    )
    assert _fix(text) == (
        "# escape=`\r\nFROM debian\r\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends `\r\n    x `\r\n    && rm -rf /var/lib/apt/lists/*\r\n"
    )


def test_exec_form_and_strings_are_ignored():
    text = (
        'FROM debian\nRUN ["apt-get", "install", "x"]\n'
        "RUN echo 'apt-get install x' && printf '%s' \"apt-get update\"\n"
    )
    assert _findings(text) == []


def test_offline_install_gets_no_update_and_keeps_earlier_lists():
    text = (
        "FROM debian\nRUN apt-get update && apt-get install -y --no-install-recommends x\n"
        "RUN --network=none apt-get install -y --no-install-recommends ./local.deb\n"
    )
    fs = _findings(text)
    upd = [f for f in fs if "relies on package lists" in f.message]
    assert len(upd) == 1 and upd[0].fix is None and "--network=none" in upd[0].note
    rm = [f for f in fs if "/var/lib/apt/lists" in f.message and f.start < text.index("--network")]
    assert len(rm) == 1 and rm[0].fix is None and "line 3" in rm[0].note


# -- later steps that read the lists (semantics.apt) -------------------------------------------------
def _fix_in(tmp_path, dockerfile: str, files: dict[str, str] | None = None) -> str:
    for name, text in (files or {}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    df = tmp_path / "Dockerfile"
    df.write_text(dockerfile)
    ctx = Context(settings=Settings(select=("SLM002",)), dockerfile=df, context_dir=tmp_path)
    out = fix_text(dockerfile, ctx).output
    ctx2 = Context(settings=Settings(select=("SLM002",)), dockerfile=df, context_dir=tmp_path)
    assert fix_text(out, ctx2).output == out, "not idempotent"
    return out


LISTS = "rm -rf /var/lib/apt/lists/*"


@pytest.mark.parametrize(
    "later,files",
    [
        # a script from the build context that installs without an update of its own
        ("COPY install.sh /install.sh\nRUN sh /install.sh", {"install.sh": "set -e\napt-get install -y curl\n"}),
        (
            "COPY scripts/ /opt/scripts/\nRUN bash /opt/scripts/setup.sh --fast",
            {"scripts/setup.sh": "#!/bin/bash\nif true; then apt-get install -y jq; fi\n"},
        ),
        (
            "COPY . /src\nWORKDIR /src\nRUN ./tools/bootstrap",
            {"tools/bootstrap": "#!/bin/sh\nexec apt-get -y install git\n"},
        ),
        ('COPY install.sh /install.sh\nRUN ["/bin/sh", "/install.sh"]', {"install.sh": "apt-get install -y curl\n"}),
        # nested: a script that runs another script
        ("COPY a.sh b.sh /s/\nRUN sh /s/a.sh", {"a.sh": "sh /s/b.sh\n", "b.sh": "apt-get install -y zip\n"}),
        # python and make are read as text
        (
            "COPY setup_env.py /setup_env.py\nRUN python3 /setup_env.py",
            {"setup_env.py": "import subprocess\nsubprocess.run(['apt-get', 'install', '-y', 'git'])\n"},
        ),
        (
            "COPY Makefile /w/Makefile\nWORKDIR /w\nRUN make deps",
            {"Makefile": "deps:\n\tapt-get install -y libpq-dev\n"},
        ),
        # sh -c text is shell
        ("RUN sh -c 'apt-cache policy curl'", {}),
        # code slimml cannot see: a script piped from the network, one a RUN wrote, one it cannot find
        ("RUN curl -fsSL https://deb.nodesource.com/setup_20.x | bash -", {}),
        ("RUN echo 'apt-get install -y x' > /x.sh && sh /x.sh", {}),
        ("RUN /opt/vendor/install-deps", {}),
        ('RUN eval "$INSTALL"', {}),
        # reads the lists, and this rule adds no update before it
        ("RUN apt list --upgradable", {}),
        # the running container: an entrypoint script, an ONBUILD trigger
        (
            'COPY entrypoint.sh /entrypoint.sh\nENTRYPOINT ["/entrypoint.sh"]',
            {"entrypoint.sh": '#!/bin/sh\napt-get install -y "$EXTRA"\nexec "$@"\n'},
        ),
        ("ONBUILD RUN apt-get install -y curl", {}),
    ],
)
def test_lists_stay_when_a_later_step_reads_them(tmp_path, later, files):
    src = f"FROM debian:bookworm\nRUN apt-get update\n{later}\n"
    out = _fix_in(tmp_path, src, files)
    first = out.split("\n")[1]
    assert LISTS not in first, out


@pytest.mark.parametrize(
    "later,files",
    [
        # the script updates before it installs
        (
            "COPY install.sh /install.sh\nRUN sh /install.sh",
            {"install.sh": "apt-get update\napt-get install -y curl\n"},
        ),
        # plain programs and Python code without apt
        ("RUN pip install flask && useradd app", {}),
        ('COPY app.py /app.py\nCMD ["python3", "/app.py"]', {"app.py": "print('hi')\n"}),
        # a later install that this rule gives its own update
        ("RUN apt-get install -y curl", {}),
        ("RUN apt-get upgrade -y", {}),
    ],
)
def test_lists_are_removed_when_no_later_step_needs_them(tmp_path, later, files):
    src = f"FROM debian:bookworm\nRUN apt-get update && apt-get install -y tzdata\n{later}\n"
    out = _fix_in(tmp_path, src, files)
    assert LISTS in out.split("\n")[1], out


def test_a_later_upgrade_gets_its_own_update():
    out = _fix("FROM debian\nRUN apt-get update && apt-get install -y curl\nRUN apt-get upgrade -y\n")
    assert "RUN apt-get update && apt-get upgrade -y && rm -rf /var/lib/apt/lists/*" in out


def test_lone_update_is_not_moved_past_a_script_that_reads_the_lists(tmp_path):
    src = "FROM debian\nRUN apt-get update\nCOPY i.sh /i.sh\nRUN sh /i.sh && apt-get install -y curl\n"
    out = _fix_in(tmp_path, src, {"i.sh": "apt-get install -y jq\n"})
    assert out.startswith("FROM debian\nRUN apt-get update\n"), out


def test_the_lists_of_a_parent_stage_stay_for_a_child_stage_script(tmp_path):
    src = "FROM debian AS base\nRUN apt-get update\nFROM base\nCOPY i.sh /i.sh\nRUN sh /i.sh\n"
    out = _fix_in(tmp_path, src, {"i.sh": "apt-get install -y jq\n"})
    assert LISTS not in out, out


@pytest.mark.parametrize(
    "later,files",
    [
        # a script the Dockerfile puts on PATH, run by its bare name
        (
            "COPY scripts/deps.sh /usr/local/bin/install-system-deps\nRUN install-system-deps",
            {"scripts/deps.sh": "#!/bin/sh\napt-get install -y jq\n"},
        ),
        # the container's entrypoint behind an init process (tini, dumb-init)
        (
            'COPY entry.sh /usr/local/bin/entry.sh\nENTRYPOINT ["tini", "--", "entry.sh"]',
            {"entry.sh": '#!/bin/sh\n[ -n "$X" ] && apt-get install -y $X\nexec "$@"\n'},
        ),
        (
            'COPY entry.sh /entry.sh\nENTRYPOINT ["/usr/bin/dumb-init", "--", "/entry.sh"]',
            {"entry.sh": '#!/bin/sh\napt-get install -y $X\nexec "$@"\n'},
        ),
    ],
)
def test_lists_stay_for_programs_on_path_and_behind_init_processes(tmp_path, later, files):
    out = _fix_in(tmp_path, f"FROM debian:bookworm\nRUN apt-get update && apt-get install -y tini\n{later}\n", files)
    assert LISTS not in out, out


def test_a_console_script_from_another_stage_is_a_program(tmp_path):
    src = (
        "FROM python:3.11 AS build\nRUN python -m venv /opt/venv && /opt/venv/bin/pip install uvicorn\n"
        "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y libpq5\n"
        'COPY --from=build /opt/venv /opt/venv\nENV PATH=/opt/venv/bin:$PATH\nCMD ["uvicorn", "app:app"]\n'
    )
    out = _fix_in(tmp_path, src)
    assert LISTS in out, out


@pytest.mark.parametrize(
    "head,line,safe",
    [
        ("FROM debian", "apt-get purge python3-pip || true", False),  # the abort is swallowed: -y changes the image
        ("FROM debian", "if apt-get install curl; then echo ok; fi", False),
        ("FROM debian", "apt-get install curl; echo done", False),
        ("FROM debian", "apt-get install curl && echo done", True),  # the build fails today: -y repairs it
        ("FROM debian", "apt-get install curl", True),
        ("FROM debian", "set -e; apt-get install curl; echo done", True),
        ('FROM debian\nSHELL ["/bin/bash", "-e", "-c"]', "apt-get install curl; echo done", True),
        ("FROM my/unknown-base", "apt-get install curl; echo done", False),  # errexit unknown
    ],
)
def test_adding_yes_is_safe_only_where_the_prompt_fails_the_build(head, line, safe):
    fs = [f for f in _findings(f"{head}\nRUN {line}\n") if f.fix and f.fix.description == "add -y"]
    assert len(fs) == 1
    assert (fs[0].fix.applicability is Applicability.SAFE) is safe, fs[0].fix


def test_an_update_before_an_install_whose_failure_is_ignored_is_unsafe():
    fs = [
        f
        for f in _findings("FROM debian\nRUN apt-get install -y curl || true\n")
        if f.fix and "apt-get update" in f.fix.description
    ]
    assert fs and fs[0].fix.applicability is Applicability.UNSAFE
