"""The verification's comparisons, without a Docker engine: config, Python environment, imports,
ELF libraries, programs, application files (and what the app reads), the run of the real command,
the interpreter the command uses, and the cache expectations of a rebuild."""

from __future__ import annotations

import hashlib
import textwrap

import pytest

from slimml.measure import appscan as A
from slimml.measure import cache as K
from slimml.measure import configparity as C
from slimml.measure import envparity as EP
from slimml.measure import interpreter as I
from slimml.measure import plan as P
from slimml.measure import runtime as R
from slimml.measure.checks import FAIL, PASS, WARN
from slimml.measure.files import Reads, compare_files, missing_ancestors

# -- config ----------------------------------------------------------------------------------------------
CFG = {
    "Entrypoint": None,
    "Cmd": ["python", "main.py"],
    "WorkingDir": "/app",
    "User": "",
    "ExposedPorts": {"8000/tcp": {}},
    "Volumes": None,
    "Labels": {"org.x": "1"},
    "Healthcheck": None,
    "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MODEL=small"],
}


def _cfg(**kw):
    return {**CFG, **kw}


def test_config_parity_accepts_what_a_rewrite_may_change():
    c = C.compare_config(
        CFG,
        _cfg(
            Env=[
                "PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
                "LANG=C.UTF-8",
                "MODEL=small",
                "PYTHONUNBUFFERED=1",
                "WEIGHTS_DIR=/w",
            ]
        ),
        documented={"WEIGHTS_DIR"},
    )
    assert c.status == PASS, c.evidence
    assert any("WEIGHTS_DIR" in e and "documented" in e for e in c.evidence)


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"Cmd": ["python", "other.py"]}, "ENTRYPOINT/CMD"),
        ({"WorkingDir": "/srv"}, "WORKDIR"),
        ({"User": "nobody"}, "USER"),
        ({"ExposedPorts": None}, "EXPOSE"),
        ({"Labels": {}}, "LABEL org.x"),
        ({"Healthcheck": {"Test": ["CMD", "true"]}}, "HEALTHCHECK"),
        ({"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]}, "ENV MODEL: removed"),
        (
            {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MODEL=large"]},
            "ENV MODEL: 'small' -> 'large'",
        ),
        ({"Env": ["PATH=/usr/bin:/usr/local/bin:/bin", "LANG=C.UTF-8", "MODEL=small"]}, "ENV PATH"),
        ({"Env": [*CFG["Env"], "PYTHONPATH=/x"]}, "ENV PYTHONPATH=/x: added"),
    ],
)
def test_config_parity_catches_behaviour_changes(change, needle):
    c = C.compare_config(CFG, _cfg(**change))
    assert c.status == FAIL
    assert any(needle in e for e in c.evidence), c.evidence


def test_config_parity_loader_env_fails_even_when_the_rewrite_sets_it_openly():
    c = C.compare_config(CFG, _cfg(Env=[*CFG["Env"], "LD_LIBRARY_PATH=/opt/lib"]), documented={"LD_LIBRARY_PATH"})
    assert c.status == FAIL
    assert c.details["failures"] == ["ENV LD_LIBRARY_PATH=/opt/lib: added; it changes what the program loads"]


def test_config_parity_accepts_an_init_script_that_execs_the_original_command():
    files = {
        "/usr/local/bin/init.sh": '#!/bin/sh\nset -eu\n[ -s /w ] || fetch\nexec "$@"\n',
        "/usr/local/bin/bad.sh": "#!/bin/sh\nfetch\nexec python main.py --other\n",
    }
    ok = C.compare_config(CFG, _cfg(Entrypoint=["/usr/local/bin/init.sh"]), read_file_after=files.get)
    assert ok.status == PASS and "wrapped by /usr/local/bin/init.sh" in ok.evidence[0]
    sh = C.compare_config(CFG, _cfg(Entrypoint=["/bin/sh", "/usr/local/bin/init.sh"]), read_file_after=files.get)
    assert sh.status == PASS
    bad = C.compare_config(CFG, _cfg(Entrypoint=["/usr/local/bin/bad.sh"]), read_file_after=files.get)
    assert bad.status == FAIL
    args = C.compare_config(CFG, _cfg(Entrypoint=["/usr/local/bin/init.sh", "--x"]), read_file_after=files.get)
    assert args.status == FAIL


def test_config_parity_env_from_a_new_base_image_is_a_note():
    base_b = {"Env": ["PATH=/usr/bin", "NV_CUDA_LIB_VERSION=12.1.0-1", "LIBRARY_PATH=/usr/local/cuda/lib64/stubs"]}
    base_a = {"Env": ["PATH=/usr/bin"]}
    before = _cfg(Env=[*CFG["Env"], "NV_CUDA_LIB_VERSION=12.1.0-1", "LIBRARY_PATH=/usr/local/cuda/lib64/stubs"])
    c = C.compare_config(before, CFG, base_b=base_b, base_a=base_a)
    assert c.status == PASS
    assert sum("comes with the new base image" in e for e in c.evidence) == 2


# -- python environment, imports, ELF ------------------------------------------------------------------
def _d(name, version, top=()):
    return {"name": name, "version": version, "top": list(top), "location": "/x"}


def test_python_parity():
    before = {
        "numpy": _d("numpy", "1.26.4", ["numpy"]),
        "pip": _d("pip", "23.0.1"),
        "psycopg2": _d("psycopg2", "2.9.9"),
    }
    same = EP.compare_dists(
        before, {"numpy": _d("numpy", "1.26.4"), "psycopg2": _d("psycopg2", "2.9.9"), "pip": _d("pip", "24.0")}
    )
    assert same.status == PASS and any("pip: 23.0.1 -> 24.0 (packaging tool)" in e for e in same.evidence)
    missing = EP.compare_dists(before, {"numpy": _d("numpy", "1.26.4")})
    assert missing.status == FAIL and missing.details["failures"] == ["psycopg2 2.9.9: missing in the rewrite"]
    moved = EP.compare_dists(before, {**before, "numpy": _d("numpy", "2.0.0")})
    assert moved.status == FAIL and "numpy: 1.26.4 -> 2.0.0" in moved.evidence
    py = EP.compare_dists(
        before,
        before,
        {"version": "3.11.2", "executable": "/usr/bin/python3"},
        {"version": "3.12.1", "executable": "/opt/venv/bin/python"},
    )
    assert py.status == FAIL


def test_modules_to_import_skip_tooling_and_non_modules():
    dists = {
        "pip": _d("pip", "1", ["pip"]),
        "scikit-learn": _d("scikit-learn", "1", ["sklearn"]),
        "weird": _d("weird", "1", ["tests", "__pycache__", "ok_mod", "not-valid"]),
    }
    assert EP.modules_to_import(dists) == ["ok_mod", "sklearn"]


def test_import_parity():
    b = {"numpy": {"ok": True}, "psycopg2": {"ok": True}, "broken": {"ok": False, "error": "x"}}
    ok = EP.compare_imports(b, {"numpy": {"ok": True}, "psycopg2": {"ok": True}})
    assert ok.status == PASS and ok.summary == "all 2 top-level modules import"
    bad = EP.compare_imports(
        b,
        {
            "numpy": {"ok": True},
            "psycopg2": {"ok": False, "error": "ImportError: libpq.so.5: cannot open shared object file"},
        },
    )
    assert bad.status == FAIL and "psycopg2: ImportError: libpq.so.5" in bad.evidence[0]


def test_elf_parity_matches_files_across_site_folders():
    info_b = {"real_executable": "/usr/bin/python3.11", "stdlib": ["/usr/lib/python3.11"], "prefix": "/usr"}
    info_a = {**info_b, "prefix": "/opt/venv"}
    so = "psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"
    eb = {
        "python": info_b,
        "files": {
            f"/usr/local/lib/python3.11/dist-packages/{so}": {"missing": []},
            "/usr/lib/python3.11/lib-dynload/_ssl.so": {"missing": []},
            "/app/ops/lib.so": {"missing": ["libgomp.so.1"]},
        },
    }
    ea = {
        "python": info_a,
        "files": {
            f"/opt/venv/lib/python3.11/site-packages/{so}": {"missing": ["libpq.so.5"]},
            "/usr/lib/python3.11/lib-dynload/_ssl.so": {"missing": []},
            "/app/ops/lib.so": {"missing": ["libgomp.so.1"]},
        },
    }
    c = EP.compare_elf(eb, ea, ["/app"])
    assert c.status == FAIL
    assert c.details["failures"] == [f"/opt/venv/lib/python3.11/site-packages/{so}: libpq.so.5 not found"]
    assert any("already had unresolved" in e for e in c.evidence)  # lib.so was broken in the original too
    fixed = {**ea, "files": {**ea["files"], f"/opt/venv/lib/python3.11/site-packages/{so}": {"missing": []}}}
    assert EP.compare_elf(eb, fixed, ["/app"]).status == PASS


# -- the interpreter the command runs --------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, resolved, expected",
    [
        (
            ["uvicorn", "app:app"],
            {"uvicorn": ("/opt/venv/bin/uvicorn", "#!/opt/venv/bin/python"), "python3": ("/usr/bin/python3", "")},
            "/opt/venv/bin/python",
        ),
        (["python3", "-m", "uvicorn", "server:app"], {"python3": ("/usr/bin/python3", "")}, "/usr/bin/python3"),
        (
            ["/bin/sh", "-c", "exec gunicorn -b 0.0.0.0:80 app:app"],
            {
                "gunicorn": ("/usr/local/bin/gunicorn", "#!/usr/bin/env python3"),
                "python3": ("/usr/local/bin/python3", ""),
            },
            "/usr/local/bin/python3",
        ),
        (
            ["/usr/local/bin/init.sh", "python", "main.py"],
            {"/usr/local/bin/init.sh": ("/usr/local/bin/init.sh", "#!/bin/sh"), "python": ("/usr/bin/python", "")},
            "/usr/bin/python",
        ),
        (["./server"], {"./server": ("./server", ""), "python3": ("/usr/bin/python3", "")}, "/usr/bin/python3"),
        (["node", "x.js"], {"node": ("/usr/bin/node", "")}, None),
    ],
)
def test_pick_interpreter(argv, resolved, expected):
    assert I.pick_interpreter(argv, resolved)[0] == expected


