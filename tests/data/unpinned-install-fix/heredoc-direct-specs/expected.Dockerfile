# syntax=docker/dockerfile:1
FROM python:3.12-slim
WORKDIR /app
COPY requirements.lock /app/requirements.lock
RUN <<EOF
set -e
pip install --no-cache-dir flask "werkzeug>=3" -c /app/requirements.lock
EOF
COPY app.py .
