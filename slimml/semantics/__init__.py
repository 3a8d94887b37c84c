"""The semantic model that safety needs, computed once per document and asked by every rule.

- ``build``: the stage chain (``FROM <stage>``) and the build state before each instruction --
  ENV and ARG values (and whether a ``--build-arg`` can change them), WORKDIR, USER and the
  effective SHELL, inherited from parent stages the way BuildKit inherits them;
- ``shellspec``: what a SHELL instruction's argv means (POSIX or not, errexit, login, ...);
- ``shellstate``: the shell state a RUN's script leaves behind or reads (variables, cwd, options,
  traps, functions, background jobs) and whether its meaning survives ``&&``;
- ``installers``: the environment and config files that configure pip, uv, poetry, pdm, pipenv
  and conda for one install command;
- ``programs``: what a RUN runs that slimml cannot see into (scripts from the context, piped
  installers), read through when the script is in the build context;
- ``apt``: who downloads, reads and removes the apt package lists, instruction by instruction;
- ``ship``: which stages, and which of their paths, end up in the final image.

Rules never re-derive these facts: they ask, and a fact that cannot be established statically is
reported as unknown (with the reason), so that a fix depending on it is withdrawn or made unsafe.
"""