@pytest.mark.parametrize(
    "words, prefix",
    [
        (["poetry", "run", "python", "app.py"], ["poetry", "run"]),
        (["env", "A=1", "poetry", "run", "uvicorn", "app:app"], ["poetry", "run"]),
        (
            ["conda", "run", "-n", "serve", "--no-capture-output", "python", "x.py"],
            ["conda", "run", "-n", "serve", "--no-capture-output"],
        ),
        (["uv", "run", "--with", "rich", "python", "-m", "app"], ["uv", "run", "--with", "rich"]),
        (["python", "poetry.py", "run"], None),
        (["gunicorn", "app:app"], None),
    ],
)
def test_runner_prefix_finds_the_tool_that_picks_the_environment(words, prefix):
    assert I.runner_prefix(words) == prefix


def test_python_parity_names_a_lost_environment_as_the_cause():
    before = {"numpy": _d("numpy", "1.26.4"), "psycopg2": _d("psycopg2", "2.9.9")}
    info_b = {"version": "3.11.2", "executable": "/opt/venv/bin/python", "prefix": "/opt/venv"}
    info_a = {"version": "3.11.2", "executable": "/usr/bin/python", "prefix": "/usr"}
    c = EP.compare_dists(before, {}, info_b, info_a, gone=["/opt/venv"])
    assert c.status == FAIL
    assert c.evidence[:2] == [
        "the command's Python is /opt/venv/bin/python (environment /opt/venv) in the original, "
        "/usr/bin/python (environment /usr) in the rewrite",
        "/opt/venv: the original's Python environment is not in the rewrite",
    ]
    # Another environment with the same distributions is only a note (a venv that moved, say).
    ok = EP.compare_dists(before, before, info_b, {**info_a, "prefix": "/venv", "executable": "/venv/bin/python"})
    assert ok.status == PASS and any("environment /venv" in n for n in ok.details["notes"])


