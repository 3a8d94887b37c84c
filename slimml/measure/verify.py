"""Does the rewritten image behave like the original? Checks on two built images.

``verify(client, before, after, options)`` takes any two image references, so the checks run on
whatever a rewrite produced -- or on a deliberately broken "after" written by hand in a test.
Each check gives a status (pass / fail / warn / skip), a one-line summary and the evidence:

- **config**: ENTRYPOINT+CMD (an init-script wrapper that ``exec "$@"``s the original command is
  accepted), WORKDIR, USER, EXPOSE, VOLUME, LABEL, HEALTHCHECK, STOPSIGNAL, ONBUILD and ENV
  (apart from PATH additions, the variables the rewrite sets and documents in its diff, and what
  a change of base image brings);
- **python**: the distributions and versions the CMD's interpreter sees (as ``pip list``);
- **imports**: every top-level module of those distributions that imported in the original
  imports in the rewrite;
- **native-libs**: every ELF file under the Python prefix/site folders and the app folders
  resolves its libraries in the rewrite wherever it did in the original (a missing runtime apt
  package, e.g. libpq5, shows up here);
- **app-files**: same paths, content, mode and owner under the app folders, except what the
  rewrite deliberately removed (weights moved out, files its .dockerignore now excludes: listed);
- **smoke**: the user's ``--smoke`` command exits 0 in both (the rewrite gets the deliberately
  removed files put back at their old paths, the way a mounted volume would provide them).

Probes run in throw-away containers without network, one per check and image, time-boxed.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shlex
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from . import probes
from .plan import (
    CopyEntry,
    app_roots,
    copy_map,
    documented_env,
    final_base_image,
    image_to_context,
)

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"
TOOLING_DISTS = frozenset({"pip", "setuptools", "wheel", "distribute"})
# ENV a rewrite may set without changing what the application does (documented by the rules).
NEUTRAL_ENV = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR",
                         "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_ROOT_USER_ACTION", "VIRTUAL_ENV",
                         "DEBIAN_FRONTEND"})
# ENV that changes what the program loads: never "neutral", even when the rewrite sets it openly.
LOADER_ENV = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONNOUSERSITE",
                        "PYTHONUSERBASE", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONOPTIMIZE"})
NOT_MODULES = frozenset({"test", "tests", "testing", "docs", "doc", "examples", "example", "benchmarks", "bin"})
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})
PY_RE = re.compile(r"^(python|pypy)(\d+(\.\d+)*)?$")
EXEC_ARGS_RE = re.compile(r'''\bexec\s+(?:--\s+)?(?:"\$@"|"\$\{@\}"|\$@|\$\{@\})''')
FILE_EXCLUDES = (r"/__pycache__/", r"\.py[co]$", r"/\.cache/pip(/|$)", r"/\.cache/uv(/|$)")
MAX_EVIDENCE = 20
INJECT_LIMIT = 2_000_000_000  # bytes of removed files put back into the rewrite for the smoke run


@dataclass
class Check:
    name: str
    status: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def add(self, line: str) -> None:
        self.evidence.append(line)


@dataclass
class Verification:
    before: str
    after: str
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "FAIL" if any(c.status == FAIL for c in self.checks) else "PASS"

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "before": self.before, "after": self.after,
                "checks": [asdict(c) for c in self.checks]}


@dataclass
class VerifyOptions:
    smoke: str | None = None
    timeout: float = 120.0  # per probe container
    per_module_timeout: float = 60.0
    copy_map: list[CopyEntry] = field(default_factory=list)  # the original's final-stage COPY/ADD
    app_roots: list[str] | None = None  # None: WORKDIR + COPY destinations
    dockerignore_before: str | None = None
    dockerignore_after: str | None = None
    weights_moved: bool = False  # the rewrite moved model weights out (SLM010)
    rewrite_changed: set[str] = field(default_factory=set)  # context paths whose content the rewrite changed
    documented_env: set[str] = field(default_factory=set)
    base_before: str | None = None
    base_after: str | None = None
    inject_removed: bool = True

    @classmethod
    def from_dockerfiles(cls, before_text: str, after_text: str, context_dir=None, *,
                         dockerignore_before: str | None = None, dockerignore_after: str | None = None,
                         applied: dict | set | tuple = (), rewrite_changed=(), **kw) -> VerifyOptions:
        return cls(copy_map=copy_map(before_text, context_dir),
                   dockerignore_before=dockerignore_before,
                   dockerignore_after=dockerignore_after if dockerignore_after is not None else dockerignore_before,
                   weights_moved="SLM010" in set(applied), rewrite_changed=set(rewrite_changed),
                   documented_env=documented_env(before_text, after_text),
                   base_before=final_base_image(before_text), base_after=final_base_image(after_text), **kw)


def _cap(lines: list[str], n: int = MAX_EVIDENCE) -> list[str]:
    return list(lines) if len(lines) <= n else lines[:n] + [f"... and {len(lines) - n} more"]


# -- containers ------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    error: str | None = None


def run_container(client, image: str, *, entrypoint: list[str], command: list[str] | None = None,
                  env: dict | None = None, user: str | None = None, timeout: float = 120.0, resources=None,
                  network: bool = False, inject: list[tuple[str, bytes]] = ()) -> RunResult:
    """Run a throw-away container to completion (killed at ``timeout``) and remove it."""
    api = client.api
    host_config = api.create_host_config(network_mode="bridge" if network else "none")
    try:
        c = api.create_container(image, command=command or [], entrypoint=entrypoint, environment=env or {},
                                 user=user or "", host_config=host_config, labels={"slimml.measure": "probe"},
                                 detach=True)
    except Exception as e:  # noqa: BLE001
        return RunResult(None, "", "", error=f"cannot create a container: {e}")
    cid = c["Id"]
    if resources is not None:
        resources.containers.append(cid)
    try:
        for parent, data in inject:
            api.put_archive(cid, parent, data)
        api.start(cid)
        timed_out = False
        try:
            code = api.wait(cid, timeout=timeout)["StatusCode"]
        except Exception:  # noqa: BLE001 - requests' ReadTimeout / ConnectionError
            timed_out, code = True, None
            try:
                api.kill(cid)
            except Exception:  # noqa: BLE001
                pass
        out = api.logs(cid, stdout=True, stderr=False).decode("utf-8", "replace")
        err = api.logs(cid, stdout=False, stderr=True).decode("utf-8", "replace")
        return RunResult(code, out, err, timed_out)
    except Exception as e:  # noqa: BLE001
        return RunResult(None, "", "", error=f"{type(e).__name__}: {e}")
    finally:
        try:
            api.remove_container(cid, force=True, v=True)
            if resources is not None and cid in resources.containers:
                resources.containers.remove(cid)
        except Exception:  # noqa: BLE001 - left for Resources.cleanup
            pass


def read_image_file(client, image: str, path: str, resources=None, limit: int = 1_000_000) -> str | None:
    """Text of a file in an image (via a created, never started container), or None."""
    api = client.api
    try:
        cid = api.create_container(image, command=["true"], entrypoint=[], labels={"slimml.measure": "probe"})["Id"]
    except Exception:  # noqa: BLE001
        return None
    if resources is not None:
        resources.containers.append(cid)
    try:
        for _ in range(5):  # follow symlinks
            stream, st = api.get_archive(cid, path)
            data = b"".join(stream)
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                member = next(iter(tf.getmembers()), None)
                if member is None:
                    return None
                if member.issym():
                    path = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
                    continue
                if not member.isfile():
                    return None
                fh = tf.extractfile(member)
                return fh.read(limit).decode("utf-8", "replace") if fh else None
        return None
    except Exception:  # noqa: BLE001 - missing file
        return None
    finally:
        try:
            api.remove_container(cid, force=True)
            if resources is not None and cid in resources.containers:
                resources.containers.remove(cid)
        except Exception:  # noqa: BLE001
            pass


def copy_paths_between(client, src_image: str, paths: list[str], resources=None) -> list[tuple[str, bytes]]:
    """(parent, tar) archives of ``paths`` from ``src_image``, ready for ``put_archive``."""
    api = client.api
    out = []
    try:
        cid = api.create_container(src_image, command=["true"], entrypoint=[], labels={"slimml.measure": "probe"})["Id"]
    except Exception:  # noqa: BLE001
        return out
    if resources is not None:
        resources.containers.append(cid)
    try:
        for p in paths:
            try:
                stream, _ = api.get_archive(cid, p)
                out.append((posixpath.dirname(p) or "/", b"".join(stream)))
            except Exception:  # noqa: BLE001
                continue
    finally:
        try:
            api.remove_container(cid, force=True)
            if resources is not None and cid in resources.containers:
                resources.containers.remove(cid)
        except Exception:  # noqa: BLE001
            pass
    return out


# -- config parity (pure) -------------------------------------------------------------------------------
def env_dict(env: list[str] | None) -> dict[str, str]:
    out = {}
    for item in env or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _path_additions_only(before: str, after: str) -> bool:
    """Every entry of ``before`` is in ``after``, in the same order (new entries anywhere)."""
    b = [p for p in before.split(":") if p]
    a = [p for p in after.split(":") if p]
    it = iter(a)
    return all(any(x == y for y in it) for x in b)


def effective_argv(cfg: dict) -> list[str]:
    return list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])


def wrapper_of(before_argv: list[str], after_argv: list[str], read_file: Callable[[str], str | None]) -> str | None:
    """The init script wrapping the original command (``after = [script] + before`` or
    ``[sh, script] + before``, and the script ends by ``exec "$@"``), or None."""
    for n in (1, 2):
        if len(after_argv) < n or after_argv[n:] != before_argv:
            continue
        if n == 2 and posixpath.basename(after_argv[0]) not in SHELLS:
            continue
        script = after_argv[n - 1]
        if not script.startswith("/"):
            continue
        text = read_file(script)
        if text and EXEC_ARGS_RE.search(text):
            return script
    return None


def compare_config(cfg_b: dict, cfg_a: dict, *, documented: set[str] = frozenset(), base_b: dict | None = None,
                   base_a: dict | None = None, read_file_after: Callable[[str], str | None] = lambda p: None) -> Check:
    check = Check("config", PASS, "")
    fails, notes = [], []
    argv_b, argv_a = effective_argv(cfg_b), effective_argv(cfg_a)
    if argv_b != argv_a:
        script = wrapper_of(argv_b, argv_a, read_file_after)
        if script:
            notes.append(f"ENTRYPOINT/CMD: wrapped by {script}, which execs the original command {json.dumps(argv_b)}")
        else:
            fails.append(f"ENTRYPOINT/CMD: {json.dumps(argv_b)} -> {json.dumps(argv_a)}")
    simple = [("WorkingDir", "WORKDIR", ""), ("User", "USER", ""), ("ExposedPorts", "EXPOSE", {}),
              ("Volumes", "VOLUME", {}), ("Healthcheck", "HEALTHCHECK", None), ("StopSignal", "STOPSIGNAL", None),
              ("OnBuild", "ONBUILD", [])]
    for key, label, empty in simple:
        vb, va = cfg_b.get(key) or empty, cfg_a.get(key) or empty
        if vb != va:
            fails.append(f"{label}: {json.dumps(vb)} -> {json.dumps(va)}")

    def base_changed(section: str, k: str) -> bool:
        if base_b is None or base_a is None:
            return False
        get = env_dict if section == "env" else (lambda d: d or {})
        bb = get(base_b.get("Env") if section == "env" else base_b.get("Labels"))
        ba = get(base_a.get("Env") if section == "env" else base_a.get("Labels"))
        return bb.get(k) != ba.get(k)

    eb, ea = env_dict(cfg_b.get("Env")), env_dict(cfg_a.get("Env"))
    for k in sorted(set(eb) | set(ea)):
        vb, va = eb.get(k), ea.get(k)
        if vb == va:
            continue
        if k == "PATH" and vb is not None and va is not None and _path_additions_only(vb, va):
            notes.append(f"ENV PATH: entries added ({va})")
        elif vb is None and k in LOADER_ENV:
            fails.append(f"ENV {k}={va}: added; it changes what the program loads")
        elif vb is None and (k in documented or k in NEUTRAL_ENV):
            notes.append(f"ENV {k}={va}: set by the rewrite" + (" (documented in the diff)" if k in documented else ""))
        elif base_changed("env", k):
            notes.append(f"ENV {k}: {vb!r} -> {va!r} comes with the new base image")
        elif vb is None:
            fails.append(f"ENV {k}={va}: added, not set by the rewritten Dockerfile")
        elif va is None:
            fails.append(f"ENV {k}: removed (was {vb!r})")
        else:
            fails.append(f"ENV {k}: {vb!r} -> {va!r}")
    lb, la = cfg_b.get("Labels") or {}, cfg_a.get("Labels") or {}
    for k in sorted(set(lb) | set(la)):
        if lb.get(k) == la.get(k):
            continue
        if base_changed("labels", k):
            notes.append(f"LABEL {k}: {lb.get(k)!r} -> {la.get(k)!r} comes with the new base image")
        else:
            fails.append(f"LABEL {k}: {lb.get(k)!r} -> {la.get(k)!r}")
    check.evidence = fails + notes
    check.details = {"failures": fails, "notes": notes, "argv_before": argv_b, "argv_after": argv_a}
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} difference(s) in the image config"
    else:
        check.summary = "entrypoint, cmd, workdir, user, ports, volumes, labels, healthcheck and env match" + (
            f" ({len(notes)} expected difference(s))" if notes else "")
    return check


# -- interpreter ------------------------------------------------------------------------------------------
def command_words(argv: list[str]) -> list[str]:
    """The words that may name the program: a ``sh -c "..."`` string is split into its words."""
    if argv and posixpath.basename(argv[0]) in SHELLS and "-c" in argv[1:]:
        i = argv.index("-c")
        script = argv[i + 1] if i + 1 < len(argv) else ""
        try:
            words = shlex.split(script)
        except ValueError:
            words = script.split()
        words = [w for w in words if w not in ("exec", "&&", "||", ";", "|") and not re.match(r"^\w+=", w)]
        return words + argv[i + 2:]
    return list(argv)


def pick_interpreter(argv: list[str], resolved: dict[str, tuple[str, str]]) -> tuple[str | None, str]:
    """(interpreter path, how it was found) from the CMD words and their resolution in the image."""
    for w in command_words(argv)[:10]:
        if w.startswith("-"):
            continue
        base = posixpath.basename(w)
        path, first = resolved.get(w, ("", ""))
        if PY_RE.match(base):
            if path:
                return path, f"the CMD runs {w}"
            continue
        if first.startswith("#!"):
            parts = first[2:].strip().split()
            if not parts:
                continue
            prog = parts[0]
            if posixpath.basename(prog) == "env":
                rest = [p for p in parts[1:] if not p.startswith("-") and "=" not in p]
                prog = rest[0] if rest else ""
            if PY_RE.match(posixpath.basename(prog)):
                if prog.startswith("/"):
                    return prog, f"the CMD runs {w} ({first.strip()})"
                p = resolved.get(prog, ("", ""))[0]
                if p:
                    return p, f"the CMD runs {w} ({first.strip()})"
    for fallback in ("python3", "python"):
        p = resolved.get(fallback, ("", ""))[0]
        if p:
            return p, f"{fallback} on the image's PATH (the CMD names no Python program)"
    return None, "no Python interpreter found"


def resolve_interpreter(client, image: str, cfg: dict, timeout: float, resources=None) -> tuple[str | None, str]:
    argv = effective_argv(cfg)
    words = [w for w in command_words(argv)[:10] if not w.startswith("-")]
    words += ["python3", "python"]
    r = run_container(client, image, entrypoint=["/bin/sh", "-c", probes.RESOLVE_SH, "sh"], command=words,
                      user=cfg.get("User") or None, timeout=timeout, resources=resources)
    resolved = probes.parse_resolve(r.stdout)
    if not resolved:
        # No shell in the image: try the CMD's program if it names Python.
        first = next((w for w in command_words(argv) if PY_RE.match(posixpath.basename(w))), None)
        return (first, "the CMD's program (no /bin/sh to check it)") if first else (None, "no /bin/sh to look up the interpreter")
    return pick_interpreter(argv, resolved)


def run_probe(client, image: str, interpreter: str, mode: str, args: dict, *, user: str | None, timeout: float,
              resources=None) -> tuple[dict | None, RunResult]:
    args = {**args, "budget": max(10.0, timeout - 10)}
    r = run_container(client, image, entrypoint=[interpreter, "-c", probes.PROBE_PY], command=[mode],
                      env={"SLIMML_PROBE_ARGS": json.dumps(args), "PYTHONDONTWRITEBYTECODE": "1"}, user=user,
                      timeout=timeout, resources=resources)
    return probes.parse_output(r.stdout), r


def _probe_failure(r: RunResult) -> str:
    if r.error:
        return r.error
    if r.timed_out:
        return "timed out"
    tail = " | ".join(r.stderr.strip().splitlines()[-3:])
    return f"exit {r.code}: {tail}" if tail else f"exit {r.code}"


# -- python / imports / ELF / files comparisons (pure) -------------------------------------------------
def compare_dists(db: dict, da: dict, info_b: dict | None = None, info_a: dict | None = None) -> Check:
    check = Check("python", PASS, "")
    fails, notes = [], []
    if info_b and info_a:
        vb, va = info_b.get("version", ""), info_a.get("version", "")
        if vb.split(".")[:2] != va.split(".")[:2]:
            fails.append(f"Python {vb} ({info_b.get('executable')}) -> {va} ({info_a.get('executable')})")
        elif vb != va:
            notes.append(f"Python {vb} -> {va} (same minor version)")
    for key in sorted(set(db) | set(da)):
        b, a = db.get(key), da.get(key)
        name = (b or a)["name"]
        if b and a and b["version"] == a["version"]:
            continue
        tooling = key in TOOLING_DISTS
        if b and not a:
            (notes if tooling else fails).append(f"{name} {b['version']}: missing in the rewrite"
                                                 + (" (packaging tool)" if tooling else ""))
        elif a and not b:
            notes.append(f"{name} {a['version']}: only in the rewrite")
        else:
            (notes if tooling else fails).append(f"{name}: {b['version']} -> {a['version']}"
                                                 + (" (packaging tool)" if tooling else ""))
    check.evidence = _cap(fails) + _cap(notes)
    common = sum(1 for k in db if k in da and db[k]["version"] == da[k]["version"])
    check.details = {"failures": fails, "notes": notes, "before": {k: v["version"] for k, v in db.items()},
                     "after": {k: v["version"] for k, v in da.items()}}
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} distribution(s) missing or at another version"
    else:
        check.summary = f"{common} distributions, same versions" + (f" ({len(notes)} note(s))" if notes else "")
    return check


def modules_to_import(dists: dict) -> list[str]:
    mods = set()
    for key, d in dists.items():
        if key in TOOLING_DISTS:
            continue
        for m in d.get("top") or []:
            if m.isidentifier() and m not in NOT_MODULES and not m.startswith("__"):
                mods.add(m)
    return sorted(mods)


def compare_imports(ib: dict, ia: dict) -> Check:
    check = Check("imports", PASS, "")
    ok_b = sorted(m for m, r in ib.items() if r.get("ok"))
    failed_b = sorted(m for m, r in ib.items() if r.get("ok") is False)
    fails, unknown = [], []
    for m in ok_b:
        r = ia.get(m)
        if r is None or r.get("ok") is None:
            unknown.append(m)
        elif not r.get("ok"):
            fails.append(f"{m}: {r.get('error')}")
    check.evidence = _cap(fails)
    if unknown:
        check.add(f"not checked in the rewrite (time budget): {', '.join(unknown[:10])}")
    if failed_b:
        check.add(f"fail in the original too (ignored): {', '.join(failed_b[:10])}")
    check.details = {"failures": fails, "imported_before": ok_b, "failed_before": failed_b, "unchecked": unknown}
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} of {len(ok_b)} module(s) that import in the original fail in the rewrite"
    elif unknown:
        check.status = WARN
        check.summary = f"{len(ok_b) - len(unknown)} of {len(ok_b)} modules import; {len(unknown)} not checked"
    else:
        check.summary = f"all {len(ok_b)} top-level modules import"
    return check


def elf_key(path: str, info: dict, roots: list[str]) -> str:
    if path == (info or {}).get("real_executable"):
        return "python:interpreter"
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return "site:" + path.rsplit(marker, 1)[1]
    for s in (info or {}).get("stdlib") or []:
        if path.startswith(s.rstrip("/") + "/"):
            return "stdlib:" + path[len(s.rstrip("/")) + 1:]
    for r in roots:
        if path == r or path.startswith(r.rstrip("/") + "/"):
            return "app:" + path
    for p in ((info or {}).get("prefix"), (info or {}).get("base_prefix")):
        if p and p not in ("/", "/usr") and path.startswith(p.rstrip("/") + "/"):
            return "prefix:" + path[len(p.rstrip("/")) + 1:]
    return "abs:" + path


def compare_elf(eb: dict, ea: dict, roots: list[str]) -> Check:
    check = Check("native-libs", PASS, "")
    kb = {elf_key(p, eb.get("python"), roots): (p, r) for p, r in (eb.get("files") or {}).items()}
    ka = {elf_key(p, ea.get("python"), roots): (p, r) for p, r in (ea.get("files") or {}).items()}
    fails, broken_before, absent = [], 0, 0
    for key, (pb, rb) in sorted(kb.items()):
        if rb.get("missing"):
            broken_before += 1
        if key not in ka:
            absent += 1
            continue
        pa, ra = ka[key]
        new = [lib for lib in ra.get("missing") or [] if lib not in (rb.get("missing") or [])]
        if new:
            fails.append(f"{pa}: {', '.join(new)} not found")
    check.evidence = _cap(fails)
    if broken_before:
        check.add(f"{broken_before} file(s) already had unresolved libraries in the original (ignored)")
    if absent:
        check.add(f"{absent} ELF file(s) of the original are not in the rewrite (see the python/app-files checks)")
    truncated = eb.get("truncated") or ea.get("truncated")
    if truncated:
        check.add("the scan stopped at the time limit: not every file was checked")
    check.details = {"failures": fails, "files_before": len(kb), "files_after": len(ka),
                     "tool": ea.get("tool") or eb.get("tool"), "truncated": bool(truncated)}
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} ELF file(s) resolve all libraries in the original but not in the rewrite"
    elif truncated:
        check.status = WARN
        check.summary = f"no unresolved library in {len(ka)} ELF files checked (scan incomplete)"
    else:
        check.summary = f"all {len(ka)} ELF files resolve their libraries wherever they did in the original"
    return check


def _ignore(text):
    from ..dockerignore import PatternError, parse_patterns

    try:
        return parse_patterns(text) if text else []
    except PatternError:
        return []


def classify_removed(path: str, opts: VerifyOptions) -> str | None:
    """Why the rewrite deliberately removed ``path`` (None: it should not have)."""
    from ..dockerignore import is_excluded
    from ..knowledge.weights import looks_like_weight_file

    rel = image_to_context(path, opts.copy_map)
    excluded = False
    if rel is not None:
        after, before = _ignore(opts.dockerignore_after), _ignore(opts.dockerignore_before)
        excluded = bool(after) and is_excluded(rel, after) and not (before and is_excluded(rel, before))
    if opts.weights_moved and (looks_like_weight_file(path) or (excluded and _in_weight_dir(path))):
        return "model weights moved out of the image (SLM010)"
    if excluded:
        return "excluded by the rewritten .dockerignore"
    return None


def _in_weight_dir(path: str) -> bool:
    from ..knowledge.weights import WEIGHT_DIR_NAMES

    return any(part in WEIGHT_DIR_NAMES for part in path.split("/")[:-1])


def compare_files(fb: dict, fa: dict, opts: VerifyOptions) -> Check:
    check = Check("app-files", PASS, "")
    b, a = fb.get("files") or {}, fa.get("files") or {}
    fails, removed, changed_ok, added = [], {}, [], []
    for path in sorted(b):
        rel = image_to_context(path, opts.copy_map)
        if path not in a:
            why = classify_removed(path, opts)
            if why:
                removed.setdefault(why, []).append(path)
            else:
                fails.append(f"{path}: missing in the rewrite")
            continue
        eb, ea = b[path], a[path]
        if eb == ea:
            continue
        if rel is not None and rel in opts.rewrite_changed:
            changed_ok.append(path)
            continue
        what = []
        if eb[0] != ea[0]:
            what.append(f"{eb[0]} -> {ea[0]}")
        if eb[5] != ea[5]:
            what.append("content differs" if eb[0] == "file" else f"link {eb[5]} -> {ea[5]}")
        if eb[1] != ea[1]:
            what.append(f"mode {eb[1]:o} -> {ea[1]:o}")
        if (eb[2], eb[3]) != (ea[2], ea[3]):
            what.append(f"owner {eb[2]}:{eb[3]} -> {ea[2]}:{ea[3]}")
        if what:
            fails.append(f"{path}: {', '.join(what)}")
    for path in sorted(a):
        if path not in b:
            added.append(path)
    check.evidence = _cap(fails)
    for why, paths in removed.items():
        check.add(f"removed on purpose ({why}): " + ", ".join(_cap(paths, 8)))
    if changed_ok:
        check.add("changed by the rewrite itself: " + ", ".join(_cap(changed_ok, 8)))
    if added:
        check.add("only in the rewrite: " + ", ".join(_cap(added, 8)))
    truncated = fb.get("truncated") or fa.get("truncated")
    if truncated:
        check.add("the scan stopped at the time limit: not every file was compared")
    check.details = {"failures": fails, "removed": removed, "changed_by_rewrite": changed_ok, "added": added,
                     "roots": fb.get("roots") or [], "files_before": len(b), "files_after": len(a),
                     "truncated": bool(truncated)}
    n_removed = sum(len(v) for v in removed.values())
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} application file(s) missing or changed"
    elif truncated:
        check.status = WARN
        check.summary = f"{len(b)} files compared (scan incomplete)"
    else:
        check.summary = f"{len(b) - n_removed} of {len(b)} files identical" + (
            f"; {n_removed} removed on purpose" if n_removed else "")
    return check


def compare_smoke(sb: RunResult, sa: RunResult, cmd: str, injected: list[str]) -> Check:
    check = Check("smoke", PASS, "")
    check.details = {"command": cmd, "before": {"exit": sb.code, "stdout": sb.stdout[-2000:], "stderr": sb.stderr[-2000:]},
                     "after": {"exit": sa.code, "stdout": sa.stdout[-2000:], "stderr": sa.stderr[-2000:]},
                     "injected": injected}
    if injected:
        check.add(f"rewrite run with {len(injected)} removed path(s) put back (as a volume would): "
                  + ", ".join(injected[:5]))
    if sb.code != 0:
        check.status = WARN
        check.summary = f"`{cmd}` fails in the original too ({_probe_failure(sb)}): nothing to compare"
        return check
    if sa.code != 0:
        check.status = FAIL
        check.summary = f"`{cmd}` exits 0 in the original but not in the rewrite ({_probe_failure(sa)})"
        check.evidence = [*(sa.stderr.strip().splitlines()[-10:] or sa.stdout.strip().splitlines()[-10:]),
                          *check.evidence]
        return check
    if sb.stdout != sa.stdout:
        check.status = WARN
        check.summary = f"`{cmd}` exits 0 in both, but prints something else in the rewrite"
        check.add(f"original: {sb.stdout.strip()[-300:]!r}")
        check.add(f"rewrite:  {sa.stdout.strip()[-300:]!r}")
        return check
    check.summary = f"`{cmd}` exits 0 in both, same output"
    return check


# -- the whole verification -------------------------------------------------------------------------------
def _inspect(client, ref: str) -> dict:
    return client.api.inspect_image(ref)


def _missing_ancestors(paths: list[str], after_files: dict, roots: list[str]) -> list[str]:
    """The highest folders (or files) of ``paths`` that do not exist in the rewrite."""
    existing_dirs = set(roots)
    for p in after_files:
        d = posixpath.dirname(p)
        while d and d not in existing_dirs:
            existing_dirs.add(d)
            d = posixpath.dirname(d) if d != "/" else ""
    out = []
    for p in paths:
        top = p
        d = posixpath.dirname(p)
        while d and d not in existing_dirs and d != "/":
            top, d = d, posixpath.dirname(d)
        if top not in out and not any(top.startswith(o.rstrip("/") + "/") for o in out):
            out.append(top)
    return out


def verify(client, before: str, after: str, options: VerifyOptions | None = None, resources=None,
           progress: Callable[[str], None] = lambda s: None) -> Verification:
    """Compare two images; see the module docstring for the checks."""
    opts = options or VerifyOptions()
    result = Verification(before, after)
    ib, ia = _inspect(client, before), _inspect(client, after)
    cfg_b, cfg_a = ib.get("Config") or {}, ia.get("Config") or {}

    progress("config")
    base_b = base_a = None
    if opts.base_before and opts.base_after and opts.base_before != opts.base_after:
        try:
            base_b = (_inspect(client, opts.base_before).get("Config") or {})
            base_a = (_inspect(client, opts.base_after).get("Config") or {})
        except Exception:  # noqa: BLE001 - bases not in the engine
            base_b = base_a = None
    result.checks.append(compare_config(cfg_b, cfg_a, documented=opts.documented_env, base_b=base_b, base_a=base_a,
                                        read_file_after=lambda p: read_image_file(client, after, p, resources)))

    t = opts.timeout
    progress("interpreter")
    py_b, how_b = resolve_interpreter(client, before, cfg_b, t, resources)
    py_a, how_a = resolve_interpreter(client, after, cfg_a, t, resources)
    roots = opts.app_roots if opts.app_roots is not None else app_roots(cfg_b.get("WorkingDir"), opts.copy_map)

    def skipped(name: str, why: str) -> None:
        result.checks.append(Check(name, SKIP, why))

    dists_b = dists_a = None
    if py_b is None:
        for name in ("python", "imports"):
            skipped(name, f"original: {how_b}")
    elif py_a is None:
        for name in ("python", "imports"):
            result.checks.append(Check(name, FAIL, f"the original runs Python ({py_b}) but the rewrite has none: {how_a}"))
    else:
        progress("python")
        dists_b, rb = run_probe(client, before, py_b, "dists", {}, user=cfg_b.get("User") or None, timeout=t,
                                resources=resources)
        dists_a, ra = run_probe(client, after, py_a, "dists", {}, user=cfg_a.get("User") or None, timeout=t,
                                resources=resources)
        if dists_b is None:
            skipped("python", f"cannot list the original's distributions with {py_b}: {_probe_failure(rb)}")
            skipped("imports", "no distribution list")
        elif dists_a is None:
            result.checks.append(Check("python", FAIL, f"the rewrite's interpreter {py_a} does not run: {_probe_failure(ra)}"))
            result.checks.append(Check("imports", FAIL, "the rewrite's interpreter does not run"))
        else:
            c = compare_dists(dists_b["dists"], dists_a["dists"], dists_b["info"], dists_a["info"])
            c.details["interpreter"] = {"before": py_b, "after": py_a, "how_before": how_b, "how_after": how_a}
            result.checks.append(c)
            progress("imports")
            mods = modules_to_import(dists_b["dists"])
            args = {"modules": mods, "per_module": opts.per_module_timeout}
            imp_b, rb = run_probe(client, before, py_b, "imports", args, user=cfg_b.get("User") or None,
                                  timeout=t, resources=resources)
            if imp_b is None:
                skipped("imports", f"import probe failed in the original: {_probe_failure(rb)}")
            else:
                ok = [m for m, r in imp_b["imports"].items() if r.get("ok")]
                imp_a, ra = run_probe(client, after, py_a, "imports", {**args, "modules": ok},
                                      user=cfg_a.get("User") or None, timeout=t, resources=resources)
                if imp_a is None:
                    result.checks.append(Check("imports", FAIL, f"import probe failed in the rewrite: {_probe_failure(ra)}"))
                else:
                    result.checks.append(compare_imports(imp_b["imports"], imp_a["imports"]))

    files_b = files_a = None
    if py_b is None or py_a is None:
        skipped("native-libs", "needs a Python interpreter in both images")
        skipped("app-files", "needs a Python interpreter in both images")
    else:
        progress("native libraries")
        elf_b, rb = run_probe(client, before, py_b, "elf", {"roots": roots}, user="0", timeout=t, resources=resources)
        elf_a, ra = run_probe(client, after, py_a, "elf", {"roots": roots}, user="0", timeout=t, resources=resources)
        if elf_b is None or elf_a is None or elf_b.get("error") or elf_a.get("error"):
            why = (elf_b or {}).get("error") or (elf_a or {}).get("error") or _probe_failure(rb if elf_b is None else ra)
            result.checks.append(Check("native-libs", SKIP, f"cannot list ELF libraries: {why}"))
        else:
            result.checks.append(compare_elf(elf_b, elf_a, roots))
        progress("application files")
        if not roots:
            skipped("app-files", "no application folder (WORKDIR is / and nothing is copied to a folder of its own)")
        else:
            args = {"roots": roots, "excludes": list(FILE_EXCLUDES)}
            files_b, rb = run_probe(client, before, py_b, "files", args, user="0", timeout=t, resources=resources)
            files_a, ra = run_probe(client, after, py_a, "files", args, user="0", timeout=t, resources=resources)
            if files_b is None or files_a is None:
                result.checks.append(Check("app-files", SKIP, "cannot list the application files: "
                                           + _probe_failure(rb if files_b is None else ra)))
            else:
                result.checks.append(compare_files(files_b, files_a, opts))

    if opts.smoke:
        progress("smoke")
        inject, injected = [], []
        fc = result.check("app-files")
        note = ""
        if opts.inject_removed and fc is not None and fc.details.get("removed") and files_a is not None:
            paths = [p for ps in fc.details["removed"].values() for p in ps]
            total = sum((files_b.get("files") or {}).get(p, [0] * 6)[4] for p in paths)
            if total > INJECT_LIMIT:
                note = (f"the {len(paths)} removed file(s) ({total / 1e9:.1f} GB) were not put back for the smoke run "
                        f"(over {INJECT_LIMIT / 1e9:.0f} GB): mount them yourself to run it")
            else:
                injected = _missing_ancestors(paths, files_a.get("files") or {}, roots)
                inject = copy_paths_between(client, before, injected, resources)
        sh = ["/bin/sh", "-c", opts.smoke]
        sb = run_container(client, before, entrypoint=sh, user=cfg_b.get("User") or None, timeout=t,
                           resources=resources, network=True)
        sa = run_container(client, after, entrypoint=sh, user=cfg_a.get("User") or None, timeout=t,
                           resources=resources, network=True, inject=inject)
        result.checks.append(compare_smoke(sb, sa, opts.smoke, injected))
        if note:
            result.checks[-1].add(note)
    return result
