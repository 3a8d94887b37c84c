#!/bin/sh
# usage: run_all.sh [slimml fix args]   (default: --unsafe-fixes --ignore SLM006)
# run.sh on every case (conda-base-env skipped: no local image for it); prints a markdown table:
# the stages of the rewrite and whether the rewritten image still prints expect.txt.
# Logs: $TMPDIR/slimml-adv-<case>.log. SLM006 is ignored by default so that a .dockerignore
# does not hide a split's own mistake (the uv cases).
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 0 ] && set -- --unsafe-fixes --ignore SLM006
echo "| case | rewrite | result |"
echo "|---|---|---|"
for dir in "$here"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/expect.txt" ] || continue
    [ "$name" = conda-base-env ] && { echo "| $name | - | skipped (needs continuumio/miniconda3) |"; continue; }
    log="${TMPDIR:-/tmp}/slimml-adv-$name.log"
    "$here/run.sh" "$dir" "$@" >"$log" 2>&1
    rc=$?
    stages=$(sed -n 's/^rewritten Dockerfile has \([0-9]*\) stage(s)$/\1 stage(s)/p' "$log")
    grep -q '^UNCHANGED' "$log" && stages="unchanged"
    case $rc in
        0) result=PASS ;;
        1) result="FAIL: $(grep -m1 -E 'DOES NOT BUILD|Error|error:' "$log" | cut -c1-100 || true)" ;;
        *) result="case broken (the original does not build or check): see $log" ;;
    esac
    grep -q "^REWRITE DOES NOT BUILD" "$log" && result="FAIL: the rewrite does not build"
    [ "$rc" -eq 1 ] && [ "$result" = "FAIL: " ] && result="FAIL: prints something else"
    echo "| $name | ${stages:-?} | $result |"
done