def test_import_parity_names_the_apps_own_modules():
    c = EP.compare_imports(
        {"numpy": {"ok": True}, "server": {"ok": True}},
        {"numpy": {"ok": True}, "server": {"ok": False, "error": "FileNotFoundError: colormodel.h5"}},
        app_modules=["server"],
    )
    assert c.status == FAIL and c.evidence == ["server (the app's own module): FileNotFoundError: colormodel.h5"]


def test_program_parity():
    progs = {
        "thumbnailer": ["/app/server.py:24"],
        "convert": ["/app/x.py:3", "/app/y.py:9"],
        "gone": ["ENTRYPOINT/CMD"],
    }
    res_b = {"thumbnailer": ("/usr/local/bin/thumbnailer", "#!/bin/sh"), "convert": ("/usr/bin/convert", "")}
    res_a = {"convert": ("/usr/bin/convert", "")}
    c = EP.compare_programs(progs, res_b, res_a)
    assert c.status == FAIL
    assert c.details["failures"] == [
        "thumbnailer: /usr/local/bin/thumbnailer in the original, not found in the rewrite (run at /app/server.py:24)"
    ]
    assert c.details["absent_in_both"] == ["gone"]
    assert EP.compare_programs(progs, res_b, res_b).status == PASS


# -- what the app's sources say ----------------------------------------------------------------------------
SERVER = textwrap.dedent("""
    import os, subprocess as sp
    from subprocess import check_output
    from shutil import which
    from keras.models import load_model

    MODEL = load_model('colormodel.h5')
    LABELS = os.path.join(os.path.dirname(__file__), "data", f"labels-{os.environ.get('LANG', 'en')}.json")

    def thumb(path):
        sp.run(["convert", path, "-resize", "64x64", "out.png"], check=True)
        check_output("ffmpeg -i in.mp4 out.gif && gifsicle -O3 out.gif", shell=True)
        os.system("pngquant --force out.png")
        if which("exiftool"):
            return os.listdir(path)

    if __name__ == "__main__":
        app.run(port=8000)
""")


