"""Weights as an OCI image (SLM010 ``weights-delivery = "image"``): names and defaults."""

# The SLM010 option that chooses how the weights reach the container.
DELIVERIES = ("init-script", "image")
DEFAULT_DELIVERY = "init-script"

# Side files next to the service Dockerfile: weights.Dockerfile, weights.k8s.yaml ...
# (``gpu.Dockerfile`` gets weights-gpu.Dockerfile ...).
STEM = "weights"
MARKER = 'written by slimml (SLM010, weights-delivery = "image")'
# The weights Dockerfile keeps its sources as comment lines (same JSON as the init script's
# manifest), so a later run adds sources instead of losing the old ones.
MANIFEST_PREFIX = "# slimml-source: "

# Placeholder image references in the snippets (the user's registry and model version).
REGISTRY = "registry.example.com"
TAG = "v1"

# The download stage runs the init script's recipe at build time: it needs Python (stdlib HTTP,
# archives) and pip (huggingface_hub). The service's base is reused when it is an official
# python image; otherwise this one (overridable: --build-arg WEIGHTS_DOWNLOAD_IMAGE=...).
DOWNLOAD_IMAGE = "python:3.11-slim"
PIP_PYTHON_REPOS = ("python", "library/python", "docker.io/python", "docker.io/library/python")

# KServe's modelcar sidecar runs `sh` and `sleep` in the model image and links its /models.
MODELCAR_BASE = "busybox:1.36"

# Local archives ADD unpacks (a zip is copied as is).
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
