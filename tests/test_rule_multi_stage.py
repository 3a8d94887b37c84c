"""SLM008 multi-stage: runtime packages per release, what blocks a split, what the runtime stage keeps."""

from __future__ import annotations

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.dockerfile.shell import Word
from slimml.engine import fix_text
from slimml.knowledge import apt_packages as A
from slimml.rules import multi_stage

from .oracle import assert_agrees


def _run(text: str, context=None, files: dict[str, str] | None = None):
    if files:
        for rel, body in files.items():
            p = context / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(body)
    ctx = Context(settings=Settings(select=("SLM008",), unsafe_fixes=True), context_dir=context)
    result = fix_text(text, ctx)
    assert not result.reverted and not result.nonconverged
    assert_agrees(result.output)
    return result


def _stages(out: str):
    doc = parse(out)
    return doc.stages


def _runtime_text(out: str) -> str:
    doc = parse(out)
    st = doc.stages[-1]
    return "".join(i.text(out) + "\n" for i in st.instructions)


# -- knowledge -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pkg,release,expected",
    [
        ("libssl-dev", "bookworm", ("libssl3",)),
        ("libssl-dev", "bullseye", ("libssl1.1",)),
        ("libssl-dev", "noble", ("libssl3t64",)),
        ("libssl-dev", "focal", ("libssl1.1",)),
        ("libffi-dev", "focal", ("libffi7",)),
        ("libjpeg-dev", "bookworm", ("libjpeg62-turbo",)),
        ("libjpeg-dev", "jammy", ("libjpeg-turbo8",)),
        ("libglib2.0-dev", "trixie", ("libglib2.0-0t64",)),
        ("libpq-dev", None, ("libpq5",)),  # the same everywhere: no release needed
        ("libssl-dev", None, None),  # release-dependent and no release: unknown
        ("gcc-12", "bookworm", ()),
        ("python3.11-dev", "bookworm", ()),
        ("libfoo-dev", "bookworm", None),  # an unknown -dev package: unknown, never ()
        ("libmysqlclient-dev", "bookworm", None),  # does not exist on Debian
        ("libmysqlclient-dev", "jammy", ("libmysqlclient21",)),
    ],
)
def test_runtime_packages(pkg, release, expected):
    assert A.runtime_packages(pkg, release) == expected


def test_build_only_and_package_names():
    assert A.is_build_only("build-essential") and A.is_build_only("libpq-dev") and A.is_build_only("g++-11")
    assert not A.is_build_only("libgomp1") and not A.is_build_only("python3-pip") and not A.is_build_only("curl")
    assert A.package_name("libpq-dev=15.5-0+deb12u1") == "libpq-dev"
    assert A.package_name("gcc:amd64") == "gcc"
    assert A.package_name("$BUILD_DEPS") is None and A.package_name("./local.deb") is None


def _words(*vals):
    return [Word(v, v, 0, 0, "word") for v in vals]


@pytest.mark.parametrize(
    "vals,expected",
    [
        (("-qr", "req.txt"), ("-r", "req.txt", 2)),
        (("-rreq.txt",), ("-r", "req.txt", 1)),
        (("--requirement=req.txt",), ("--requirement", "req.txt", 1)),
        (("-e.",), ("-e", ".", 1)),
        (("--index-url", "https://x"), ("--index-url", "https://x", 2)),
        (("--user",), ("--user", None, 1)),
        (("flask==3.0",), ("", "flask==3.0", 1)),
    ],
)
def test_pip_option(vals, expected):
    assert multi_stage._pip_option(_words(*vals), 0) == expected


# -- splits ------------------------------------------------------------------------------------------------
def test_output_is_stable_and_the_rule_is_quiet_on_it():
    text = (
        "FROM python:3.11\nRUN apt-get update && apt-get install -y gcc libxml2-dev && rm -rf /var/lib/apt/lists/*\n"
        'COPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . /app\nCMD ["python", "/app/x.py"]\n'
    )
    r = _run(text)
    assert len(_stages(r.output)) == 2
    again = _run(r.output)
    assert again.findings == [] and again.output == r.output
    assert "libxml2 " in _runtime_text(r.output) and "gcc" not in _runtime_text(r.output)


