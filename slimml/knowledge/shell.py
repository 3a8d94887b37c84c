"""Commands that run another command given as their arguments (``sudo -E pip install ...``).

Per wrapper: the options that take a separate value, and how many positional arguments come
before the wrapped command (``timeout 60 cmd``, ``gosu user cmd``). One table for every rule,
so ``xargs -r apt-get install`` is read the same way everywhere (``-r`` takes no value there).
"""

# name -> (options taking a value, positionals before the command)
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-C", "-h", "-p", "-D", "-r", "-t", "-U", "-T", "--user", "--group",
                        "--chdir", "--prompt", "--role", "--type", "--other-user", "--close-from", "--host"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "-C", "-S", "--unset", "--chdir", "--split-string"}), 0),
    "xargs": (frozenset({"-I", "-L", "-n", "-P", "-d", "-s", "-E", "-a", "--max-args", "--max-procs",
                         "--delimiter", "--max-chars", "--arg-file", "--max-lines", "--replace"}), 0),
    "time": (frozenset({"-f", "-o", "--format", "--output"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p", "-P", "-u", "--class", "--classdata"}), 0),
    "nohup": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "chronic": (frozenset(), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "gosu": (frozenset(), 1),
    "su-exec": (frozenset(), 1),
    "setpriv": (frozenset({"--reuid", "--regid", "--groups", "--inh-caps", "--bounding-set"}), 0),
}

# Environment managers whose `run` subcommand runs another command (`micromamba run -n env pip ...`).
RUN_WRAPPERS: dict[str, frozenset[str]] = {
    tool: frozenset({"-n", "--name", "-p", "--prefix", "-e", "--env", "--cwd", "--python", "--with"})
    for tool in ("conda", "mamba", "micromamba", "poetry", "uv", "pipenv", "pdm", "hatch", "pixi")
}
