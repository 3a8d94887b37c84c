#!/usr/bin/env bash
# Install and start a Docker engine and build the local stand-in base images the Docker tests use.
# No registry can be reached from here: the stand-ins are debootstrapped Debian bookworm images
# tagged with the names the fixture projects use. Idempotent: skips what is already there.
set -euo pipefail

log() { echo "docker-setup: $*" >&2; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    log "installing docker.io and debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi

DOCKER=/usr/bin/docker  # the docker.io client: builds with BuildKit via DOCKER_BUILDKIT=1

if ! $DOCKER info >/dev/null 2>&1; then
    log "starting dockerd"
    (dockerd >/tmp/dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do
        [ -S /var/run/docker.sock ] && $DOCKER info >/dev/null 2>&1 && break
        sleep 1
    done
    $DOCKER info >/dev/null 2>&1 || { log "dockerd did not come up"; tail -20 /tmp/dockerd.log >&2; exit 1; }
fi

have() { $DOCKER image inspect "$1" >/dev/null 2>&1; }

mirror() {
    # The Debian mirror this machine uses (deb822 .sources first, then sources.list).
    local m
    m=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
    [ -n "$m" ] || m=$(grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
    echo "${m:-http://deb.debian.org/debian}"
}

if ! have python:3.11-slim; then
    dir=$(mktemp -d /tmp/standin-rootfs.XXXXXX)
    log "debootstrapping bookworm into $dir from $(mirror)"
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv bookworm "$dir" "$(mirror)" >/tmp/debootstrap.log 2>&1 \
        || { tail -20 /tmp/debootstrap.log >&2; exit 1; }
    rm -f "$dir"/usr/lib/python3.11/EXTERNALLY-MANAGED
    ln -sf python3 "$dir/usr/bin/python"
    ln -sf pip3 "$dir/usr/bin/pip"
    mkdir -p "$dir/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | $DOCKER import -c 'CMD ["python3"]' -c 'ENV PIP_ROOT_USER_ACTION=ignore' - python:3.11-slim >/dev/null
    rm -rf "$dir"
fi

if ! have python:3.11; then
    log "building python:3.11 (slim + build-essential python3-dev git curl)"
    printf 'FROM python:3.11-slim\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y build-essential python3-dev git curl && rm -rf /var/lib/apt/lists/*\n' \
        | DOCKER_BUILDKIT=1 $DOCKER build -q -t python:3.11 - >/dev/null
fi

# CUDA-style stand-ins (no GPU, no CUDA): a "runtime" without and a "devel" with a compiler
# toolchain, under the tags the CUDA fixture project uses.
have nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04 || $DOCKER tag python:3.11-slim nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04
have nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04 || $DOCKER tag python:3.11 nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04
# CUDA base ladder (SLM007): a "base" stand-in -- like the runtime one, no CUDA libraries at all; the
# Docker test installs the CUDA runtime library from its pip wheel (nvidia-cuda-runtime-cu12).
have nvidia/cuda:12.1.0-base-ubuntu22.04 || $DOCKER tag python:3.11-slim nvidia/cuda:12.1.0-base-ubuntu22.04

# The engine's build cache grows with every run on this machine (tens of GB); BuildKit's own GC then evicts
# entries between a build and the warm rebuild measure times. Cache unused for 12 h goes, with what killed runs
# left behind (stopped containers, dangling images); recent entries keep CI warm.
$DOCKER container prune -f >/dev/null 2>&1 || true
$DOCKER image prune -f >/dev/null 2>&1 || true
$DOCKER builder prune -f --filter until=12h >/dev/null 2>&1 || true
# Recent cache counts too: 77 GB of same-day cache once left 417 MB free on this disk. Keep the newest 25 GB warm.
$DOCKER builder prune -f --keep-storage 25GB >/dev/null 2>&1 || true

# BuildKit's build checks (`docker build --check`) need a newer engine than this one: a second engine beside it
# (buildcheck-engine.sh). If it cannot come up, the main engine still serves; measure then reports the checks as
# skipped, and CI's build-check tests fail (CI_REQUIRE_BUILDCHECKS=1) instead of skipping.
bash "$(dirname "${BASH_SOURCE[0]}")/buildcheck-engine.sh" \
    || log "the build-check engine is not available (why: above); BuildKit build checks will be skipped"

log "ready: $($DOCKER version --format '{{.Server.Version}}'), images: $($DOCKER images --format '{{.Repository}}:{{.Tag}}' | tr '\n' ' ')"
