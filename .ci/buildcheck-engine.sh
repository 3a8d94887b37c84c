#!/usr/bin/env bash
# A second Docker engine that can run BuildKit's build checks (`docker buildx build --call=check`), beside the
# machine's own engine (Debian bookworm's Docker 20.10, whose built-in BuildKit predates the checks; no registry
# here, so no `# syntax=` frontend image can be pulled either). Called by docker-setup.sh; idempotent.
#
# dockerd (Docker 28, BuildKit >= 0.15 built in) and the buildx plugin come as .debs from the Debian mirror's
# unstable suite, checked against the suite's Packages index, and are unpacked with `dpkg-deb -x` into a private
# prefix: nothing of the machine's packages changes. The bookworm containerd/runc on the machine serve it.
# The engine has its own --data-root, --exec-root, --pidfile, socket, containerd namespaces and its own bridge
# (never --bridge=none: dockerd then deletes docker0, the main engine's bridge), and no iptables rules.
# The buildx plugin sits in a private DOCKER_CONFIG (cli-plugins/), not in a system plugin folder: a plugin
# there would make the main docker CLI build through buildx too.
#
# measure finds the engine through SLIMML_BUILDCHECK_HOST and SLIMML_BUILDCHECK_DOCKER_CONFIG (docs/verification.md):
#   SLIMML_BUILDCHECK_HOST=unix:///run/slimml-buildcheck/docker.sock
#   SLIMML_BUILDCHECK_DOCKER_CONFIG=/opt/slimml-engine2/docker-config
set -Eeuo pipefail # -E: the ERR trap below also fires inside functions

PREFIX=${SLIMML_ENGINE2_PREFIX:-/opt/slimml-engine2}
RUNDIR=/run/slimml-buildcheck
SOCK=$RUNDIR/docker.sock
DATA=/var/lib/slimml-buildcheck
BRIDGE=slbc0
BRIDGE_CIDR=10.198.0.1/24 # tests/enginepool.py takes 10.200-249.x.x
SUITE=sid                 # the first suite whose docker.io has BuildKit >= 0.15 (trixie has 26.1)
PACKAGES=(docker.io docker-buildx)
# The stand-in base images (docker-setup.sh): the checks resolve each FROM image's config, and cannot pull.
IMAGES=(python:3.11-slim python:3.11 nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04
    nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04 nvidia/cuda:12.1.0-base-ubuntu22.04)
DOCKER=/usr/bin/docker
CONFIG=$PREFIX/docker-config

log() { echo "buildcheck-engine: $*" >&2; }
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
e2() { $DOCKER -H "unix://$SOCK" "$@"; }
up() { e2 version --format '{{.Server.Version}}' 2>/dev/null || true; } # empty: not up (yet)

mirror() {
    local m
    m=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
    [ -n "$m" ] || m=$(grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
    echo "${m:-http://deb.debian.org/debian}"
}

install_binaries() {
    [ -x "$PREFIX/usr/sbin/dockerd" ] && [ -x "$PREFIX/usr/libexec/docker/cli-plugins/docker-buildx" ] && return 0
    local base index pkg fields file sum
    base=$(mirror)
    mkdir -p "$PREFIX/debs"
    index=$PREFIX/debs/Packages
    log "fetching the $SUITE Packages index from $base"
    curl -fsS --retry 3 "$base/dists/$SUITE/main/binary-amd64/Packages.xz" | xz -dc >"$index"
    for pkg in "${PACKAGES[@]}"; do
        # "Filename SHA256" of the package's stanza
        fields=$(awk -v want="$pkg" '
            /^Package: / { p = ($2 == want) } p && /^Filename: / { f = $2 } p && /^SHA256: / { s = $2 }
            /^$/ { if (p && f) { print f, s; exit } p = 0 }' "$index")
        [ -n "$fields" ] || { log "$pkg is not in $SUITE's index"; return 1; }
        read -r file sum <<<"$fields"
        log "downloading $file"
        curl -fsS --retry 3 -o "$PREFIX/debs/${file##*/}" "$base/$file"
        echo "$sum  $PREFIX/debs/${file##*/}" | sha256sum -c --quiet - || { log "checksum mismatch: $file"; return 1; }
        dpkg-deb -x "$PREFIX/debs/${file##*/}" "$PREFIX"
    done
    rm -f "$PREFIX"/debs/*.deb "$index"
    "$PREFIX/usr/sbin/dockerd" --version >&2
}

plugin() {
    mkdir -p "$CONFIG/cli-plugins"
    ln -sf "$PREFIX/usr/libexec/docker/cli-plugins/docker-buildx" "$CONFIG/cli-plugins/docker-buildx"
    DOCKER_CONFIG=$CONFIG $DOCKER buildx version >&2
}

start() {
    [ -n "$(up)" ] && return 0
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip route | grep -q '^10\.198\.0\.' && { log "10.198.0.0/24 is in use here; not adding bridge $BRIDGE"; return 1; }
        ip link add "$BRIDGE" type bridge
        ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
        ip link set "$BRIDGE" up
    fi
    mkdir -p "$RUNDIR/exec" "$DATA"
    log "starting dockerd $("$PREFIX/usr/sbin/dockerd" --version | awk '{print $3}' | tr -d ,) on $SOCK"
    # Its own containerd (started by dockerd under --exec-root) from the machine's PATH; docker-proxy from the prefix.
    PATH=$PREFIX/usr/sbin:$PREFIX/usr/bin:$PATH setsid nohup "$PREFIX/usr/sbin/dockerd" \
        --data-root "$DATA" --exec-root "$RUNDIR/exec" --pidfile "$RUNDIR/dockerd.pid" -H "unix://$SOCK" \
        --bridge "$BRIDGE" --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
        --userland-proxy=false --containerd-namespace slimml-buildcheck \
        --containerd-plugins-namespace slimml-buildcheck-plugins --storage-driver overlay2 \
        >"$RUNDIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        [ -n "$(up)" ] && return 0
        sleep 1
    done
    log "dockerd did not come up:"
    tail -20 "$RUNDIR/dockerd.log" >&2
    return 1
}

load_images() {
    local img id
    for img in "${IMAGES[@]}"; do
        id=$($DOCKER image inspect -f '{{.Id}}' "$img" 2>/dev/null) || { log "no $img on the main engine"; continue; }
        [ "$id" = "$(e2 image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)" ] && continue
        if e2 image inspect "$id" >/dev/null 2>&1; then
            e2 tag "$id" "$img" # another tag of an image already loaded (the CUDA-named stand-ins)
        else
            log "loading $img"
            $DOCKER save "$img" | e2 load -q >/dev/null
        fi
    done
}

stop() {
    # `buildcheck-engine.sh stop`: the daemon (it ends its own containerd) and its bridge; the data root stays.
    local pid
    pid=$(cat "$RUNDIR/dockerd.pid" 2>/dev/null) || pid=
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    ip link del "$BRIDGE" 2>/dev/null || true
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

t0=$(date +%s)
install_binaries
plugin
start
load_images
log "ready in $(($(date +%s) - t0)) s: Docker $(up) on unix://$SOCK, buildx plugin in $CONFIG/cli-plugins"
