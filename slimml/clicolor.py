"""``--color`` for the commands that print for people (``fix``, ``check``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def want_color(choice: str | None, stream: IO[Any] | None) -> bool:
    """``--color``: always / never; auto (the default) honours NO_COLOR and FORCE_COLOR (non-empty,
    https://no-color.org, https://force-color.org), else colours a terminal only."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return bool(stream.isatty())  # type: ignore[union-attr]  # None: AttributeError, no colour
    except (AttributeError, ValueError):
        return False


def color_options(f: F) -> F:
    f = click.option("--no-color", "no_color", is_flag=True, hidden=True, help="Same as --color never.")(f)
    return click.option(
        "--color",
        type=click.Choice(["auto", "always", "never"]),
        default="auto",
        show_default=True,
        is_flag=False,
        flag_value="always",
        help="Colour the output (the diff, the findings, the summary); `always` also when piped (NO_COLOR / FORCE_COLOR "
        "are honoured with auto).",
    )(f)
