"""Small helpers for the Docker-marked tests: build, run, size, clean up (docker.io CLI + BuildKit)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
ENV = {**os.environ, "DOCKER_BUILDKIT": "1"}


def docker(*args: str, timeout: int = 900, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, env=ENV, check=check, input=input
    )


class Images:
    """Builds images under unique tags and removes them (and their containers) at the end."""

    def __init__(self):
        self.tags: list[str] = []
        self.containers: list[str] = []

    def build(self, context: Path, dockerfile: Path | None = None, timeout: int = 1200) -> tuple[str, float]:
        tag = f"slimml-test/{uuid.uuid4().hex[:12]}"
        args = ["build", "-t", tag]
        if dockerfile is not None:
            args += ["-f", str(dockerfile)]
        start = time.monotonic()
        r = docker(*args, str(context), timeout=timeout, check=False)
        if r.returncode != 0:
            raise AssertionError(f"docker build failed:\n{r.stderr[-4000:]}")
        self.tags.append(tag)
        return tag, time.monotonic() - start

    def size(self, tag: str) -> int:
        return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())

    def config(self, tag: str) -> dict:
        return json.loads(docker("image", "inspect", tag).stdout)[0]["Config"]

    def sh(self, tag: str, script: str, timeout: int = 300, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        return docker("run", "--rm", *extra, "--entrypoint", "/bin/sh", tag, "-c", script, timeout=timeout, check=False)

    def run(self, tag: str, *args: str, extra: tuple[str, ...] = (), timeout: int = 300) -> subprocess.CompletedProcess:
        return docker("run", "--rm", *extra, tag, *args, timeout=timeout, check=False)

    def start(self, tag: str, extra: tuple[str, ...] = ()) -> str:
        cid = docker("run", "-d", *extra, tag).stdout.strip()
        self.containers.append(cid)
        return cid

    def cleanup(self) -> None:
        for c in self.containers:
            docker("rm", "-f", c, check=False)
        if self.tags:
            docker("rmi", "-f", *self.tags, check=False)
        # (the build cache is shared by concurrent test runs and measure's warm-cache checks: never pruned here)
