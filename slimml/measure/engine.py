"""The Docker engine side of ``slimml measure``: connection, the docker CLI for BuildKit/buildx,
builds with progress, image history, and ``Resources`` (what we created, removed at the end).

The Docker SDK (``docker``) is imported inside functions so that ``slimml fix`` never pays for it.
``DOCKER_HOST`` (and ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``) are honoured: the SDK reads them
through ``docker.from_env`` and the CLI gets the same environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
BUILD_HTTP_TIMEOUT = 3600  # a build step may print nothing for a long time (classic builder stream)
LOG_TAIL = 25
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class MeasureError(Exception):
    """A problem that ends the measurement: one clear message and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.detail = detail


def docker_host(environ: dict | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def no_engine_message(environ: dict | None = None) -> str:
    return f"no Docker engine reachable at {docker_host(environ)}; start dockerd or set DOCKER_HOST"


@dataclass(frozen=True)
class Endpoint:
    """One Docker engine named explicitly (``migrate --docker-host``/``--docker-context``) rather than
    taken from the environment: the SDK client and the docker CLI's environment both come from it.
    ``name`` is for display (no credentials); ``cert_dir`` holds ca.pem/cert.pem/key.pem when the
    engine speaks TLS (the layout of ``DOCKER_CERT_PATH`` and of a context's TLS folder)."""

    name: str
    base_url: str
    cert_dir: str | None = None
    tls_verify: bool = True

    def client(self, timeout: int):
        import docker

        tls = None
        if self.cert_dir:
            from docker.tls import TLSConfig

            ca, cert, key = (os.path.join(self.cert_dir, f) for f in ("ca.pem", "cert.pem", "key.pem"))
            pair = (cert, key) if os.path.isfile(cert) and os.path.isfile(key) else None  # a client certificate
            tls = TLSConfig(
                client_cert=pair, ca_cert=ca if self.tls_verify else None, verify=ca if self.tls_verify else False
            )
        return docker.DockerClient(
            base_url=self.base_url, tls=tls, timeout=timeout, use_ssh_client=self.base_url.startswith("ssh://")
        )

    def cli_env(self) -> dict[str, str]:
        """The environment a docker CLI build on this engine runs with (the caller's, re-pointed)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
        }
        env["DOCKER_HOST"] = self.base_url
        if self.cert_dir:
            env["DOCKER_CERT_PATH"] = self.cert_dir
            if self.tls_verify:
                env["DOCKER_TLS_VERIFY"] = "1"
        return env


def connect(ping_timeout: int = 10, endpoint: Endpoint | None = None):
    """A Docker SDK client for ``endpoint``, or the engine at DOCKER_HOST (or the CLI's current context)."""
    try:
        import docker
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise MeasureError(f"the Docker SDK for Python is not installed ({e}); pip install docker") from None
    make = endpoint.client if endpoint is not None else (lambda timeout: docker.from_env(timeout=timeout))
    try:
        probe = make(ping_timeout)
        probe.ping()
        probe.close()
        return make(BUILD_HTTP_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any failure here means: no usable engine
        msg = f"no Docker engine reachable at {endpoint.name}" if endpoint is not None else no_engine_message()
        raise MeasureError(msg, EXIT_ERROR, detail=f"{type(e).__name__}: {e}") from None


# -- the docker CLI (BuildKit and buildx builds) -----------------------------------------------------
_VERSION_RE = re.compile(r"version\s+v?(\d+)\.(\d+)", re.IGNORECASE)


def _cli_candidates(environ: dict) -> list[str]:
    explicit = environ.get("SLIMML_DOCKER")
    if explicit:
        return [explicit]
    seen, out = set(), []
    for d in environ.get("PATH", os.defpath).split(os.pathsep):
        p = os.path.join(d or ".", "docker")
        if os.path.isfile(p) and os.access(p, os.X_OK):
            real = os.path.realpath(p)
            if real not in seen:
                seen.add(real)
                out.append(p)
    return out


def cli_version(cli: str, environ: dict | None = None) -> tuple[int, int] | None:
    try:
        r = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=20, env=environ)
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION_RE.search(r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


def has_buildx(cli: str, environ: dict | None = None) -> bool:
    try:
        r = subprocess.run([cli, "buildx", "version"], capture_output=True, text=True, timeout=20, env=environ)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


@dataclass(frozen=True)
class Cli:
    path: str
    version: tuple[int, int] | None
    buildx: bool

    @property
    def native_buildkit(self) -> bool:
        """``DOCKER_BUILDKIT=1 docker build`` works without the buildx plugin (CLI before 23.0)."""
        return self.version is not None and self.version < (23, 0)


def find_cli(need: str, environ: dict | None = None, probe=None) -> Cli:
    """The docker CLI to build with: ``need`` is "buildkit" or "buildx".

    ``SLIMML_DOCKER`` names it explicitly; otherwise the first ``docker`` on PATH that can do the
    job (a CLI from 23.0 on needs the buildx plugin for BuildKit; an older one builds natively).
    """
    env = dict(os.environ if environ is None else environ)
    cands = _cli_candidates(env)
    probe = probe or (lambda c: Cli(c, cli_version(c, env), has_buildx(c, env)))
    seen = []
    for c in cands:
        info = probe(c)
        seen.append(info)
        if info.buildx or (need == "buildkit" and info.native_buildkit):
            return info
    if not cands:
        raise MeasureError(
            "no docker CLI found on PATH (needed for BuildKit builds); install the docker CLI "
            "or set SLIMML_DOCKER to its path"
        )
    found = ", ".join(
        f"{c.path} ({'.'.join(map(str, c.version)) if c.version else 'unknown version'}, "
        f"{'with' if c.buildx else 'no'} buildx)"
        for c in seen
    )
    if need == "buildx":
        raise MeasureError(
            f"--builder needs the docker buildx plugin, and no docker CLI here has it ({found}); "
            "install docker-buildx (e.g. the docker-buildx-plugin package) or drop --builder"
        )
    raise MeasureError(
        f"this build needs BuildKit, but no docker CLI here can run it ({found}): a CLI from 23.0 on "
        "needs the buildx plugin; install docker-buildx, or point SLIMML_DOCKER at a docker CLI "
        "older than 23.0"
    )


def build_command(
    cli: Cli, tag: str, dockerfile: str, context: str, *, no_cache: bool, builder: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment of a BuildKit build (plain progress, result loaded into the engine)."""
    common = ["--progress=plain", "-t", tag, "-f", dockerfile]
    if no_cache:
        common.append("--no-cache")
    if builder is not None:
        return [cli.path, "buildx", "build", "--builder", builder, "--load", *common, context], {}
    if cli.native_buildkit and not cli.buildx:
        return [cli.path, "build", *common, context], {"DOCKER_BUILDKIT": "1"}
    return [cli.path, "buildx", "build", "--load", *common, context], {}


# -- builds -------------------------------------------------------------------------------------------
@dataclass
class BuildResult:
    ok: bool
    tag: str
    image_id: str | None = None
    seconds: float = 0.0
    builder: str = "classic"
    steps: list[str] = field(default_factory=list)
    failed_step: str | None = None
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    created_ids: list[str] = field(default_factory=list)  # intermediate images this build made (classic)
    cached_steps: int = 0
    step_cache: list[tuple[str, bool]] = field(default_factory=list)  # (step, came from the cache), in order


Progress = Callable[[str, str], None]  # (kind: "step" | "log", text)


def _noop(kind: str, text: str) -> None:
    pass


class ClassicStream:
    """Parses the classic builder's JSON stream (``Step 3/8 : RUN ...``, `` ---> id``)."""

    def __init__(self, progress: Progress = _noop, created: list[str] | None = None):
        self.progress = progress
        self.lines: list[str] = []
        self.steps: list[str] = []
        # Images this build made, recorded as they appear (into Resources.image_ids when given),
        # so that an interrupted build's intermediate images are removed too.
        self.created: list[str] = created if created is not None else []
        self.cached = 0
        self.error: str | None = None
        self.image_id: str | None = None
        self._buf = ""
        self._step_is_from = False
        self._from_id_seen = False
        self._using_cache = False
        self.step_cache: list[tuple[str, bool]] = []

    def feed(self, chunk: dict) -> None:
        if "error" in chunk or "errorDetail" in chunk:
            self.error = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "build failed"
            return
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            self.image_id = aux["ID"]
        text = chunk.get("stream")
        if not text:
            return
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self._line(line.rstrip("\r"))

    def _line(self, line: str) -> None:
        line = ANSI_RE.sub("", line)
        self.lines.append(line)
        if len(self.lines) > 400:
            del self.lines[:200]
        m = re.match(r"^Step (\d+)/(\d+) : (.*)$", line)
        if m:
            self.steps.append(line)
            self.step_cache.append((line, False))
            self._step_is_from = m.group(3).split(None, 1)[0].upper() == "FROM"
            self._from_id_seen = False
            self._using_cache = False
            self.progress("step", f"[{m.group(1)}/{m.group(2)}] {m.group(3)}")
            return
        s = line.strip()
        if s == "---> Using cache":
            self._using_cache = True
            self.cached += 1
            if self.step_cache:
                self.step_cache[-1] = (self.step_cache[-1][0], True)
            return
        m = re.match(r"^---> ([0-9a-f]{12,64})$", s)
        if m:
            if self._step_is_from and not self._from_id_seen:
                self._from_id_seen = True  # the base image: never ours to remove
            elif not self._using_cache:
                self.created.append(m.group(1))
            return
        if s and not s.startswith("---> Running in") and not s.startswith("Removing intermediate container"):
            self.progress("log", s)

    def finish(self) -> None:
        if self._buf:
            self._line(self._buf)
            self._buf = ""

    @property
    def failed_step(self) -> str | None:
        return self.steps[-1] if self.steps and self.error else None

    def tail(self, n: int = LOG_TAIL) -> list[str]:
        out = []
        last_step = max((i for i, x in enumerate(self.lines) if x.startswith("Step ")), default=0)
        for x in self.lines[last_step + 1 if self.error else 0 :]:
            s = x.strip()
            if not s or s.startswith("---> Running in") or s.startswith("Removing intermediate"):
                continue
            out.append(x)
        return out[-n:]


class BuildkitLog:
    """Parses ``--progress=plain`` output: ``#7 [2/5] RUN ...``, ``#7 1.23 output``, ``#7 ERROR: ...``."""

    _HEADER = re.compile(r"^#(\d+) \[([^\]]*)\] (.*)$")
    _OUTPUT = re.compile(r"^#(\d+) \d+(?:\.\d+)? (.*)$")
    _ERROR = re.compile(r"^#(\d+) ERROR:? (.*)$")
    _CACHED = re.compile(r"^#(\d+) CACHED$")
    _OTHER = re.compile(r"^#(\d+) (.*)$")

    def __init__(self, progress: Progress = _noop):
        self.progress = progress
        self.names: dict[str, str] = {}
        self.output: dict[str, list[str]] = {}
        self.order: list[str] = []
        self.errors: dict[str, str] = {}
        self.cached = 0
        self.cached_ids: set[str] = set()
        self.lines: list[str] = []

    def feed_line(self, line: str) -> None:
        line = ANSI_RE.sub("", line.rstrip("\r\n"))
        self.lines.append(line)
        if len(self.lines) > 2000:
            del self.lines[:1000]
        m = self._HEADER.match(line)
        if m:
            vid, where, what = m.groups()
            if vid not in self.names:
                self.names[vid] = f"[{where}] {what}"
                self.order.append(vid)
                if not where.startswith("internal"):
                    self.progress("step", f"[{where}] {what}")
            return
        m = self._ERROR.match(line)
        if m:
            self.errors[m.group(1)] = m.group(2)
            return
        m = self._CACHED.match(line)
        if m:
            if m.group(1) not in self.cached_ids:
                self.cached_ids.add(m.group(1))
                self.cached += 1
            return
        m = self._OUTPUT.match(line)
        if m:
            out = self.output.setdefault(m.group(1), [])
            out.append(m.group(2))
            if len(out) > 400:
                del out[:200]
            self.progress("log", m.group(2))
            return
        m = self._OTHER.match(line)
        if m and m.group(1) not in self.names:
            self.names[m.group(1)] = m.group(2)  # "#1 [internal] load build definition" style headers
            self.order.append(m.group(1))

    @property
    def steps(self) -> list[str]:
        return [self.names[v] for v in self.order if v in self.names]

    @property
    def step_cache(self) -> list[tuple[str, bool]]:
        """(step, cached) for the Dockerfile's steps (``[stage i/n] ...``; internal vertices left out)."""
        return [
            (self.names[v], v in self.cached_ids)
            for v in self.order
            if v in self.names and self.names[v].startswith("[") and not self.names[v].startswith("[internal]")
        ]

    def failure(self) -> tuple[str | None, str | None, list[str]]:
        """(failing step, error message, log tail) -- the first vertex that reported an ERROR."""
        if not self.errors:
            tail = [x for x in self.lines if x.strip()][-LOG_TAIL:]
            final = next((x for x in reversed(self.lines) if x.strip().lower().startswith(("error", "failed"))), None)
            return None, final, tail
        vid = next((v for v in self.order if v in self.errors), next(iter(self.errors)))
        step = self.names.get(vid)
        final = next((x for x in reversed(self.lines) if x.strip().lower().startswith(("error", "failed"))), None)
        return step, final or self.errors[vid], self.output.get(vid, [])[-LOG_TAIL:]


def build_classic(
    client, context: str, dockerfile: str, tag: str, *, no_cache: bool, progress: Progress = _noop, resources=None
) -> BuildResult:
    """The classic builder through the engine API (docker SDK), streaming its steps."""
    start = time.monotonic()
    parser = ClassicStream(progress, resources.image_ids if resources is not None else None)
    first_created = len(parser.created)
    api = client.api
    responses = []
    post = api._post

    def capture(*args, **kwargs):  # keep the streaming response: closing it is what cancels the build
        r = post(*args, **kwargs)
        responses.append(r)
        return r

    api._post = capture
    try:
        stream = api.build(
            path=context,
            dockerfile=dockerfile,
            tag=tag,
            nocache=no_cache,
            rm=True,
            forcerm=True,
            decode=True,
            pull=False,
        )
    finally:
        del api._post
    try:
        for chunk in stream:
            parser.feed(chunk)
    finally:
        # On Ctrl-C (or any error) the connection is closed: the engine then cancels the build
        # instead of finishing it and tagging an image after our clean-up.
        for r in responses:
            try:
                r.close()
            except Exception:  # noqa: BLE001
                pass
    parser.finish()
    res = BuildResult(
        ok=parser.error is None,
        tag=tag,
        seconds=time.monotonic() - start,
        builder="classic",
        steps=parser.steps,
        created_ids=parser.created[first_created:],
        cached_steps=parser.cached,
        step_cache=list(parser.step_cache),
    )
    if parser.error is not None:
        res.error = parser.error
        res.failed_step = parser.failed_step
        res.log_tail = parser.tail()
        return res
    res.image_id = _image_id(client, tag)
    if res.image_id is None:
        res.ok, res.error = False, "the build reported success but the image is not in the engine"
    return res


def build_buildkit(
    client,
    cli: Cli,
    context: str,
    dockerfile: str,
    tag: str,
    *,
    no_cache: bool,
    builder: str | None = None,
    progress: Progress = _noop,
    resources=None,
    timeout: float | None = None,
    environ: dict | None = None,
) -> BuildResult:
    """A BuildKit build through the docker CLI (``DOCKER_BUILDKIT=1`` or ``buildx build --load``);
    ``environ``: the CLI's environment (``Endpoint.cli_env``; default: this process's)."""
    argv, extra = build_command(cli, tag, dockerfile, context, no_cache=no_cache, builder=builder)
    env = {**(os.environ if environ is None else environ), **extra}
    start = time.monotonic()
    log = BuildkitLog(progress)
    # A session of its own: the terminal's Ctrl-C reaches us, and we end the build ourselves.
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        errors="replace",
        start_new_session=True,
    )
    if resources is not None:
        resources.procs.append(proc)
    timer = None
    if timeout:
        timer = threading.Timer(timeout, proc.kill)
        timer.daemon = True
        timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.feed_line(line)
        rc = proc.wait()
    finally:
        if timer:
            timer.cancel()
        if proc.poll() is None:
            _stop(proc)
        if resources is not None and proc in resources.procs:
            resources.procs.remove(proc)
    label = f"buildx:{builder}" if builder else "buildkit"
    res = BuildResult(
        ok=rc == 0,
        tag=tag,
        seconds=time.monotonic() - start,
        builder=label,
        steps=log.steps,
        cached_steps=log.cached,
        step_cache=log.step_cache,
    )
    if rc != 0:
        res.failed_step, res.error, res.log_tail = log.failure()
        res.error = res.error or f"docker build exited with status {rc}"
        return res
    res.image_id = _image_id(client, tag)
    if res.image_id is None:
        res.ok, res.error = (
            False,
            "the build reported success but the image is not in the engine (buildx without --load?)",
        )
    return res


def _stop(proc: subprocess.Popen) -> None:
    try:
        proc.terminate()
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except OSError:
        pass


def _image_id(client, ref: str) -> str | None:
    import docker

    try:
        return client.images.get(ref).id
    except docker.errors.ImageNotFound:
        return None


# -- image facts -------------------------------------------------------------------------------------
@dataclass
class Layer:
    instruction: str
    size: int
    base: bool = False
    created: int = 0


_NOP_RE = re.compile(r"^/bin/sh -c #\(nop\)\s*")
# ``\S[^\s=]*=`` is ``\S+=`` without its ambiguity (which `=` ends the name): the old form backtracked
# quadratically through a long word full of `=`.
_ARGS_PREFIX_RE = re.compile(r"^\|\d+(\s+\S[^\s=]*=\S*)*\s+")


def instruction_of(created_by: str) -> str:
    """A readable instruction from a history entry (classic and BuildKit spellings)."""
    s = (created_by or "").strip()
    if not s:
        return "(imported filesystem)"
    if s.endswith("# buildkit"):
        s = s[: -len("# buildkit")].rstrip()
    if _NOP_RE.match(s):
        return _NOP_RE.sub("", s).strip()
    keyword = ""
    m = re.match(
        r"^(RUN|COPY|ADD|WORKDIR|ENV|CMD|ENTRYPOINT|LABEL|EXPOSE|USER|VOLUME|HEALTHCHECK|ARG|SHELL|"
        r"STOPSIGNAL|ONBUILD)\b\s*",
        s,
    )
    if m:
        keyword, s = m.group(1), s[m.end() :]
        if keyword != "RUN":
            return f"{keyword} {s}".strip()
    s = _ARGS_PREFIX_RE.sub("", s)
    for prefix in ("/bin/sh -c ", "/bin/bash -c ", "/bin/bash -o pipefail -c ", "cmd /S /C "):
        if s.startswith(prefix):
            s = s[len(prefix) :]
            break
    return f"RUN {s}".strip()


def history(client, ref: str) -> list[dict]:
    """Oldest-first history entries of an image."""
    return list(reversed(client.api.history(ref)))


def layers(client, ref: str, base_ref: str | None = None) -> list[Layer]:
    hist = history(client, ref)
    base_n = 0
    if base_ref:
        try:
            base_hist = history(client, base_ref)
        except Exception:  # noqa: BLE001 - base not in the engine: no grouping
            base_hist = []

        def key(h):
            return h.get("Created"), h.get("CreatedBy")

        if base_hist and [key(h) for h in hist[: len(base_hist)]] == [key(h) for h in base_hist]:
            base_n = len(base_hist)
    return [
        Layer(instruction_of(h.get("CreatedBy", "")), int(h.get("Size") or 0), i < base_n, int(h.get("Created") or 0))
        for i, h in enumerate(hist)
    ]


# -- what we created ----------------------------------------------------------------------------------
class Resources:
    """Everything a measurement creates; ``cleanup()`` removes it (idempotent, never raises)."""

    def __init__(self, client=None):
        self.client = client
        self.tags: list[str] = []
        self.image_ids: list[str] = []  # intermediates we created: removed only if left dangling
        self.containers: list[str] = []
        self.dirs: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.cleaned = False
        self.errors: list[str] = []

    def cleanup(self, keep: bool = False) -> None:
        for proc in list(self.procs):
            if proc.poll() is None:
                _stop(proc)
        self.procs.clear()
        if self.client is not None:
            for cid in list(self.containers):
                try:
                    self.client.api.remove_container(cid, force=True, v=True)
                except Exception as e:  # noqa: BLE001
                    if "No such container" not in str(e):
                        self.errors.append(f"container {cid[:12]}: {e}")
            self.containers.clear()
        if keep:
            return
        if self.client is not None:
            for tag in list(self.tags):
                try:
                    self.client.api.remove_image(tag, force=True)
                except Exception as e:  # noqa: BLE001
                    if "No such image" not in str(e):
                        self.errors.append(f"image {tag}: {e}")
            self.tags.clear()
            self._remove_dangling(list(reversed(self.image_ids)))
            self.image_ids.clear()
        for d in list(self.dirs):
            shutil.rmtree(d, ignore_errors=True)
        self.dirs.clear()
        self.cleaned = True

    def _remove_dangling(self, ids: list[str], wait: float = 15.0) -> None:
        """Remove the intermediate images we made that nobody tagged. After an interrupted build the
        engine may still be tearing down the step's container, which holds its parent image for a
        moment: such an image is retried for up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        todo = ids
        while todo:
            busy = []
            for iid in todo:
                try:
                    info = self.client.api.inspect_image(iid)
                except Exception:  # noqa: BLE001 - already gone
                    continue
                if info.get("RepoTags"):
                    continue  # tagged by someone: not ours to remove
                try:
                    self.client.api.remove_image(iid, force=False)
                except Exception as e:  # noqa: BLE001
                    msg = str(e).lower()
                    if "being used" in msg or "conflict" in msg and "container" in msg:
                        busy.append(iid)
                    # else: it has children of someone else's, or is gone: leave it
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.5)
            todo = busy