def test_scan_python_finds_literals_programs_and_unknown_listings():
    s = A.AppScan()
    A.scan_python(SERVER, "/app/server.py", s)
    assert s.literals["colormodel.h5"] == ["/app/server.py:7"]
    assert "data" in s.literals and "labels-" in s.literals  # f-string parts
    assert {p: w[0] for p, w in s.programs.items()} == {
        "convert": "/app/server.py:11",
        "ffmpeg": "/app/server.py:12",
        "gifsicle": "/app/server.py:12",
        "pngquant": "/app/server.py:13",
        "exiftool": "/app/server.py:14",
    }
    assert s.dynamic_listing == ["/app/server.py:15 os.listdir()"]
    assert s.scripts == set()  # the server runs under `if __name__ == "__main__"` only


@pytest.mark.parametrize(
    "code, runs",
    [
        ("app = Flask(__name__)\nmodel = load('m.h5')\n", False),
        ("import uvicorn\nuvicorn.run(app)\n", True),
        ("def main():\n    pass\n\nmain()\n", True),
        ("while True:\n    poll()\n", True),
        ("print('hello')\nlogging.basicConfig()\n", False),
        ("if __name__ == '__main__':\n    main()\n", False),
    ],
)
def test_runs_at_import(code, runs):
    import libcst

    assert A.runs_at_import(libcst.parse_module(code)) is runs


def test_scan_shell_and_command_words():
    s = A.scan(
        {
            "/usr/local/bin/entrypoint.sh": '#!/bin/sh\nset -e\nexport X=1\nif [ -n "$MODEL" ]; then\n'
            '  curl -fsSL "$MODEL" -o /models/m.bin\nfi\nsudo -E gosu app true\nexec "$@"\n'
        },
        ["/usr/local/bin/entrypoint.sh", "python", "main.py"],
        {"MODEL_DIR": "/app/models:/opt/models", "PATH": "/opt/venv/bin:/usr/bin"},
    )
    # `true` is a builtin; `python` runs through the script's `exec "$@"`.
    assert sorted(s.programs) == ["/usr/local/bin/entrypoint.sh", "curl", "gosu", "python", "sudo"]
    assert s.programs["curl"] == ["/usr/local/bin/entrypoint.sh:5"]
    assert s.literals["/models/m.bin"] == ["/usr/local/bin/entrypoint.sh:5"]
    assert s.literals["/app/models"] == ["ENV MODEL_DIR"] and "main.py" in s.literals
    assert not any("opt/venv" in k for k in s.literals)  # PATH is not a file the app reads


def test_sources_that_never_read_files():
    assert A.source_kind("/app/tests/test_api.py") is None and A.source_kind("/app/setup.py") is None
    assert A.source_kind("/app/requirements.txt") is None and A.source_kind("/app/pyproject.toml") is None
    assert A.source_kind("/app/conf/app.yaml") == "config" and A.source_kind("/app/run", "#!/bin/bash") == "shell"
    assert A.source_kind("/usr/local/bin/serve", "#!/usr/bin/env python3") == "python"


def _index(**sources) -> A.NameIndex:
    return A.NameIndex.of(A.scan({f"/app/{k.replace('__', '.')}": v for k, v in sources.items()}))


@pytest.mark.parametrize(
    "literal, path, named",
    [
        ("colormodel.h5", "/app/models/colormodel.h5", True),
        ("./models/colormodel.h5", "/app/models/colormodel.h5", True),
        ("/app/models/colormodel.h5", "/app/models/colormodel.h5", True),
        ("models", "/app/models/colormodel.h5", True),  # its folder
        ("models/", "/app/models/sub/w.bin", True),
        ("*.h5", "/app/models/colormodel.h5", True),
        ("models/*.bin", "/app/models/w.bin", True),
        (".h5", "/app/models/colormodel.h5", True),  # `name.endswith(".h5")`
        ("app", "/app/models/colormodel.h5", False),  # the app root is too generic a name
        ("colormodel.onnx", "/app/models/colormodel.h5", False),
        ("requirements", "/app/requirements.txt", False),
    ],
)
def test_name_index(literal, path, named):
    idx = _index(main__py=f"x = {literal!r}\n")
    assert bool(idx.named(path, "/app")) is named


