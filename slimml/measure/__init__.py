"""`slimml measure`: build the original and the rewritten image (or any other Dockerfile, with
``--after``) with a real Docker engine, report the size and rebuild-time difference, and verify
that the second image behaves like the first.

Modules (all import the Docker SDK, rich and libcst lazily, inside functions):

- ``engine``: the engine connection, the docker CLI used for BuildKit/buildx, builds with progress
  and per-step cache hits, image history, and ``Resources`` (everything created, removed on exit);
- ``plan``: the rewrite of a *copy* of the Dockerfile and its context (the user's files are never
  touched), or the pair of given Dockerfiles; which builder a file needs; the source-only change;
- ``cache``: what a source-only change must rebuild, and rebuild times on a verified warm cache;
- ``verify``: ``verify(client, before, after, options)`` -- the checks on any two image references,
  built from ``checks`` (results), ``containers`` (throw-away containers), ``probes`` (the scripts
  run inside them), ``interpreter`` (the Python the command really runs), ``configparity``,
  ``envparity`` (distributions, imports, ELF libraries, programs), ``appscan`` (what the app's code,
  scripts and config name and run; libcst, tree-sitter-bash), ``files`` (the files the app reads)
  and ``runtime`` (the real command run: exit, ports, first answer);
- ``pair``: the API for callers that verify candidate Dockerfiles (``Session``, ``build_and_verify``);
- ``run``: the whole measurement; ``report``: text / markdown / JSON; ``command``: the CLI.
"""
