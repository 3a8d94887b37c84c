"""``python -m slimml``: the same command line as the ``slimml`` script."""

from .cli import run

if __name__ == "__main__":
    run()
