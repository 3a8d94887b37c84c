# platform team's base image (another repository); its SHELL is part of the image config
FROM python:3.11-slim
SHELL ["/bin/bash", "-e", "-o", "pipefail", "-c"]
RUN echo "acme base"