def test_release_decides_runtime_names_on_ubuntu_noble():
    text = (
        "FROM ubuntu:24.04\n"
        "RUN apt-get update && apt-get install -y python3 python3-pip python3-venv libcurl4-openssl-dev gcc "
        "&& rm -rf /var/lib/apt/lists/*\n"
        'RUN pip3 install --break-system-packages pycurl\nCMD ["python3", "-c", "import pycurl"]\n'
    )
    r = _run(text)
    rt = _runtime_text(r.output)
    assert "libcurl4t64" in rt and "libcurl4-openssl-dev" not in rt
    # python3-venv was installed before the first pip: the venv needs no extra apt install
    assert "RUN python3 -m venv --system-site-packages /opt/venv\n" in r.output
    assert r.output.startswith("FROM ubuntu:24.04 AS builder\n") and "\nFROM ubuntu:24.04\n" in r.output


def test_tool_used_at_run_time_keeps_its_build_only_package():
    text = (
        "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y --no-install-recommends gcc git "
        "&& rm -rf /var/lib/apt/lists/*\nRUN pip install --no-cache-dir -r requirements.txt\n"
        'RUN git clone --depth 1 https://example.com/prompts.git /app/prompts\nCMD ["python", "-m", "app"]\n'
    )
    r = _run(text)
    rt = _runtime_text(r.output)
    assert "install -y --no-install-recommends git " in rt and "gcc" not in rt
    assert "git" in r.findings[0].fix.description


def test_healthcheck_tool_of_the_full_image_is_installed_in_slim(tmp_path):
    text = (
        "FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\n"
        'COPY . .\nHEALTHCHECK CMD curl -f http://localhost:8000/ || exit 1\nCMD ["python", "app.py"]\n'
    )
    r = _run(text, tmp_path, {"requirements.txt": "psycopg2==2.9.9\nflask\n"})
    rt = _runtime_text(r.output)
    assert "apt-get install -y --no-install-recommends curl libpq5 &&" in rt
    # the packages go in before the venv and the app
    assert rt.index("libpq5") < rt.index("COPY --from=builder")


def test_existing_stage_named_builder_reference_is_not_captured():
    text = (
        "FROM python:3.11\nCOPY --from=builder /etc/ssl/certs/ca.pem /etc/ca.pem\n"
        'RUN pip install --no-cache-dir flask\nCMD ["flask", "run"]\n'
    )
    r = _run(text)
    assert "AS builder-2" in r.output and "COPY --from=builder-2 /opt/venv /opt/venv" in r.output
    assert "COPY --from=builder /etc/ssl/certs/ca.pem /etc/ca.pem" in r.output


def test_artifact_directory_replaces_the_source_copies():
    text = (
        "FROM python:3.10\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
        "COPY src/ src/\nCOPY setup.py .\nRUN python setup.py build_ext --inplace\nCOPY conf/ conf/\n"
        'CMD ["python", "-m", "src"]\n'
    )
    r = _run(text)
    rt = _runtime_text(r.output)
    assert "COPY src/ src/" not in rt and "COPY setup.py ." not in rt
    assert rt.index("COPY --from=builder /app /app") < rt.index("COPY conf/ conf/")


# -- no fix ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body,why",
    [
        ("RUN sudo pip install flask\n", "sudo"),
        ("RUN /opt/tools/bin/pip install flask\n", "absolute path"),
        ("RUN pip install --target /deps flask\n", "--target"),
        ('RUN pip install flask\nCMD ["/usr/local/bin/python3.9", "app.py"]\n', "bypass the virtualenv"),
        ("ENV PATH=/usr/local/bin:/usr/bin:/bin\nRUN pip install flask\n", "PATH"),
        ("ENV PIP_USER=1\nRUN pip install flask\n", "PIP_USER"),
        ("RUN python -m venv /venv && pip install flask\n", "installs into the base's Python"),
        ("RUN pip install -r requirements.txt && make -C native\n", "make"),
        ("RUN uv pip install --system --python /usr/bin/python3 flask\n", "chooses its own interpreter"),
        ("RUN apt-get update && apt-get install -y gcc libwhatever-dev\nRUN pip install flask\n", "libwhatever-dev"),
        ("WORKDIR /app\nCOPY . .\nRUN chmod +x build.sh\nRUN python setup.py build_ext -i\n", "runs between"),
        (
            "RUN useradd -m u\nUSER u\nWORKDIR /home/u/app\nCOPY . .\nRUN python setup.py build_ext --inplace\n",
            "USER u",
        ),
        ('RUN sh -c "pip install flask"\n', "string"),
        ("RUN conda install -y numpy\n", "base environment"),
    ],
)
def test_no_fix_with_a_reason(body, why):
    text = "FROM python:3.11\n" + body
    r = _run(text)
    assert len(r.findings) == 1
    f = r.findings[0]
    assert f.fix is None and why in f.note and r.output == text


