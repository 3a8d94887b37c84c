#!/bin/sh
set -e
xargs apt-get install -y --no-install-recommends < "$1"
