ARG APP_VERSION=1.0
from python:3.10-slim AS base
workdir /srv
copy --chown=1000:1000 reqs/prod.txt /srv/requirements.txt
copy --chown=1000:1000 reqs/prod.lock /srv/prod.lock
run pip install \
    # pinned elsewhere? no
    --no-cache-dir \
    -r requirements.txt -c /srv/prod.lock
user 1000
