"""The in-container ELF reader and loader-order resolver (slimml.measure.elfdeps.SCAN_PY), run here on
small shared objects built with the host's compiler, and the Dockerfile side: which paths the final
stage copied from a builder, and where the repair puts the packages it adds."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from slimml.dockerfile import parse
from slimml.measure import elfdeps
from slimml.measure.repair import add_runtime_packages, missing_programs

GCC = shutil.which("gcc") or shutil.which("cc")


@pytest.fixture(scope="module")
def ns():
    out = {"__name__": "slimml_elf_test"}
    exec(compile(elfdeps.SCAN_PY, "SCAN_PY", "exec"), out)  # the very text the container runs
    return out


def _cc(*args: str) -> None:
    assert GCC, "a C compiler is needed to build the test objects"
    subprocess.run([GCC, *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    """libdep.so (soname libslimmldep.so.1) and users of it with RUNPATH, RPATH and nothing."""
    d = tmp_path_factory.mktemp("elf")
    (d / "dep.c").write_text("int dep(void) { return 41; }\n")
    (d / "user.c").write_text("int dep(void);\nint user(void) { return dep() + 1; }\n")
    (d / "main.c").write_text("int user(void);\nint main(void) { return user() == 42 ? 0 : 1; }\n")
    (d / "deps").mkdir()
    _cc(
        "-shared",
        "-fPIC",
        "-o",
        str(d / "deps" / "libslimmldep.so.1"),
        "-Wl,-soname,libslimmldep.so.1",
        str(d / "dep.c"),
    )
    (d / "pkg").mkdir()
    common = ["-shared", "-fPIC", str(d / "user.c"), "-L", str(d / "deps"), "-l:libslimmldep.so.1"]
    _cc(
        "-o",
        str(d / "pkg" / "runpath.so"),
        *common,
        "-Wl,-rpath,$ORIGIN/../deps",
        "-Wl,--enable-new-dtags",
        "-Wl,-soname,runpath.so",
    )
    _cc("-o", str(d / "pkg" / "rpath.so"), *common, "-Wl,-rpath,$ORIGIN/../deps", "-Wl,--disable-new-dtags")
    _cc("-o", str(d / "pkg" / "bare.so"), *common)
    _cc(
        "-o",
        str(d / "pkg" / "prog"),
        str(d / "main.c"),
        str(d / "pkg" / "runpath.so"),
        "-Wl,-rpath,$ORIGIN",
        "-Wl,--enable-new-dtags",
    )
    _cc("-c", "-fPIC", "-o", str(d / "pkg" / "obj.o"), str(d / "dep.c"))
    return d


def test_reads_needed_soname_rpath_and_runpath(ns, objs):
    dep = ns["read_elf"](str(objs / "deps" / "libslimmldep.so.1"))
    assert dep["soname"] == "libslimmldep.so.1" and dep["dynamic"] and dep["cls"] == 2
    rp = ns["read_elf"](str(objs / "pkg" / "runpath.so"))
    assert "libslimmldep.so.1" in rp["needed"] and rp["runpath"] == "$ORIGIN/../deps" and rp["rpath"] is None
    old = ns["read_elf"](str(objs / "pkg" / "rpath.so"))
    assert old["rpath"] == "$ORIGIN/../deps" and old["runpath"] is None
    prog = ns["read_elf"](str(objs / "pkg" / "prog"))
    assert prog["needed"][0] == "runpath.so" and "libc.so.6" in prog["needed"]


def test_not_loadable_files_are_not_elf_objects(ns, objs, tmp_path):
    assert ns["read_elf"](str(objs / "pkg" / "obj.o")) is None  # relocatable: never loaded
    (tmp_path / "x.so").write_bytes(b"\x7fELF" + b"\0" * 10)  # truncated
    (tmp_path / "t.so").write_text("INPUT(-lfoo)\n")  # a linker script named .so
    assert ns["read_elf"](str(tmp_path / "x.so")) is None
    assert ns["read_elf"](str(tmp_path / "t.so")) is None


@pytest.mark.skipif(not shutil.which("readelf"), reason="compares with binutils' readelf")
def test_needed_entries_match_readelf_on_system_libraries(ns):
    files = sorted(Path("/usr/lib/x86_64-linux-gnu").glob("lib*.so.*"))[:120]
    assert files
    checked = 0
    for f in files:
        info = ns["read_elf"](str(f))
        if info is None:
            continue
        out = subprocess.run(["readelf", "-d", str(f)], capture_output=True, text=True).stdout
        needed = [x.split("[", 1)[1].rstrip("]") for x in out.splitlines() if "(NEEDED)" in x]
        assert info["needed"] == needed, f
        checked += 1
    assert checked > 20


def _resolve(ns, path: Path, name: str, tree=None, env=()):
    info = ns["read_elf"](str(path))
    return ns["resolve"](name, str(path), info, list(env), {}, tree or {})


def test_resolution_follows_origin_runpath_and_rpath(ns, objs):
    for f in ("runpath.so", "rpath.so"):
        hit = _resolve(ns, objs / "pkg" / f, "libslimmldep.so.1")
        assert hit is not None and hit[1].endswith("deps/libslimmldep.so.1")
        assert hit[0] == ("runpath" if f == "runpath.so" else "rpath")
    assert _resolve(ns, objs / "pkg" / "bare.so", "libslimmldep.so.1") is None
    # LD_LIBRARY_PATH is searched for an object without a path of its own
    hit = _resolve(ns, objs / "pkg" / "bare.so", "libslimmldep.so.1", env=[str(objs / "deps")])
    assert hit[0] == "LD_LIBRARY_PATH"
    # system libraries come from the loader's default directories / cache
    assert _resolve(ns, objs / "pkg" / "bare.so", "libc.so.6") is not None


def test_origin_is_the_directory_of_the_file_even_through_a_symlink(ns, objs, tmp_path):
    link = tmp_path / "elsewhere" / "runpath.so"
    link.parent.mkdir()
    link.symlink_to(objs / "pkg" / "runpath.so")
    hit = _resolve(ns, link, "libslimmldep.so.1")
    assert hit is not None  # the loader expands $ORIGIN to the real file's folder


def test_wheel_libs_and_tree_count_as_found(ns, objs, tmp_path):
    libs = tmp_path / "site-packages" / "pkg.libs"
    libs.mkdir(parents=True)
    shutil.copy(objs / "deps" / "libslimmldep.so.1", libs / "libslimmldep.so.1")
    tree = {"libslimmldep.so.1": [str(libs / "libslimmldep.so.1")]}
    assert _resolve(ns, objs / "pkg" / "bare.so", "libslimmldep.so.1", tree=tree)[0] == "wheel-libs"


def test_a_library_of_another_machine_is_not_a_match(ns, objs, tmp_path):
    d = tmp_path / "deps"
    d.mkdir()
    data = bytearray((objs / "deps" / "libslimmldep.so.1").read_bytes())
    struct.pack_into("<H", data, 18, 183)  # e_machine: aarch64
    (d / "libslimmldep.so.1").write_bytes(bytes(data))
    user = tmp_path / "pkg" / "runpath.so"
    user.parent.mkdir()
    shutil.copy(objs / "pkg" / "runpath.so", user)
    assert _resolve(ns, user, "libslimmldep.so.1") is None
    assert _resolve(ns, user, "libslimmldep.so.1", tree={"libslimmldep.so.1": [str(d / "libslimmldep.so.1")]}) is None


def test_scan_lists_only_what_cannot_be_resolved(ns, objs, tmp_path):
    root = tmp_path / "venv"
    shutil.copytree(objs / "pkg", root / "pkg")
    res = ns["scan"]([str(root)], 60)
    # deps/ is not in the scanned tree: every user of libslimmldep misses it, the program finds runpath.so
    assert sorted(res["missing"]) == ["libslimmldep.so.1"]
    users = sorted(Path(p).name for p in res["missing"]["libslimmldep.so.1"])
    assert users == ["bare.so", "rpath.so", "runpath.so"]
    assert res["files"] == 4 and res["dynamic"] == 4  # obj.o is not counted
    shutil.copytree(objs / "deps", root / "deps")
    assert ns["scan"]([str(root)], 60)["missing"] == {}


def test_copied_roots_are_the_final_stage_copy_from_destinations():
    text = (
        "FROM python:3.11 AS builder\nRUN pip install x\nFROM python:3.11-slim AS mid\nCOPY --from=builder /a /a\n"
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY --from=builder /opt/venv /opt/venv\n"
        'COPY --from=builder /src/build/ext.so ./lib/\nCOPY --from=builder ["/x y", "/z"]\n'
        "COPY --from=builder /o $DEST\nCOPY . .\n"
    )
    assert elfdeps.copied_roots(text) == ["/opt/venv", "/app/lib", "/z"]
    assert elfdeps.copied_roots("FROM python:3.11\nCOPY . .\n") == []


def test_packages_go_right_after_the_final_from():
    text = 'FROM python:3.11 AS builder\r\nRUN true\r\n\r\nFROM python:3.11-slim\r\nWORKDIR /app\r\nCMD ["x"]'
    out = add_runtime_packages(text, ["libgomp1", "libgl1"])
    doc = parse(out)
    final = doc.stages[-1].instructions
    assert final[1].keyword == "RUN" and "install -y --no-install-recommends libgomp1 libgl1 &&" in final[1].args
    assert "rm -rf /var/lib/apt/lists/*" in final[1].args
    assert [i.keyword for i in doc.stages[0].instructions] == ["FROM", "RUN"]
    assert "\r\nRUN apt-get update" in out  # the file's line endings
    assert add_runtime_packages(text, []) == text
    with pytest.raises(ValueError):
        add_runtime_packages(text, ["x; rm -rf /"])


RUNTIME_APT = (
    "FROM python:3.11 AS builder\nRUN true\n\nFROM python:3.11-slim\n"
    "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpq5 \\\n"
    "    && rm -rf /var/lib/apt/lists/*\nCOPY . .\n"
)


def test_packages_join_the_runtime_stages_own_apt_install():
    out = add_runtime_packages(RUNTIME_APT, ["libgomp1", "xz-utils"])
    assert out == RUNTIME_APT.replace("libpq5 \\", "libpq5 libgomp1 xz-utils \\")  # one apt-get update
    redirected = RUNTIME_APT.replace("libpq5 \\", "libpq5 >/dev/null \\")
    # a redirect is outside the words slimml reads as the command: a RUN of its own, to be sure
    assert add_runtime_packages(redirected, ["libgomp1"]).count("apt-get update") == 2


@pytest.mark.parametrize(
    "run",
    [
        "apt-get update; apt-get install -y libpq5",  # the install runs even when update failed
        "apt-get update && apt-get install -y libpq5 || true",  # its failure is ignored
        'if [ -n "$X" ]; then apt-get update && apt-get install -y libpq5; fi',  # it may not run
        "apt-get update && apt-get install -y $(cat /pkgs)",  # words that are not package names
        "apt-get update && apt-get -o Dir::Etc=/x install -y libpq5",
        "pip install x && apt-get update && apt-get install -y libpq5",  # (a plain chain: merged)
    ],
)
def test_an_install_that_may_not_run_as_written_gets_a_run_of_its_own(run):
    text = f"FROM python:3.11 AS b\nRUN true\nFROM python:3.11-slim\nRUN {run}\n"
    out = add_runtime_packages(text, ["libgomp1"])
    merged = out.count("apt-get update") == 1
    assert merged == run.startswith("pip install"), out
    assert "libgomp1" in out


@pytest.mark.parametrize(
    "text",
    [
        RUNTIME_APT,
        'FROM python:3.11 AS b\nRUN true\nFROM python:3.11-slim\nCMD ["x"]\n',
        "FROM python:3.11 AS b\nFROM python:3.11-slim",  # FROM is the last line, no newline
        "# escape=`\nFROM python:3.11 AS b\nFROM `\n  python:3.11-slim `\n  AS final\n# comment\nRUN echo `\n  hi\n",
        "FROM python:3.11 AS b\r\nFROM python:3.11-slim\r\nRUN <<EOF\r\necho hi\r\nEOF\r\n",
    ],
)
def test_the_added_install_is_one_instruction_to_buildkit(text):
    import dockerfile

    from .oracle import assert_agrees

    out = add_runtime_packages(text, ["libgomp1"])
    assert_agrees(out)
    cmds = dockerfile.parse_string(out)
    froms = [i for i, c in enumerate(cmds) if c.cmd.upper() == "FROM"]
    run = cmds[froms[-1] + 1]
    assert run.cmd.upper() == "RUN" and run.value[0].startswith("apt-get update && ") and "libgomp1" in run.value[0]
    assert len(cmds) == len(dockerfile.parse_string(text)) + (0 if text is RUNTIME_APT else 1)


def test_missing_programs_come_from_the_programs_check():
    from slimml.measure.checks import FAIL, Check, Verification

    v = Verification("b", "a")
    c = Check("programs", FAIL, "1 program(s) the app runs are missing from the rewrite's PATH")
    c.details = {"failures": ["ffmpeg: /usr/bin/ffmpeg in the original, not found in the rewrite (run at /app/a.py:3)"]}
    v.checks.append(c)
    assert missing_programs(v) == {"ffmpeg": ["/app/a.py:3"]}
    assert missing_programs(Verification("b", "a")) == {}


# -- the repair loop's decisions, on scripted scans (the Docker tier runs it on real images) --------------
class _Script:
    """Scans and lookups the loop sees, in order, and the attempts it makes."""

    def __init__(self, scans, owners):
        self.scans, self.owners, self.attempts = list(scans), dict(owners), []

    def scan(self, client, ref, roots, resources=None):
        sc = self.scans.pop(0)
        sc.roots = roots
        return sc

    def lookup(self, client, ref, libs, programs, machine=(2, 62), resources=None):
        out = [self.owners[n] for n in list(libs) + list(programs)]
        for o in out:
            o.needed_by = list(libs.get(o.name) or programs.get(o.name) or [])
        return out, {"os": {"id": "debian", "version_id": "12"}, "dpkg": True}

    def attempt(self, text, label):
        self.attempts.append(text)
        ok = len(self.attempts) >= self.ok_after
        return f"img-{label}", None, ok, [] if ok else ["run: the command exits with code 1"]


SPLIT = (
    "FROM python:3.11 AS builder\nRUN pip install x\nFROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\n"
)


def _sc(missing, apt=True):
    return elfdeps.ElfScan(
        "img", [], files=3, dynamic=3, missing=missing, os={"id": "debian", "version_id": "12"}, apt=apt
    )


def _loop(monkeypatch, script, ok_after=1, verification=None):
    from slimml.measure import repair as R

    script.ok_after = ok_after
    monkeypatch.setattr(R, "scan", script.scan)
    monkeypatch.setattr(R, "lookup", script.lookup)
    return R.repair(None, "before", SPLIT, "after", verification, script.attempt)


def test_repair_adds_the_owning_package_and_rebuilds(monkeypatch):
    s = _Script(
        [_sc({"libgomp.so.1": ["/opt/venv/x/lib_lightgbm.so"]})],
        {"libgomp.so.1": elfdeps.Owner("libgomp.so.1", "library", "/lib/x86_64-linux-gnu/libgomp.so.1", "libgomp1")},
    )
    rep = _loop(monkeypatch, s)
    assert rep.verified and rep.packages == ["libgomp1"] and len(s.attempts) == 1
    assert "install -y --no-install-recommends libgomp1" in s.attempts[0] and rep.text == s.attempts[0]
    assert "lib_lightgbm.so" in rep.reasons[0] and rep.iterations[0].scan["roots"] == ["/opt/venv"]


def test_repair_adds_nothing_when_nothing_is_missing(monkeypatch):
    s = _Script([_sc({})], {})
    rep = _loop(monkeypatch, s)
    assert not rep.verified and rep.packages == [] and s.attempts == [] and rep.text is None
    assert rep.evidence == [] and "nothing to repair" in rep.notes[0]


def test_a_library_no_package_ships_ends_the_repair_with_evidence(monkeypatch):
    s = _Script(
        [_sc({"libown.so.1": ["/opt/app/libuser.so"], "libgomp.so.1": ["/opt/app/libuser.so"]})],
        {
            "libown.so.1": elfdeps.Owner("libown.so.1", "library", "/usr/local/lib/libown.so.1", None),
            "libgomp.so.1": elfdeps.Owner("libgomp.so.1", "library", "/usr/lib/libgomp.so.1", "libgomp1"),
        },
    )
    rep = _loop(monkeypatch, s)
    assert not rep.verified and s.attempts == []  # no build for a repair that cannot work
    assert "libown.so.1" in rep.evidence[0] and "/usr/local/lib/libown.so.1" in rep.evidence[0]
    assert "no Debian/Ubuntu package" in rep.evidence[0] and "/opt/app/libuser.so" in rep.evidence[0]


def test_missing_in_the_original_too_is_ignored(monkeypatch):
    s = _Script(
        [_sc({"libcuda.so.1": ["/opt/venv/torch/lib/x.so"]})],
        {"libcuda.so.1": elfdeps.Owner("libcuda.so.1", "library", None, None)},
    )
    rep = _loop(monkeypatch, s)
    assert s.attempts == [] and not rep.verified and "libcuda.so.1" in rep.notes[0]


def test_repair_iterations_are_bounded_and_cumulative(monkeypatch):
    from slimml.measure import repair as R

    scans = [_sc({f"lib{i}.so": ["/opt/venv/a.so"]}) for i in range(R.MAX_ITERATIONS)]
    owners = {
        f"lib{i}.so": elfdeps.Owner(f"lib{i}.so", "library", f"/usr/lib/lib{i}.so", f"pkg{i}")
        for i in range(R.MAX_ITERATIONS)
    }
    s = _Script(scans, owners)
    rep = _loop(monkeypatch, s, ok_after=99)
    assert len(s.attempts) == R.MAX_ITERATIONS and not rep.verified
    assert "pkg0 pkg1 pkg2" in s.attempts[-1] and s.attempts[-1].count("apt-get update") == 1
    assert "not verified after" in rep.evidence[-1]


def test_a_package_that_did_not_help_stops_the_loop(monkeypatch):
    o = elfdeps.Owner("libx.so.1", "library", "/usr/lib/libx.so.1", "libx1")
    s = _Script([_sc({"libx.so.1": ["/opt/venv/a.so"]}), _sc({"libx.so.1": ["/opt/venv/a.so"]})], {"libx.so.1": o})
    rep = _loop(monkeypatch, s, ok_after=99)
    assert len(s.attempts) == 1 and "installed and still missing" in rep.evidence[0]


def test_no_apt_in_the_runtime_image_is_evidence(monkeypatch):
    s = _Script(
        [_sc({"libx.so.1": ["/opt/venv/a.so"]}, apt=False)],
        {"libx.so.1": elfdeps.Owner("libx.so.1", "library", "/usr/lib/libx.so.1", "libx1")},
    )
    rep = _loop(monkeypatch, s)
    assert s.attempts == [] and "no apt-get" in rep.evidence[0]


def test_only_a_rewrite_on_another_base_is_repaired():
    from slimml.measure.repair import applies

    orig = "FROM python:3.11\nRUN pip install x\n"
    assert applies(orig, SPLIT)
    assert not applies(orig, "FROM python:3.11\nRUN pip install --no-cache-dir x\n")  # same base: nothing to bring back
    assert not applies(SPLIT, SPLIT)
