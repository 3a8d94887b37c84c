"""The `slimml server` command. Imports only click: pygls is loaded when the server starts."""

from __future__ import annotations

import click


@click.command("server")
@click.option(
    "--stdio",
    is_flag=True,
    help="Talk LSP over stdin/stdout (the default and only transport; accepted because editors pass it).",
)
def server(stdio: bool) -> None:
    """Language server for editors (LSP over stdio): diagnostics, quick fixes, fix-all, hover. See docs/editors.md."""
    from .server import serve

    serve()
