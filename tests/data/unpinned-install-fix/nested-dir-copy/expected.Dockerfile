FROM python:3.11-slim AS build
RUN python -m venv /venv
WORKDIR /src
COPY deps/ deps/
RUN /venv/bin/pip install -r deps/requirements-prod.txt -c /src/deps/requirements-prod.lock
FROM python:3.11-slim
COPY --from=build /venv /venv
