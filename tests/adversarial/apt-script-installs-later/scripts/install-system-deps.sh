#!/bin/sh
# System packages of the service, in one place so CI and the image agree.
set -e
apt-get install -y --no-install-recommends jq
