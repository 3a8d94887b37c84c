"""``python -m slimml``: the same command line as the ``slimml`` script."""

from .cli import main

if __name__ == "__main__":
    main()
