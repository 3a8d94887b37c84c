#!/bin/sh
# usage: check.sh CASE_DIR IMAGE
# Runs IMAGE with its own CMD/ENTRYPOINT (no network) and compares what it prints (stdout and stderr)
# with CASE_DIR/expect.txt. Prints PASS or FAIL with both texts; exit 0 on PASS, 1 on FAIL.
set -u
case_dir=$1
image=$2
want=$(cat "$case_dir/expect.txt")
got=$(timeout 120 docker run --rm --network none "$image" 2>&1)
if [ "$got" = "$want" ]; then
    echo "PASS $(basename "$case_dir")"
    exit 0
fi
printf 'FAIL %s\n--- want\n%s\n--- got\n%s\n' "$(basename "$case_dir")" "$want" "$got"
exit 1
