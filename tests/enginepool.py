"""Extra Docker engines for the engine-pool tests: real ``dockerd`` instances beside the machine's own.

Each engine has its own --data-root, --exec-root (hence its own containerd), --pidfile, unix
socket and containerd namespaces, no iptables rules, and its own Linux bridge (created here):
never ``--bridge=none``, which makes dockerd delete the default ``docker0`` bridge the machine's
engine uses. Only the one small stand-in base image the builds need is loaded into it.

``cleanup()`` always leaves the machine as it was: the daemon, its containerd, anything still
running in its build containers (found by their root file system lying in this engine's folders,
and ended by pid), its mounts, folders and bridge.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from slimml.migrate.engines import process_alive

DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
DOCKERD = shutil.which("dockerd") or "/usr/bin/dockerd"


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    return not process_alive(pid)


class Engine:
    def __init__(self, index: int):
        self.index = index
        self.root = Path(tempfile.mkdtemp(prefix=f"slep{index}-", dir="/tmp"))  # short: a socket path <108 bytes
        self.url = f"unix://{self.root}/docker.sock"
        self.bridge = f"slep{os.getpid() % 10000}x{index}"
        self.ns = f"slimml-test-{self.root.name}"
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "dockerd.log"

    # -- life cycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        subnet = 200 + (os.getpid() + self.index * 7) % 50
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"10.{subnet}.{self.index}.1/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        (self.root / "data").mkdir()
        (self.root / "exec").mkdir()
        argv = [
            DOCKERD,
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "-H",
            self.url,
            "--bridge",
            self.bridge,
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--containerd-namespace",
            self.ns,
            "--containerd-plugins-namespace",
            f"{self.ns}-plugins",
            "--storage-driver",
            "overlay2",
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd {self.index} exited: {self.log.read_text()[-2000:]}")
            if self.docker("version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError(f"dockerd {self.index} did not come up: {self.log.read_text()[-2000:]}")

    def docker(self, *args: str, check: bool = True, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        return subprocess.run(
            [DOCKER, "-H", self.url, *args], capture_output=True, text=True, check=check, timeout=timeout, env=env, **kw
        )

    def load(self, image: str) -> None:
        """``image`` from the machine's engine into this one (no registry here)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        save = subprocess.Popen([DOCKER, "save", image], stdout=subprocess.PIPE, env=env)
        load = subprocess.run(
            [DOCKER, "-H", self.url, "load"], stdin=save.stdout, capture_output=True, env=env, timeout=600
        )
        save.stdout.close()
        if save.wait(600) != 0 or load.returncode != 0:
            raise RuntimeError(f"loading {image} into engine {self.index}: {load.stderr.decode()[-500:]}")

    def building(self) -> int | None:
        """The pid of a docker CLI build running against this engine right now, if any."""
        want = f"DOCKER_HOST={self.url}".encode()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")
                if b"build" not in argv or want not in (d / "environ").read_bytes().split(b"\0"):
                    continue
            except OSError:
                continue
            return int(d.name)
        return None

    def kill(self) -> None:
        """The daemon dies at once (SIGKILL), as on a crash or a lost machine."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def cleanup(self) -> list[str]:
        """Everything this engine started or made goes; returns what could not be removed."""
        problems = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pid in self._leftover_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            if not _wait_gone(pid, 10):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if not _wait_gone(pid, 5):
                    problems.append(f"process {pid} still running")
        for mnt in self._mounts():
            r = subprocess.run(["umount", "-l", mnt], capture_output=True, text=True)
            if r.returncode != 0 and Path(mnt).exists():
                problems.append(f"umount {mnt}: {r.stderr.strip()}")
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():
            problems.append(f"{self.root} not removed")
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        return problems

    def _leftover_pids(self) -> list[int]:
        """containerd (and its shims) of this engine, and processes running in its build containers
        (left running when the daemon is killed): found by this engine's folders on their command
        line or under their root file system."""
        mine = (str(self.root / "exec"), str(self.root / "data"))
        out = []
        own = {os.getpid(), os.getppid()}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) in own:
                continue
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                # a build step's process: its root file system (its own mount namespace) is an overlay
                # whose layers lie in this engine's data-root
                root_mount = next(
                    (
                        ln
                        for ln in (d / "mountinfo").read_text(errors="replace").splitlines()
                        if ln.split()[4:5] == ["/"]
                    ),
                    "",
                )
            except OSError:
                continue
            if any(m in cmd or f"={m}/" in root_mount for m in mine):
                out.append(int(d.name))
        # containerd before its shims' children would be fine either way; daemons first is tidier
        return sorted(
            out,
            key=lambda p: (
                "containerd" not in Path(f"/proc/{p}/comm").read_text(errors="replace")
                if Path(f"/proc/{p}/comm").exists()
                else True
            ),
        )

    def _mounts(self) -> list[str]:
        mine = str(self.root)
        try:
            lines = Path("/proc/mounts").read_text().splitlines()
        except OSError:
            return []
        points = [ln.split()[1].replace("\\040", " ") for ln in lines if len(ln.split()) > 1]
        return sorted((p for p in points if p == mine or p.startswith(mine + "/")), key=len, reverse=True)


def start_pair(image: str = "python:3.11-slim") -> list[Engine]:
    """Two fresh engines holding ``image``; on any failure what was started is cleaned up."""
    engines: list[Engine] = []
    try:
        for i in (1, 2):
            e = Engine(i)
            engines.append(e)
            e.start()
            e.load(image)
        return engines
    except BaseException:
        for e in engines:
            e.cleanup()
        raise