def _f(content="x", mode=0o644, kind="file"):
    return [kind, mode, 0, 0, len(content), hashlib.sha256(content.encode()).hexdigest()]


APP_B = {
    "/app/main.py": _f("print()"),
    "/app/Dockerfile": _f("FROM a"),
    "/app/requirements.txt": _f("numpy"),
    "/app/models/colormodel.h5": _f("w"),
    "/app/notebooks/n.ipynb": _f("{}"),
    "/app/tests/test_x.py": _f(""),
    "/app/run.sh": _f("#!", 0o755),
    "/app/README.md": _f("# hi"),
}


def _files(reads: Reads, after: dict, ignore_after: str | None = None) -> object:
    return compare_files(
        {"files": APP_B},
        {"files": after},
        reads,
        copy_map=[P.CopyEntry(".", "/app", "dir")],
        rewrite_changed={"Dockerfile"},
        dockerignore_after=ignore_after,
    )


def _reads(code: str, provided=None) -> Reads:
    scan = A.scan({"/app/main.py": code})
    return Reads(A.NameIndex.of(scan), scan.dynamic_listing, provided or {}, ["/app"])


def test_files_the_app_never_reads_may_go():
    after = {
        k: v
        for k, v in APP_B.items()
        if k not in ("/app/requirements.txt", "/app/notebooks/n.ipynb", "/app/tests/test_x.py")
    }
    after["/app/Dockerfile"] = _f("FROM b")
    after["/app/README.md"] = _f("# other")
    c = _files(_reads("model = load_model('colormodel.h5')\n"), after, "requirements.txt\nnotebooks/\ntests/\n")
    assert c.status == PASS, c.evidence
    assert c.details["removed"] == {
        "excluded by the rewritten .dockerignore; the app never reads it": [
            "/app/notebooks/n.ipynb",
            "/app/requirements.txt",
            "/app/tests/test_x.py",
        ]
    }
    assert c.details["changed_by_rewrite"] == ["/app/Dockerfile"]
    assert c.details["changed_unread"] == ["/app/README.md: content differs"]


def test_a_file_the_app_names_is_never_removed_on_purpose():
    after = {k: v for k, v in APP_B.items() if k != "/app/models/colormodel.h5"}
    c = _files(_reads("model = load_model('colormodel.h5')\n"), after, "**/*.h5\n")
    assert c.status == FAIL
    assert c.details["failures"] == [
        "/app/models/colormodel.h5: missing in the rewrite, excluded by its "
        ".dockerignore (the app names it: 'colormodel.h5' at /app/main.py:1)"
    ]


def test_modules_executables_and_unknown_listings_are_read():
    after = {k: v for k, v in APP_B.items() if k not in ("/app/main.py", "/app/run.sh")}
    after["/app/README.md"] = _f("# other")
    c = _files(_reads("x = 1\n"), after)
    assert c.details["failures"] == [
        "/app/main.py: missing in the rewrite (a Python module of the app)",
        "/app/run.sh: missing in the rewrite (an executable or shared library)",
    ]
    lists = _files(_reads("import os\nfiles = os.listdir(folder)\n"), {**APP_B, "/app/README.md": _f("# other")})
    assert lists.details["failures"] == [
        "/app/README.md: content differs (the app lists folders slimml cannot name (/app/main.py:2 os.listdir()))"
    ]
    blind = compare_files({"files": APP_B}, {"files": {}}, Reads(None))
    assert blind.status == FAIL and len(blind.details["failures"]) == len(APP_B)


def test_what_an_init_script_provides_at_start_is_not_lost():
    after = {k: v for k, v in APP_B.items() if not k.startswith("/app/models/")}
    c = _files(_reads("MODEL = load_model('colormodel.h5')\n", {"/app/models": "/usr/local/bin/init.sh"}), after)
    assert c.status == PASS
    assert c.details["removed"] == {
        "provided at container start by /usr/local/bin/init.sh (fetched or mounted)": ["/app/models/colormodel.h5"]
    }


