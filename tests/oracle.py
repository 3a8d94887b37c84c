"""BuildKit's own parser (the `dockerfile` package wraps moby/buildkit's Go parser) as a test oracle."""

from __future__ import annotations

import dockerfile

from slimml.dockerfile import parse


def buildkit_boundaries(text: str) -> list[tuple[str, int, int]]:
    return [(c.cmd.upper(), c.start_line, c.end_line) for c in dockerfile.parse_string(text)]


def our_boundaries(text: str) -> list[tuple[str, int, int]]:
    return [(i.keyword, i.start_line, i.end_line) for i in parse(text).instructions]


def assert_agrees(text: str) -> None:
    ours = our_boundaries(text)
    theirs = buildkit_boundaries(text)
    assert ours == theirs, f"instruction boundaries differ from BuildKit:\nours:     {ours}\nbuildkit: {theirs}"
