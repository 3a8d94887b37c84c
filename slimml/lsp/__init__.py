"""slimml's language server (`slimml server`, stdio): diagnostics, quick fixes, fix-all and hover for Dockerfiles.

Nothing here imports pygls at package import time: ``slimml.lsp.command`` (the click command) is loaded with the
CLI, the server itself only when ``slimml server`` runs. The analysis (``analysis``), position conversion
(``positions``) and edit building are plain Python on top of slimml's runner, config, context and engine.
"""
