"""Build Dockerfile texts against one build context and verify each against the original: the API
for callers that try rewrites and keep only those a build proves (``slimml fix --verify``).

    from slimml.measure.pair import Candidate, Session

    with Session(context_dir, original_text, jobs=2, progress=print_event) as s:
        results = s.verify_many([Candidate(text_a, label="all-fixes"),
                                 Candidate(text_b, {".dockerignore": ignore_b}, label="without-SLM008")])
    for r in results:
        r.verified        # True: it builds and behaves the same (exit code 0)
        r.exit_code       # 0 verified, 1 does not build / does not behave the same, 2 error
        r.reasons         # why not: the failing step, or "check: summary" per failing check

The context is copied once (the user's files are never written); every build shares the engine's
build cache (no ``--no-cache``), so steps the candidates have in common are built once; up to
``jobs`` builds and verifications run at a time; the original is built once and its probe results
are reused for every candidate. Everything built is removed by ``close()`` (or the ``with`` block).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .engine import EXIT_ERROR, EXIT_FAIL, EXIT_OK, BuildResult, MeasureError, Resources, connect
from .run import _UI, build_one, choose_builder

# progress(label, event, text): event is "build-start", "step", "log", "build-end", "verify" or "done".
ProgressFn = Callable[[str, str, str], None]


@dataclass
class Candidate:
    text: str  # the Dockerfile
    side_files: dict[str, str] = field(
        default_factory=dict
    )  # context-relative path -> content (.dockerignore, scripts)
    label: str = "after"


@dataclass
class PairResult:
    label: str
    build: BuildResult | None = None
    verification: object | None = None  # checks.Verification
    exit_code: int = EXIT_ERROR
    error: str | None = None
    size: int | None = None  # bytes of the candidate's image

    @property
    def verified(self) -> bool:
        return self.exit_code == EXIT_OK

    @property
    def reasons(self) -> list[str]:
        if self.error:
            return [self.error]
        if self.build is not None and not self.build.ok:
            return [f"does not build: {self.build.failed_step or 'build'}: {self.build.error}"]
        return list(self.verification.failures) if self.verification is not None else []


class _CallbackUI(_UI):
    def __init__(self, progress: ProgressFn | None):
        self.progress = progress or (lambda label, event, text: None)

    def build_start(self, label: str, detail: str) -> None:
        self.progress(label, "build-start", detail)

    def build_event(self, label: str, kind: str, text: str) -> None:
        self.progress(label, kind, text)

    def build_end(self, label: str, result) -> None:
        self.progress(label, "build-end", "ok" if result.ok else f"failed at {result.failed_step or 'build'}")


class Session:
    """One original Dockerfile and its context; any number of candidate texts verified against it."""

    def __init__(
        self,
        context: Path,
        before_text: str,
        *,
        dockerfile_rel: str | None = "Dockerfile",
        jobs: int = 2,
        progress: ProgressFn | None = None,
        smoke: str | None = None,
        timeout: float = 120.0,
        run_timeout: float = 60.0,
        buildkit: bool | None = None,
        tmp_dir: str | None = None,
        endpoint=None,
    ):
        from .plan import copy_context

        self.context = Path(context).resolve()
        self.before_text = before_text
        self.dockerfile_rel = dockerfile_rel
        self.jobs = max(1, jobs)
        self.ui = _CallbackUI(progress)
        self.progress = self.ui.progress
        self.smoke, self.timeout, self.run_timeout = smoke, timeout, run_timeout
        self.endpoint = endpoint  # engine.Endpoint (migrate's engine pool); None: DOCKER_HOST
        self.client = connect(endpoint=endpoint)
        self.res = Resources(self.client)
        self.mode, _, self.cli, self.notes = choose_builder([before_text], buildkit)
        self.repo = f"slimml-verify/{uuid.uuid4().hex[:12]}"
        self._memo: dict = {}
        self._lock = threading.Lock()
        self._before: BuildResult | None = None
        self._local = threading.local()
        self._clients: list = []
        import tempfile

        self.root = Path(tempfile.mkdtemp(prefix="slimml-verify-", dir=tmp_dir))
        self.res.dirs.append(str(self.root))
        self.base = self.root / "context"
        copy_context(self.context, self.base, [])
        self.ignore_before = self._ignore_text(self.base)

    # -- life cycle --------------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.res.cleanup()
        for c in [self.client, *self._clients]:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass

    # -- building ----------------------------------------------------------------------------------
    def _thread_client(self):
        c = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = connect(endpoint=self.endpoint)
            self._clients.append(c)
        return c

    def _ignore_text(self, tree: Path) -> str | None:
        p = tree / ".dockerignore"
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None

    def _tree(self, label: str, text: str, side_files: dict[str, str]) -> tuple[Path, Path]:
        from .plan import link_tree, replace_file

        tree = self.root / f"{label}-{uuid.uuid4().hex[:6]}"
        link_tree(self.base, tree)
        df = tree / self.dockerfile_rel if self.dockerfile_rel else tree.parent / f"{tree.name}.Dockerfile"
        replace_file(df, text.encode("utf-8"))
        for rel, content in side_files.items():
            replace_file(tree / rel, content.encode("utf-8"), mode=0o755 if content.startswith("#!") else None)
        return tree, df

    def _build(self, label: str, text: str, side_files: dict[str, str]) -> tuple[BuildResult, Path]:
        tree, df = self._tree(label, text, side_files)
        name = re.sub(r"[^a-z0-9_.-]+", "-", label.lower()).strip(".-")[:60] or "candidate"
        tag = f"{self.repo}:{name}-{uuid.uuid4().hex[:6]}"
        return build_one(
            self._thread_client(),
            self.res,
            self.ui,
            self.mode,
            self.cli,
            label,
            tree,
            df,
            tag,
            False,
            None,
            self.endpoint.cli_env() if self.endpoint is not None else None,
        ), tree

    def original(self) -> BuildResult:
        """The original's build (once); a MeasureError (exit 2) when it does not build."""
        with self._lock:
            if self._before is None:
                self._before, _ = self._build("before", self.before_text, {})
        b = self._before
        if not b.ok:
            raise MeasureError(
                f"the original Dockerfile does not build: {b.failed_step or 'build'}: {b.error}",
                EXIT_ERROR,
                detail="\n".join(b.log_tail),
            )
        return b

    # -- verifying ---------------------------------------------------------------------------------
    def verify(self, candidate: Candidate | str) -> PairResult:
        from .configparity import provided_text
        from .verify import VerifyOptions, verify

        cand = Candidate(candidate) if isinstance(candidate, str) else candidate
        out = PairResult(cand.label)
        try:
            before = self.original()
            build, tree = self._build(cand.label, cand.text, cand.side_files)
            out.build = build
            if not build.ok:
                out.exit_code = EXIT_FAIL
                return out
            client = self._thread_client()
            out.size = int(client.api.inspect_image(build.image_id).get("Size") or 0)
            changed = {
                rel
                for rel, content in cand.side_files.items()
                if not (self.base / rel).is_file() or (self.base / rel).read_text(errors="replace") != content
            }
            if self.dockerfile_rel and cand.text != self.before_text:
                changed.add(self.dockerfile_rel)
            opts = VerifyOptions.from_dockerfiles(
                self.before_text,
                cand.text,
                self.base,
                dockerignore_before=self.ignore_before,
                dockerignore_after=self._ignore_text(tree),
                rewrite_changed=changed,
                smoke=self.smoke,
                timeout=self.timeout,
                run_timeout=self.run_timeout,
                provided_text=provided_text(cand.side_files.values()),
            )
            out.verification = verify(
                client,
                before.tag,
                build.tag,
                opts,
                self.res,
                memo=self._memo,
                progress=lambda s: self.progress(cand.label, "verify", s),
            )
            out.exit_code = EXIT_OK if out.verification.verdict == "PASS" else EXIT_FAIL
        except MeasureError as e:
            out.error, out.exit_code = e.message, e.exit_code
        self.progress(cand.label, "done", "verified" if out.verified else "; ".join(out.reasons)[:200])
        return out

    def verify_many(self, candidates: list[Candidate | str]) -> list[PairResult]:
        """Verify every candidate, up to ``jobs`` at a time (results in the candidates' order)."""
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            pool.submit(self.original)  # the original builds while the first candidates do
            return list(pool.map(self.verify, candidates))


def build_and_verify(
    context: Path,
    before_text: str,
    after_text: str,
    *,
    side_files: dict[str, str] | None = None,
    dockerfile_rel: str | None = "Dockerfile",
    jobs: int = 2,
    progress: ProgressFn | None = None,
    **kw,
) -> PairResult:
    """Build ``before_text`` and ``after_text`` against ``context`` and verify the second (see Session)."""
    with (
        Session(context, before_text, dockerfile_rel=dockerfile_rel, jobs=jobs, progress=progress, **kw) as s,
        ThreadPoolExecutor(max_workers=2 if jobs > 1 else 1) as pool,
    ):
        pool.submit(s.original)
        return pool.submit(s.verify, Candidate(after_text, side_files or {})).result()
