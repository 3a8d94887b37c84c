"""Does the rewritten image behave like the original? Checks on two built images.

``verify(client, before, after, options)`` takes any two image references, so the checks run on
whatever a rewrite produced, on any two Dockerfiles (``slimml measure --after``), or on a
deliberately broken "after" written by hand in a test. Each check gives a status (pass / fail /
warn / skip), a one-line summary and the evidence:

- **config**: ENTRYPOINT+CMD, WORKDIR, USER, EXPOSE, VOLUME, LABEL, HEALTHCHECK, ENV ... (configparity);
- **python**: the interpreter the command really runs (venv, poetry/uv/conda environment, ``--user``
  site: PATH, shebangs and runners followed) and the distributions it sees;
- **imports**: every module of those distributions, and the app's own modules, that import in the
  original import in the rewrite;
- **native-libs**: every ELF file under the Python environment, the app folders and the programs
  the app runs resolves its NEEDED libraries wherever it did in the original;
- **programs**: every program the app's code (``subprocess``, ``os.system``), its scripts, its
  entrypoint and its command run is on the rewrite's PATH wherever it is on the original's;
- **app-files**: the app folders, judged by what the app reads (files)
- **run**: the real ENTRYPOINT/CMD, no network: same exit, or same ports and first answer (runtime);
- **smoke**: the user's ``--smoke`` command exits 0 in both.

Only what an slimml init script provides at container start (weights fetched or mounted) is put
back into the rewrite's containers, the way that mount would; nothing else the rewrite lost is.
Probes run in throw-away containers without network (the smoke command has network), time-boxed.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from . import appscan
from .checks import FAIL, PASS, SKIP, WARN, Check, Verification  # noqa: F401 - re-exported
from .configparity import compare_config, effective_argv, env_dict, provided_paths
from .containers import RunResult, copy_paths_between, probe_failure, read_image_file, run_container
from .envparity import compare_dists, compare_elf, compare_imports, compare_programs, modules_to_import
from .files import Reads, compare_files, missing_ancestors
from .interpreter import command_words, resolve_interpreter, resolve_words, run_probe
from .plan import SYSTEM_DIRS, CopyEntry, app_roots, copy_map, documented_env, final_base_image
from .runtime import compare_runs, observe

FILE_EXCLUDES = (r"/__pycache__/", r"\.py[co]$", r"/\.cache/pip(/|$)", r"/\.cache/uv(/|$)")
INJECT_LIMIT = 2_000_000_000  # bytes an init script provides that are put back for the run / smoke
MAX_PROGRAMS = 200


@dataclass
class VerifyOptions:
    smoke: str | None = None
    timeout: float = 120.0  # per probe container
    per_module_timeout: float = 60.0
    run: bool = True  # run the image's real command
    run_timeout: float = 60.0  # how long the command is watched (a server: until its ports settle)
    copy_map: list[CopyEntry] = field(default_factory=list)  # the original's final-stage COPY/ADD
    app_roots: list[str] | None = None  # None: WORKDIR + COPY destinations
    dockerignore_before: str | None = None
    dockerignore_after: str | None = None
    rewrite_changed: set[str] = field(default_factory=set)  # context paths whose content the rewrite changed
    documented_env: set[str] = field(default_factory=set)
    base_before: str | None = None
    base_after: str | None = None
    inject_provided: bool = True
    # Side files that say what the deployment provides at start (``# slimml-source:`` lines), besides the init
    # script the image runs: the weights image's Dockerfile of SLM010's image delivery, mounted read-only.
    provided_text: str = ""

    @classmethod
    def from_dockerfiles(
        cls,
        before_text: str,
        after_text: str,
        context_dir=None,
        *,
        dockerignore_before: str | None = None,
        dockerignore_after: str | None = None,
        rewrite_changed=(),
        **kw,
    ) -> VerifyOptions:
        kw.pop("applied", None)  # what the rewrite applied no longer matters: the images say it
        return cls(
            copy_map=copy_map(before_text, context_dir),
            dockerignore_before=dockerignore_before,
            dockerignore_after=dockerignore_after if dockerignore_after is not None else dockerignore_before,
            rewrite_changed=set(rewrite_changed),
            documented_env=documented_env(before_text, after_text),
            base_before=final_base_image(before_text),
            base_after=final_base_image(after_text),
            **kw,
        )


@dataclass
class _Side:
    """One image under verification and what the probes found in it."""

    ref: str
    cfg: dict
    py: str | None = None  # the interpreter the command runs
    tool: str | None = None  # a Python to run the file/ELF/source probes with (the command's, else any)
    how: str = ""
    resolved: dict = field(default_factory=dict)
    dists: dict | None = None
    files: dict | None = None

    @property
    def user(self) -> str | None:
        return self.cfg.get("User") or None


def _app_folders(cfg: dict, files: list[str]) -> list[str]:
    """Folders the app's modules are imported from: WORKDIR and the folders of the scripts the
    command runs (``python /srv/main.py``)."""
    wd = posixpath.normpath(cfg.get("WorkingDir") or "/")
    out = [wd] if wd not in SYSTEM_DIRS else []
    for w in command_words(effective_argv(cfg)):
        if w.endswith(".py"):
            p = posixpath.normpath(posixpath.join(wd, w))
            if p in files:
                out.append(posixpath.dirname(p))
    return list(dict.fromkeys(out))


class _Verifier:
    def __init__(self, client, before: str, after: str, opts: VerifyOptions, resources, progress, memo=None):
        self.client, self.opts, self.res, self.progress = client, opts, resources, progress
        # What the original's probes found, shared by verifications of several candidates against it.
        self.memo = memo if memo is not None else {}
        ib, ia = client.api.inspect_image(before), client.api.inspect_image(after)
        self.b = _Side(before, ib.get("Config") or {})
        self.a = _Side(after, ia.get("Config") or {})
        self.result = Verification(before, after)
        self.inject: list[tuple[str, bytes]] = []
        self.provided: dict[str, str] = {}
        self.injected: list[str] = []
        self.inject_note = ""
        self._files_rb: RunResult | None = None
        self._files_ra: RunResult | None = None
        self._scan_error = "no sources"

    def add(self, check: Check) -> None:
        self.result.checks.append(check)

    def skip(self, name: str, why: str) -> None:
        self.add(Check(name, SKIP, why))

    def once(self, side: _Side, key: tuple, compute):
        """``compute()``, remembered for the original (its image does not change between candidates)."""
        if side is not self.b:
            return compute()
        k = (side.ref, *key)
        if k not in self.memo:
            self.memo[k] = compute()
        return self.memo[k]

    def probe(self, side: _Side, mode: str, args: dict, user: str | None = "same", inject=(), tool: bool = False):
        user = side.user if user == "same" else user
        py = side.tool if tool else side.py
        return self.once(
            side,
            ("probe", py, mode, json.dumps(args, sort_keys=True), user),
            lambda: run_probe(
                self.client,
                side.ref,
                py,
                mode,
                args,
                user=user,
                timeout=self.opts.timeout,
                resources=self.res,
                inject=inject,
            ),
        )

    # -- the checks, in order ----------------------------------------------------------------------
    def run(self) -> Verification:
        o = self.opts
        self.progress("config")
        cfg_check = self._config()
        self.add(cfg_check)
        self._provided(cfg_check.details.get("wrapper"))
        self.progress("interpreter")
        for side in (self.b, self.a):
            r = self.once(
                side,
                ("interpreter",),
                lambda s=side: resolve_interpreter(self.client, s.ref, s.cfg, o.timeout, self.res),
            )
            side.py, side.how, side.resolved, side.tool = r.interpreter, r.how, r.resolved, r.interpreter or r.fallback
        roots = o.app_roots if o.app_roots is not None else app_roots(self.b.cfg.get("WorkingDir"), o.copy_map)
        scan = None
        if self.b.tool is not None:
            self.progress("application files")
            self._files(roots)
            scan = self._scan(roots)
            self._inject_provided(roots)
        if self.b.py is None:
            for name in ("python", "imports"):
                self.skip(name, f"original: {self.b.how}")
        elif self.a.py is None:
            for name in ("python", "imports"):
                self.add(
                    Check(
                        name,
                        FAIL,
                        f"the original runs Python ({self.b.py}) but the rewrite's command has none: {self.a.how}",
                    )
                )
        else:
            self.progress("python")
            self._python(scan)
        if self.b.tool is None:
            for name in ("programs", "native-libs", "app-files"):
                self.skip(name, f"needs a Python interpreter in the original ({self.b.how})")
        else:
            self.progress("native libraries and programs")
            programs = self._programs(scan)
            if self.a.tool is not None:
                self._elf(roots, programs)
            else:
                self.skip("native-libs", "needs a Python interpreter in both images")
            self._files_check(roots, scan)
        if o.run:
            self.progress("running the command")
            self._run()
        if o.smoke:
            self.progress("smoke")
            self._smoke()
        return self.result

    def _config(self) -> Check:
        o = self.opts
        base_b = base_a = None
        if o.base_before and o.base_after and o.base_before != o.base_after:
            try:
                base_b = self.client.api.inspect_image(o.base_before).get("Config") or {}
                base_a = self.client.api.inspect_image(o.base_after).get("Config") or {}
            except Exception:  # noqa: BLE001 - bases not in the engine
                base_b = base_a = None
        return compare_config(
            self.b.cfg,
            self.a.cfg,
            documented=o.documented_env,
            base_b=base_b,
            base_a=base_a,
            read_file_after=lambda p: read_image_file(self.client, self.a.ref, p, self.res),
        )

    def _provided(self, wrapper: str | None) -> None:
        if not self.opts.inject_provided:
            return
        if wrapper:
            text = read_image_file(self.client, self.a.ref, wrapper, self.res)
            self.provided = {p: wrapper for p in provided_paths(text)}
        for p in provided_paths(self.opts.provided_text):
            self.provided.setdefault(p, "the weights image (mounted at start)")

    def _files(self, roots: list[str]) -> None:
        if not roots:
            return
        args = {"roots": roots, "excludes": list(FILE_EXCLUDES)}
        self.b.files, self._files_rb = self.probe(self.b, "files", args, user="0", tool=True)
        if self.a.tool is not None:
            self.a.files, self._files_ra = self.probe(self.a, "files", args, user="0", tool=True)

    def _scan(self, roots: list[str]) -> appscan.AppScan | None:
        # The entrypoint scripts and the command's programs (scripts with a shebang are read).
        extra = sorted({p for p, _ in self.b.resolved.values() if p.startswith("/")})
        exts = [".py", *appscan.SHELL_EXT, *appscan.CONFIG_EXT]
        src, r = self.probe(self.b, "sources", {"roots": roots, "extra": extra, "exts": exts}, user="0", tool=True)
        if src is None:
            self._scan_error = probe_failure(r)
            return None
        scan = appscan.scan(src.get("sources") or {}, effective_argv(self.b.cfg), env_dict(self.b.cfg.get("Env")))
        scan.errors += ["the source scan stopped at its size or time limit"] if src.get("truncated") else []
        return scan

    def _inject_provided(self, roots: list[str]) -> None:
        if not self.provided:
            return
        fb = (self.b.files or {}).get("files") or {}
        fa = (self.a.files or {}).get("files") or {}
        paths = [
            p for p in fb if p not in fa and any(p == t or p.startswith(t.rstrip("/") + "/") for t in self.provided)
        ]
        total = sum(fb[p][4] for p in paths)
        if total > INJECT_LIMIT:
            self.inject_note = (
                f"the {len(paths)} file(s) the init script provides ({total / 1e9:.1f} GB) were not "
                f"put back (over {INJECT_LIMIT / 1e9:.0f} GB): the rewrite ran without them"
            )
            return
        self.injected = missing_ancestors(paths, fa, roots) if fb else list(self.provided)
        self.inject = copy_paths_between(self.client, self.b.ref, self.injected, self.res)

    def _python(self, scan) -> None:
        b, a = self.b, self.a
        b.dists, rb = self.probe(b, "dists", {})
        prefix_b = ((b.dists or {}).get("info") or {}).get("prefix")
        a.dists, ra = self.probe(a, "dists", {"exists": [prefix_b] if prefix_b else []})
        if b.dists is None:
            self.skip("python", f"cannot list the original's distributions with {b.py}: {probe_failure(rb)}")
            self.skip("imports", "no distribution list")
            return
        if a.dists is None:
            self.add(Check("python", FAIL, f"the rewrite's interpreter {a.py} does not run: {probe_failure(ra)}"))
            self.add(Check("imports", FAIL, "the rewrite's interpreter does not run"))
            return
        gone = [p for p, ok in (a.dists.get("exists") or {}).items() if not ok and p not in ("/", "/usr")]
        c = compare_dists(b.dists["dists"], a.dists["dists"], b.dists["info"], a.dists["info"], gone=gone)
        c.details["interpreter"] = {"before": b.py, "after": a.py, "how_before": b.how, "how_after": a.how}
        self.add(c)
        self.progress("imports")
        files = sorted((b.files or {}).get("files") or {})
        folders = _app_folders(b.cfg, files)
        own = appscan.app_modules(files, folders, scan.scripts if scan else set(), effective_argv(b.cfg))
        dropped = set(c.details.get("dropped_on_purpose") or ())  # a GPU build's CUDA wheels: not imported
        mods = list(dict.fromkeys([*modules_to_import(b.dists["dists"], dropped), *own]))
        args = {"modules": mods, "per_module": self.opts.per_module_timeout, "paths": folders}
        imp_b, rb = self.probe(b, "imports", args)
        if imp_b is None:
            self.skip("imports", f"import probe failed in the original: {probe_failure(rb)}")
            return
        ok = [m for m, r in imp_b["imports"].items() if r.get("ok")]
        imp_a, ra = self.probe(a, "imports", {**args, "modules": ok}, inject=self.inject)
        if imp_a is None:
            self.add(Check("imports", FAIL, f"import probe failed in the rewrite: {probe_failure(ra)}"))
        else:
            self.add(compare_imports(imp_b["imports"], imp_a["imports"], own))

    def _programs(self, scan) -> tuple[list[str], list[str]]:
        """The programs check; returns the paths of those programs in each image (for the ELF scan)."""
        if scan is None:
            self.skip("programs", f"cannot read the app's sources: {self._scan_error}")
            return [], []
        names = sorted(scan.programs)[:MAX_PROGRAMS]
        if not names:
            self.add(Check("programs", PASS, "the app runs no program by name"))
            return [], []
        t = self.opts.timeout
        res_b = (
            self.once(
                self.b,
                ("resolve", *names),
                lambda: resolve_words(self.client, self.b.ref, names, self.b.user, t, self.res),
            )
            or {}
        )
        res_a = resolve_words(self.client, self.a.ref, names, self.a.user, t, self.res) or {}
        c = compare_programs({n: scan.programs[n] for n in names}, res_b, res_a)
        if scan.errors:
            c.add("scan: " + "; ".join(scan.errors[:3]))
        self.add(c)

        def paths(res):
            return sorted({p for p, _ in res.values() if p.startswith("/")})

        return paths(res_b), paths(res_a)

    def _elf(self, roots: list[str], programs: tuple[list[str], list[str]]) -> None:
        eb, rb = self.probe(self.b, "elf", {"roots": [*roots, *programs[0]]}, user="0", tool=True)
        ea, ra = self.probe(self.a, "elf", {"roots": [*roots, *programs[1]]}, user="0", tool=True)
        if eb is None or ea is None or eb.get("error") or ea.get("error"):
            why = (eb or {}).get("error") or (ea or {}).get("error") or probe_failure(rb if eb is None else ra)
            self.add(Check("native-libs", SKIP, f"cannot list ELF libraries: {why}"))
        else:
            self.add(compare_elf(eb, ea, roots))

    def _files_check(self, roots: list[str], scan) -> None:
        if not roots:
            self.skip("app-files", "no application folder (WORKDIR is / and nothing is copied to a folder of its own)")
            return
        if self.b.files is None or self.a.files is None:
            r = self._files_rb if self.b.files is None else self._files_ra
            self.add(
                Check(
                    "app-files",
                    SKIP if self.b.files is None else FAIL,
                    "cannot list the application files: "
                    + (probe_failure(r) if r is not None else "no Python interpreter in the rewrite"),
                )
            )
            return
        o = self.opts
        reads = Reads(
            appscan.NameIndex.of(scan) if scan is not None else None,
            scan.dynamic_listing if scan is not None else [],
            self.provided,
            roots,
            set(scan.programs) if scan is not None else set(),
        )
        self.add(
            compare_files(
                self.b.files,
                self.a.files,
                reads,
                copy_map=o.copy_map,
                rewrite_changed=o.rewrite_changed,
                dockerignore_before=o.dockerignore_before,
                dockerignore_after=o.dockerignore_after,
            )
        )

    def _run(self) -> None:
        o = self.opts
        prober = (self.b.ref, self.b.tool) if self.b.tool else ((self.a.ref, self.a.tool) if self.a.tool else None)
        ob_b = self.once(
            self.b,
            ("observe", o.run_timeout),
            lambda: observe(self.client, self.b.ref, prober=prober, budget=o.run_timeout, resources=self.res),
        )
        if ob_b.state == "running" and ob_b.ports:
            kw = {
                "budget": o.run_timeout,
                "expected": sorted(ob_b.ports),
                "give_up_after": 2 * (ob_b.listen_seconds or 0) + 5,
            }
        elif ob_b.state == "running":
            kw = {"budget": max(5.0, min(o.run_timeout, ob_b.seconds))}  # watched as long as the original
        else:
            kw = {"budget": min(o.run_timeout, max(15.0, 3 * ob_b.seconds + 10))}
        ob_a = observe(self.client, self.a.ref, prober=prober, inject=self.inject, resources=self.res, **kw)
        c = compare_runs(ob_b, ob_a)
        if self.injected:
            c.add(
                "the rewrite ran with what its init script provides put back (as a mount would): "
                + ", ".join(self.injected[:5])
            )
        if self.inject_note:
            c.add(self.inject_note)
        self.add(c)

    def _smoke(self) -> None:
        cmd = self.opts.smoke
        sh = ["/bin/sh", "-c", cmd]
        t = self.opts.timeout
        sb = self.once(
            self.b,
            ("smoke", cmd),
            lambda: run_container(
                self.client, self.b.ref, entrypoint=sh, user=self.b.user, timeout=t, resources=self.res, network=True
            ),
        )
        sa = run_container(
            self.client,
            self.a.ref,
            entrypoint=sh,
            user=self.a.user,
            timeout=t,
            resources=self.res,
            network=True,
            inject=self.inject,
        )
        self.add(compare_smoke(sb, sa, cmd, self.injected))


def compare_smoke(sb: RunResult, sa: RunResult, cmd: str, injected: list[str]) -> Check:
    check = Check("smoke", PASS, "")
    check.details = {
        "command": cmd,
        "before": {"exit": sb.code, "stdout": sb.stdout[-2000:], "stderr": sb.stderr[-2000:]},
        "after": {"exit": sa.code, "stdout": sa.stdout[-2000:], "stderr": sa.stderr[-2000:]},
        "injected": injected,
    }
    if injected:
        check.add(
            "rewrite run with what its init script provides put back (as a mount would): " + ", ".join(injected[:5])
        )
    if sb.code != 0:
        check.status = WARN
        check.summary = f"`{cmd}` fails in the original too ({probe_failure(sb)}): nothing to compare"
        return check
    if sa.code != 0:
        check.status = FAIL
        check.summary = f"`{cmd}` exits 0 in the original but not in the rewrite ({probe_failure(sa)})"
        check.evidence = [
            *(sa.stderr.strip().splitlines()[-10:] or sa.stdout.strip().splitlines()[-10:]),
            *check.evidence,
        ]
        return check
    if sb.stdout != sa.stdout:
        check.status = WARN
        check.summary = f"`{cmd}` exits 0 in both, but prints something else in the rewrite"
        check.add(f"original: {sb.stdout.strip()[-300:]!r}")
        check.add(f"rewrite:  {sa.stdout.strip()[-300:]!r}")
        return check
    check.summary = f"`{cmd}` exits 0 in both, same output"
    return check


def verify(
    client,
    before: str,
    after: str,
    options: VerifyOptions | None = None,
    resources=None,
    progress: Callable[[str], None] = lambda s: None,
    memo: dict | None = None,
) -> Verification:
    """Compare two images; see the module docstring for the checks. ``memo`` (a dict kept by the
    caller) remembers the original's probe results across calls with the same ``before``."""
    return _Verifier(client, before, after, options or VerifyOptions(), resources, progress, memo).run()
