#!/bin/sh
set -e
# Extra system packages chosen at deploy time: EXTRA_APT_PACKAGES="jq curl"
if [ -n "$EXTRA_APT_PACKAGES" ]; then
    apt-get install -y --no-install-recommends $EXTRA_APT_PACKAGES > /dev/null
fi
exec "$@"