def test_provided_paths_of_an_init_script():
    text = (
        '#!/bin/sh\n# slimml-source: {"context_path": "models/", "is_dir": true, "target": "/app/models/"}\n'
        '# slimml-source: {"kind": "hf", "target": "relative/ignored"}\n# slimml-source: not json\nexec "$@"\n'
    )
    assert C.provided_paths(text) == ["/app/models"]
    assert C.provided_paths(None) == []


def test_missing_ancestors_are_the_highest_missing_folders():
    after = {"/app/main.py": 1, "/app/models/keep.txt": 1}
    paths = ["/app/models/a/w.bin", "/app/models/a/b/x.bin", "/app/data/d.csv", "/app/models/top.bin"]
    assert missing_ancestors(paths, after, ["/app"]) == ["/app/models/a", "/app/data", "/app/models/top.bin"]


def test_app_modules_are_the_working_directorys_own():
    files = [
        "/app/server.py",
        "/app/model.py",
        "/app/setup.py",
        "/app/test_api.py",
        "/app/pkg/__init__.py",
        "/app/pkg/sub.py",
        "/app/main.py",
        "/app/my-script.py",
        "/app/data/x.py",
        "/srv/other.py",
    ]
    mods = A.app_modules(files, ["/app"], scripts={"/app/main.py", "/app/server.py"}, argv=["uvicorn", "server:app"])
    assert mods == ["model", "pkg", "server"]  # main.py runs the app at import; server is what uvicorn imports
    assert A.cmd_modules(["python", "-m", "pkg.cli", "serve"]) == ["pkg.cli"]
    assert A.cmd_modules(["gunicorn", "-b", "0.0.0.0:80", "wsgi:create_app()"]) == ["wsgi"]


# -- the run of the real command ---------------------------------------------------------------------------
def _server(ports=None, answer=None, alive=True, **kw) -> R.Observation:
    ports = {"8000": ["0.0.0.0"]} if ports is None else ports
    answer = answer or {
        "kind": "http",
        "status": 200,
        "ctype": "application/json",
        "body": "json",
        "shape": {"label": "string", "p": "number"},
    }
    return R.Observation(
        "running",
        ports=ports,
        responses={p: answer for p in ports},
        listen_seconds=1.2,
        alive_after_request=alive,
        watched=True,
        **kw,
    )


def _batch(code=0, out="ok\n", err="", seconds=1.0) -> R.Observation:
    return R.Observation("exited", exit_code=code, stdout=out, stderr=err, seconds=seconds)


def test_run_parity_of_a_server():
    ok = R.compare_runs(_server(), _server())
    assert ok.status == PASS and "listens on 8000 and answers GET / alike" in ok.summary
    died = R.compare_runs(_server(), _batch(1, "", "Traceback (most recent call last):\nModuleNotFoundError: x"))
    assert died.status == FAIL and died.summary.startswith("the rewrite's container exits with code 1 after 1.0 s")
    assert "  | ModuleNotFoundError: x" in died.evidence
    moved = R.compare_runs(_server(), _server({"8001": ["0.0.0.0"]}))
    assert moved.status == FAIL and moved.evidence[0] == (
        "port 8000 (0.0.0.0) is not listened on in the rewrite; the rewrite listens on 8001"
    )
    err = R.compare_runs(
        _server(), _server(answer={"kind": "http", "status": 500, "ctype": "text/html", "body": "html"})
    )
    assert err.status == FAIL and "GET / on port 8000: 200 application/json" in err.evidence[0]
    shape = R.compare_runs(
        _server(),
        _server(
            answer={
                "kind": "http",
                "status": 200,
                "ctype": "application/json",
                "body": "json",
                "shape": {"error": "string"},
            }
        ),
    )
    assert shape.status == FAIL
    crash = R.compare_runs(_server(), _server(alive=False, exit_code=139))
    assert crash.status == FAIL and "exits (code 139) after its first request" in crash.evidence[0]


def test_run_parity_of_a_batch_command():
    assert R.compare_runs(_batch(), _batch()).status == PASS
    assert R.compare_runs(_batch(out="took 1.23 s id 0x7f3a\n"), _batch(out="took 0.98 s id 0x7f00\n")).status == PASS
    code = R.compare_runs(_batch(0), _batch(2, err="usage: x"))
    assert code.status == FAIL and code.summary == "the command exits with code 2 in the rewrite, 0 in the original"
    tb = R.compare_runs(_batch(), _batch(out="ok\n", err="Traceback (most recent call last):\n  boom\n"))
    assert tb.status == FAIL
    assert R.compare_runs(_batch(out="a\n"), _batch(out="b\n")).status == WARN
    hangs = R.compare_runs(_batch(), R.Observation("running", seconds=15.0))
    assert hangs.status == FAIL and "still runs" in hangs.summary
    both_fail = R.compare_runs(_batch(1, err="no DB"), _batch(1, err="no DB"))
    assert both_fail.status == PASS and "fails the same way" in both_fail.summary