def test_import_check_is_allowed_but_a_download_is_not():
    ok = 'FROM python:3.11\nRUN pip install torch && python -c "import torch; print(torch.__version__)"\n'
    bad = "FROM python:3.11\nRUN pip install nltk && python -c \"import nltk; nltk.download('punkt')\"\n"
    assert _run(ok).findings[0].fix is not None
    assert _run(bad).findings[0].fix is None


def test_nothing_to_gain_means_no_finding():
    # slim base, no build-only packages: a builder stage would change nothing
    text = 'FROM python:3.11-slim\nRUN pip install --no-cache-dir flask\nCMD ["flask", "run"]\n'
    assert _run(text).findings == []


def test_multi_stage_final_stage_with_a_compiler_is_reported_without_fix():
    text = (
        "FROM python:3.11 AS b\nRUN pip wheel -w /w flask\n\nFROM python:3.11-slim\n"
        "RUN apt-get update && apt-get install -y build-essential\nCOPY --from=b /w /w\n"
    )
    r = _run(text)
    assert [f.fix for f in r.findings] == [None] and "build-essential" in r.findings[0].message


def test_git_lfs_used_at_run_time_is_kept():
    text = (
        "FROM python:3.10\nRUN apt-get update && apt-get install -y git-lfs gcc && rm -rf /var/lib/apt/lists/*\n"
        "RUN pip install --no-cache-dir transformers\n"
        "RUN git lfs install && git clone https://example.com/m.git /models/m\n"
    )
    r = _run(text)
    rt = _runtime_text(r.output)
    assert "git-lfs" in rt and "gcc" not in rt
    assert "(gcc)" in r.findings[0].message and "git-lfs" not in r.findings[0].message


def test_editable_line_in_a_requirements_file_copies_the_project_dir(tmp_path):
    text = (
        "FROM python:3.11\nWORKDIR /srv\nCOPY . .\nRUN pip install --no-cache-dir -r requirements/prod.txt\n"
        'CMD ["python", "-m", "svc"]\n'
    )
    r = _run(
        text,
        tmp_path,
        {
            "requirements/prod.txt": "-r base.txt\n-e .[server]\n",
            "requirements/base.txt": "flask\n",
            "pyproject.toml": "[project]\nname='svc'\nversion='1'\n",
        },
    )
    rt = _runtime_text(r.output)
    assert "COPY --from=builder /srv /srv" in rt and "COPY . ." not in rt


def test_unread_requirements_are_named_in_the_reason():
    text = "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    r = _run(text)  # no build context: nothing can be read
    assert "`/requirements.txt` not read" in r.findings[0].fix.reason


@pytest.mark.parametrize(
    "text",
    [
        # escape=` and no newline at the end of the file
        (
            "# escape=`\nFROM python:3.11\nRUN apt-get update && apt-get install -y `\n    gcc `\n    libpq-dev\n"
            'RUN pip install psycopg2\nCMD ["python", "-c", "import psycopg2"]'
        ),
        # trailing comments after the last instruction, indented instructions
        "FROM python:3.11\n  RUN pip install flask\n  COPY . /app\n# end of file\n\n",
    ],
)
def test_odd_layouts_split_cleanly(text):
    r = _run(text)
    assert len(_stages(r.output)) == 2
    assert _run(r.output).findings == []
    if "escape" in text:
        assert "libpq5" in _runtime_text(r.output) and "gcc" not in _runtime_text(r.output)
    else:
        assert r.output.endswith("# end of file\n\n") and "\n  COPY --from=builder /opt/venv /opt/venv\n" in r.output


def test_every_build_only_package_used_at_run_time_on_the_same_base_is_no_finding():
    text = (
        "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*\n"
        'RUN pip install --no-cache-dir gitpython\nCMD ["git", "--version"]\n'
    )
    assert _run(text).findings == []


def test_added_packages_skip_an_update_only_run():
    text = (
        "FROM python:3.11\nRUN apt-get update\nRUN apt-get install -y gcc\nRUN pip install flask\n"
        "HEALTHCHECK CMD wget -qO- http://localhost:5000/ || exit 1\n"
    )
    rt = _runtime_text(_run(text).output)
    assert "RUN apt-get update\nRUN apt-get install -y wget\n" in rt


