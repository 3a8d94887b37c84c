"""slimml: rewrite ML service Dockerfiles into smaller, faster-to-rebuild images."""

__version__ = "0.1.0"
