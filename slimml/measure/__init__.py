"""`slimml measure`: build the original and the rewritten image with a real Docker engine, report
the size and rebuild-time difference, and verify that the rewrite kept the image's behaviour.

Modules (all import the Docker SDK and rich lazily, inside functions):

- ``engine``: the engine connection, the docker CLI used for BuildKit/buildx, builds with progress,
  image history, and ``Resources`` (everything created, removed on exit or Ctrl-C);
- ``plan``: the rewrite of a *copy* of the Dockerfile and its context (the user's files are never
  touched), which builder a file needs, the ``# syntax=`` directive, the source-only change;
- ``probes``: the scripts run inside containers of each image (interpreter, distributions,
  imports, ELF libraries, application files);
- ``verify``: ``verify(client, before, after, options)`` -- the parity checks, callable on any two
  image references;
- ``run``: the whole measurement; ``report``: text / markdown / JSON; ``command``: the CLI.
"""