# -- the runtime stage installs its system packages before the application ---------------------------------
def _runtime_order(out: str) -> list[str]:
    return [
        i.keyword + " " + i.args.split()[0] if i.args.split() else i.keyword for i in parse(out).stages[-1].instructions
    ]


def test_runtime_apt_install_comes_before_the_application_copy():
    """The issue's case: the install RUN came after `COPY . .`; its runtime apt install must not (a code edit
    would re-run apt, and need the Debian mirror)."""
    text = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\n"
        "RUN apt-get update && apt-get install -y libpq-dev gcc && pip install --no-cache-dir -r requirements.txt\n"
        'CMD ["python", "app.py"]\n'
    )
    rt = _runtime_text(_run(text).output)
    assert rt.index("apt-get install -y libpq5") < rt.index("COPY --from=builder") < rt.index("COPY . .")


def test_apt_run_after_the_copy_moves_with_its_comment_and_continuations():
    text = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\n# runtime libraries\nRUN apt-get update \\\n"
        "    && apt-get install -y --no-install-recommends gcc libxml2-dev \\\n    && rm -rf /var/lib/apt/lists/*\n"
        'RUN pip install --no-cache-dir lxml\nEXPOSE 80\nCMD ["python", "-m", "x"]\n'
    )
    out = _run(text).output
    assert "FROM python:3.11-slim\n# runtime libraries\nRUN apt-get update \\\n" in out
    assert _runtime_order(out)[1:5] == [
        "RUN apt-get",
        "COPY /opt/venv",
        'ENV PATH="/opt/venv/bin:$PATH"',
        "WORKDIR /app",
    ]


@pytest.mark.parametrize(
    "between,why",
    [
        ("ENV DEBIAN_FRONTEND=noninteractive\n", "an ENV the install may read"),
        ("ARG APT_PROXY\n", "a build argument the install sees"),
        ("RUN echo 'deb http://example.com/debian bookworm main' > /etc/apt/sources.list.d/x.list\n", "a RUN"),
        ("USER nobody\n", "a USER"),
        ("COPY sources.list /etc/apt/sources.list\n", "a COPY apt reads"),
        ("COPY certs/ /usr/local/share/ca-certificates/\n", "a COPY into a system directory"),
    ],
)
def test_apt_install_stays_after_what_it_may_depend_on(between, why):
    text = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\n"
        + between
        + "RUN apt-get update && apt-get install -y libxml2-dev && rm -rf /var/lib/apt/lists/*\n"
        'RUN pip install --no-cache-dir lxml\nCMD ["python", "-m", "x"]\n'
    )
    r = _run(text)
    rt = _runtime_text(r.output)
    assert rt.index(between.strip()) < rt.index("apt-get install -y libxml2"), why
    # ... and the reason says a code edit re-runs it
    assert "stays after the COPY at line" in r.findings[0].fix.reason


@pytest.mark.parametrize(
    "run,moves_past",
    [
        # names a path under the COPY's destination: the COPY's files matter to it
        ("RUN apt-get update && apt-get install -y libxml2-dev && rm -rf /app/.cache\n", None),
        ("RUN debconf-set-selections /app/debconf.txt && apt-get update && apt-get install -y libxml2-dev\n", None),
        # a relative path: the working directory matters, so it stays after WORKDIR (and the COPY)
        ("RUN apt-get update && apt-get install -y libxml2-dev && rm -f *.deb\n", None),
        ("RUN apt-get -c apt.conf update && apt-get install -y libxml2-dev\n", None),
        # absolute paths elsewhere: free to move before the application
        ("RUN apt-get update && apt-get install -y libxml2-dev && rm -rf /var/lib/apt/lists/* /tmp/*\n", "COPY . ."),
    ],
)
def test_apt_install_paths_decide_whether_it_moves(run, moves_past):
    text = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\n" + run + "RUN pip install --no-cache-dir lxml\n"
        'CMD ["python", "-m", "x"]\n'
    )
    rt = _runtime_text(_run(text).output)
    apt = rt.index("apt-get install -y libxml2")
    if moves_past:
        assert apt < rt.index(moves_past) and apt < rt.index("WORKDIR /app")
    else:
        assert apt > rt.index("COPY . .")


