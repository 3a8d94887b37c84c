#!/bin/sh
# usage: run.sh CASE_DIR [SLIMML_FIX_ARGS...]   (default args: --unsafe-fixes)
# Builds the case as written and checks it (it must PASS: the case itself is sound), then runs
# `slimml fix --write` with the given args on a copy, builds the rewrite and checks it the same way.
# Exit 0: the rewrite behaves the same (or slimml left the file unchanged); 1: it does not;
# 2: the original itself does not build or check. Images are removed at the end.
set -u
case_dir=$(cd "$1" && pwd)
shift
[ $# -eq 0 ] && set -- --unsafe-fixes
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$case_dir")
tag="slimml-adv-$name-$$"
work=$(mktemp -d)
trap 'docker rmi -f "$tag:before" "$tag:after" >/dev/null 2>&1; rm -rf "$work"' EXIT
build() { DOCKER_BUILDKIT=1 /usr/bin/docker build -q -t "$1" "$2" >"$work/build.log" 2>&1 || { cat "$work/build.log"; return 1; }; }
build "$tag:before" "$case_dir" || { echo "ORIGINAL DOES NOT BUILD: $name"; exit 2; }
"$here/check.sh" "$case_dir" "$tag:before" || { echo "ORIGINAL DOES NOT CHECK: $name"; exit 2; }
cp -a "$case_dir" "$work/ctx"
slimml fix "$work/ctx/Dockerfile" --write "$@" >"$work/fix.log" 2>&1
if cmp -s "$case_dir/Dockerfile" "$work/ctx/Dockerfile"; then
    echo "UNCHANGED $name (slimml did not rewrite the Dockerfile)"; sed -n '1,5p' "$work/fix.log"; exit 0
fi
diff -u "$case_dir/Dockerfile" "$work/ctx/Dockerfile" || true
stages=$(grep -ciE '^[[:space:]]*from[[:space:]]' "$work/ctx/Dockerfile")
echo "rewritten Dockerfile has $stages stage(s)"
build "$tag:after" "$work/ctx" || { echo "REWRITE DOES NOT BUILD: $name"; exit 1; }
"$here/check.sh" "$case_dir" "$tag:after"