# -- rebuild cache expectations ----------------------------------------------------------------------------
SPLIT = """\
FROM python:3.11 AS build
WORKDIR /src
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN python -m compileall .
FROM build AS test
RUN pytest
FROM python:3.11-slim
ENV X=1
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
RUN --mount=type=bind,source=scripts,target=/s /s/setup.sh
COPY app.py .
CMD ["python", "app.py"]
"""


def test_rebuilt_by_change_follows_copies_stages_and_mounts():
    # Steps are numbered per stage as BuildKit does: FROM is 1, ENV/CMD are no steps.
    everything_after_copy = {(0, 5), (0, 6), (1, 1), (1, 2), (2, 2), (2, 3), (2, 4), (2, 5)}
    assert K.rebuilt_by_change(SPLIT, "app.py") == everything_after_copy
    assert K.rebuilt_by_change(SPLIT, "scripts/setup.sh") == everything_after_copy
    assert K.rebuilt_by_change(SPLIT, "requirements.txt") == everything_after_copy | {(0, 3), (0, 4)}
    only_runtime = SPLIT.replace("COPY . .", "COPY src/ src/")
    assert K.rebuilt_by_change(only_runtime, "app.py") == {(2, 5)}
    assert K.rebuilt_by_change(only_runtime, "scripts/setup.sh") == {(2, 4), (2, 5)}  # the bind mount


def test_classify_buildkit_and_classic_steps():
    steps = [
        ("[build 1/6] FROM docker.io/library/python:3.11", False),
        ("[build 4/6] RUN pip install -r r.txt", True),
        ("[build 5/6] COPY . .", False),
        ("[stage-2 5/5] COPY app.py .", False),
        ("[stage-2 2/5] COPY --from=build /opt/venv /opt/venv", False),
    ]
    out = K.classify(steps, SPLIT, "app.py")
    assert [(s.name.split("]")[0], s.cached, s.expected_cached) for s in out] == [
        ("[build 4/6", True, True),
        ("[build 5/6", False, False),
        ("[stage-2 5/5", False, False),
        ("[stage-2 2/5", False, False),
    ]
    assert K.unexpected(K.classify([("[build 4/6] RUN pip install", False)], SPLIT, "app.py")) == [
        "[build 4/6] RUN pip install"
    ]
    single = "FROM python:3.11\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\n"
    classic = [
        ("Step 1/5 : FROM python:3.11", False),
        ("Step 2/5 : WORKDIR /app", True),
        ("Step 3/5 : COPY requirements.txt .", True),
        ("Step 4/5 : RUN pip install -r requirements.txt", False),
        ("Step 5/5 : COPY . .", False),
    ]
    assert K.unexpected(K.classify(classic, single, "main.py")) == ["Step 4/5 : RUN pip install -r requirements.txt"]
    assert [s.expected_cached for s in K.classify([("[2/5] WORKDIR /app", True)], single, None)] == [True]


def test_speedup_is_only_reported_on_a_verified_warm_cache():
    assert K.speedup(12.0, 1.5, True) == (8.0, None)
    assert K.speedup(12.0, 1.5, False)[0] is None and "not verified" in K.speedup(12.0, 1.5, False)[1]
    assert K.speedup(0.6, 0.5, True) == (None, "both rebuilds take under 1 s: no meaningful difference")
    assert K.speedup(None, 0.5, True)[0] is None


def test_git_metadata_is_read_when_the_app_runs_git():
    b = {"/app/main.py": _f("x"), "/app/.git/HEAD": _f("ref: refs/heads/main")}
    quiet = compare_files({"files": b}, {"files": {"/app/main.py": _f("x")}}, _reads("x = 1\n"))
    assert quiet.status == PASS
    scan = A.scan({"/app/main.py": "import subprocess\nV = subprocess.check_output(['git', 'describe'])\n"})
    reads = Reads(A.NameIndex.of(scan), [], {}, ["/app"], set(scan.programs))
    c = compare_files({"files": b}, {"files": {"/app/main.py": _f("x")}}, reads)
    assert c.details["failures"] == ["/app/.git/HEAD: missing in the rewrite (the app runs git, which reads .git)"]