def test_apt_install_keeps_its_order_with_other_apt_runs():
    text = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN apt-get update\n"
        "RUN apt-get install -y libxml2-dev gcc && rm -rf /var/lib/apt/lists/*\n"
        "RUN pip install --no-cache-dir lxml\n"
    )
    rt = _runtime_text(_run(text).output)
    assert rt.index("RUN apt-get update\n") < rt.index("apt-get install -y libxml2 ") < rt.index("COPY . .")


def test_added_packages_do_not_join_an_apt_run_that_comes_after_a_copy():
    # the psycopg2 library the slim image lacks gets a RUN of its own before the application, even though the
    # file's first apt RUN comes after an ENV that keeps it after the COPY
    text = (
        "FROM python:3.12\nWORKDIR /app\nCOPY . .\nENV X=1\nRUN apt-get update && apt-get install -y gcc "
        "&& rm -rf /var/lib/apt/lists/*\nRUN pip install --no-cache-dir psycopg2==2.9.9\n"
    )
    rt = _runtime_text(_run(text).output)
    assert rt.index("libpq5") < rt.index("COPY . .")


def test_import_check_with_arguments_is_read_by_the_parser():
    """The issue's hang: a 26-character name in print(...) made the old regex backtrack for a minute (the time
    limit is asserted by tests/test_fuzz.py, which runs this file in a worker)."""
    text = (
        'FROM python:3.11\nRUN pip install torch && python -c "import torch; '
        'print(torch.cuda.get_device_properties(0))"\n'
    )
    r = _run(text)
    assert r.findings and r.findings[0].fix is None  # a call with arguments is a program, not an import check
    assert multi_stage.runs._is_import_check("import torch; print(torch.__version__, torch.cuda.is_available())")
    assert not multi_stage.runs._is_import_check("print(f\"{open('/x', 'w').write('y')}\")")
    assert not multi_stage.runs._is_import_check("print(1, file=open('/x', 'w'))")
    assert not multi_stage.runs._is_import_check("(" * 5000 + ")" * 5000)


# -- Docker tier: a code edit does not re-run the runtime stage's apt install --------------------------------
@pytest.mark.docker
def test_code_edit_rebuild_hits_the_cache_for_the_runtime_apt_install(tmp_path):
    import re
    import uuid

    from .dockerutil import docker

    (tmp_path / "requirements.txt").write_text("")  # nothing from PyPI: the point is apt's place
    (tmp_path / "app.py").write_text("print('v1')\n")
    original = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev "
        "&& pip install --no-cache-dir -r requirements.txt && rm -rf /var/lib/apt/lists/*\n"
        'CMD ["python", "app.py"]\n'
    )
    split = _run(original, tmp_path).output
    (tmp_path / "Dockerfile").write_text(split)
    tag = f"slimml-test/split-{uuid.uuid4().hex[:10]}"

    def build(*flags: str) -> str:
        r = docker("build", "--progress=plain", *flags, "-t", tag, str(tmp_path), check=False, timeout=1200)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stderr + r.stdout

    def runtime_apt_step(log: str) -> list[str]:
        """The log lines of the runtime stage's apt install (BuildKit numbers each step: `#N ...`)."""
        m = re.search(r"^#(\d+) \[stage-1 \d+/\d+\] RUN apt-get update && .*libpq5", log, re.M)
        assert m, f"no runtime apt step in the build log:\n{log[-3000:]}"
        return [ln for ln in log.splitlines() if ln.startswith(f"#{m.group(1)} ")]

    try:
        first = runtime_apt_step(build("--no-cache"))  # the shared engine may hold this step from other builds
        assert not any(ln.endswith(" CACHED") for ln in first)
        (tmp_path / "app.py").write_text("print('v2')\n")  # a code edit
        second = runtime_apt_step(build())
        assert any(ln.endswith(" CACHED") for ln in second), (
            "the code edit re-ran the runtime apt install:\n" + "\n".join(second)
        )
        out = docker("run", "--rm", tag, check=False, timeout=120)
        assert out.stdout.strip() == "v2", out.stderr
        libpq = docker("run", "--rm", "--entrypoint", "sh", tag, "-c", "ls /usr/lib/*/libpq.so.5", check=False)
        assert libpq.returncode == 0, "libpq5 is missing from the runtime stage"
    finally:
        docker("rmi", "-f", tag, check=False)