def test_an_in_tree_setuptools_build_output_is_not_read():
    b = {
        "/app/main.py": _f("x"),
        "/app/csrc/ops/build/lib.linux-x86_64-cpython-311/ops/_C.so": _f("elf", 0o755),
        "/app/csrc/ops/build/lib.linux-x86_64-cpython-311/ops/__init__.py": _f("from ._C import *"),
        "/app/csrc/ops/build/temp.linux-x86_64-cpython-311/ops.o": _f("o"),
        "/app/csrc/ops/ops.egg-info/PKG-INFO": _f("Name: ops"),
    }
    c = compare_files({"files": b}, {"files": {"/app/main.py": _f("x")}}, _reads("import ops\n"))
    assert c.status == PASS, c.evidence
    # the same shared object and module outside a build folder are the app's: read
    c = compare_files(
        {"files": {"/app/ops/_C.so": _f("elf", 0o755), "/app/ops/__init__.py": _f("y")}},
        {"files": {}},
        _reads("import ops\n"),
    )
    assert c.status == FAIL and len(c.details["failures"]) == 2


# -- a GPU build swapped for the CPU build of the same release (SLM013's fix) ----------------------------
_GPU_TORCH = {
    "torch": _d("torch", "2.1.0", ["torch"]),
    "nvidia-cublas-cu12": _d("nvidia-cublas-cu12", "12.1.3.1", ["nvidia"]),
    "nvidia-cudnn-cu12": _d("nvidia-cudnn-cu12", "8.9.2.26", ["nvidia"]),
    "triton": _d("triton", "2.1.0", ["triton"]),
    "flask": _d("flask", "3.0.0", ["flask"]),
}


def test_the_cpu_build_of_the_same_release_passes_with_notes():
    after = {"torch": _d("torch", "2.1.0+cpu", ["torch"]), "flask": _d("flask", "3.0.0", ["flask"])}
    c = EP.compare_dists(_GPU_TORCH, after)
    assert c.status == PASS, c.evidence
    assert "torch: 2.1.0 -> 2.1.0+cpu (the CPU build of the same release)" in c.details["notes"]
    assert any("3 CUDA wheel(s) not in the rewrite" in n for n in c.details["notes"])
    assert c.details["dropped_on_purpose"] == ["nvidia-cublas-cu12", "nvidia-cudnn-cu12", "triton"]
    # their modules are not imported in the rewrite (torch's is)
    assert EP.modules_to_import(_GPU_TORCH, set(c.details["dropped_on_purpose"])) == ["flask", "torch"]


@pytest.mark.parametrize(
    "after, failure",
    [
        # another release of torch, even a CPU one: a version change
        ({"torch": _d("torch", "2.2.0+cpu"), "flask": _d("flask", "3.0.0")}, "torch: 2.1.0 -> 2.2.0+cpu"),
        # the CUDA wheels gone but torch still the CUDA build: broken, not a swap
        ({"torch": _d("torch", "2.1.0"), "flask": _d("flask", "3.0.0")}, "nvidia-cublas-cu12 12.1.3.1: missing"),
        # a CPU torch but some CUDA wheels kept and others lost: something may still load the lost ones
        (
            {
                "torch": _d("torch", "2.1.0+cpu"),
                "nvidia-cublas-cu12": _d("nvidia-cublas-cu12", "12.1.3.1"),
                "flask": _d("flask", "3.0.0"),
            },
            "nvidia-cudnn-cu12 8.9.2.26: missing",
        ),
        # an unrelated package lost along the way still fails
        ({"torch": _d("torch", "2.1.0+cpu")}, "flask 3.0.0: missing"),
    ],
    ids=["other-release", "cuda-wheels-lost-without-cpu-build", "partial-cuda-loss", "unrelated-loss"],
)
def test_what_is_not_a_cpu_swap_still_fails(after, failure):
    c = EP.compare_dists(_GPU_TORCH, after)
    assert c.status == FAIL and any(f.startswith(failure) for f in c.details["failures"]), c.details


def test_a_gpu_package_replaced_by_its_cpu_package():
    before = {"onnxruntime-gpu": _d("onnxruntime-gpu", "1.17.1", ["onnxruntime"])}
    c = EP.compare_dists(before, {"onnxruntime": _d("onnxruntime", "1.17.1", ["onnxruntime"])})
    assert c.status == PASS and any("onnxruntime-gpu 1.17.1 -> onnxruntime" in n for n in c.details["notes"])
    other = EP.compare_dists(before, {"onnxruntime": _d("onnxruntime", "1.18.0", ["onnxruntime"])})
    assert other.status == FAIL
