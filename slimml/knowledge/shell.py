"""Commands that run another command given as their arguments (``sudo -E pip install ...``).

Per wrapper: the options that take a separate value, and how many positional arguments come
before the wrapped command (``timeout 60 cmd``, ``gosu user cmd``). One table for every rule,
so ``xargs -r apt-get install`` is read the same way everywhere (``-r`` takes no value there).
"""

# name -> (options taking a value, positionals before the command)
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (
        frozenset(
            {
                "-u",
                "-g",
                "-C",
                "-h",
                "-p",
                "-D",
                "-r",
                "-t",
                "-U",
                "-T",
                "--user",
                "--group",
                "--chdir",
                "--prompt",
                "--role",
                "--type",
                "--other-user",
                "--close-from",
                "--host",
            }
        ),
        0,
    ),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "-C", "-S", "--unset", "--chdir", "--split-string"}), 0),
    "xargs": (
        frozenset(
            {
                "-I",
                "-L",
                "-n",
                "-P",
                "-d",
                "-s",
                "-E",
                "-a",
                "--max-args",
                "--max-procs",
                "--delimiter",
                "--max-chars",
                "--arg-file",
                "--max-lines",
                "--replace",
            }
        ),
        0,
    ),
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
    # init processes that run the container's command (`ENTRYPOINT ["tini", "--", "entry.sh"]`)
    "tini": (frozenset({"-p", "-e"}), 0),
    "tini-static": (frozenset({"-p", "-e"}), 0),
    "dumb-init": (frozenset({"-r", "--rewrite"}), 0),
    "catatonit": (frozenset(), 0),
    "chpst": (frozenset({"-u", "-U", "-b", "-e", "-/", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c"}), 0),
    "s6-setuidgid": (frozenset(), 1),
    "runuser": (frozenset({"-u", "-g", "-G", "--user", "--group", "--supp-group"}), 0),
    "setsid": (frozenset(), 0),
}

# Environment managers whose `run` subcommand runs another command (`micromamba run -n env pip ...`).
RUN_WRAPPERS: dict[str, frozenset[str]] = {
    tool: frozenset({"-n", "--name", "-p", "--prefix", "-e", "--env", "--cwd", "--python", "--with"})
    for tool in ("conda", "mamba", "micromamba", "poetry", "uv", "pipenv", "pdm", "hatch", "pixi")
}

# Where a program named without a path is looked up when PATH is not set (Docker's default).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# -- SHELL instructions -------------------------------------------------------------------------------
POSIX_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"})
# Options that do not change what a script does or whether it fails (tracing, no globbing is NOT here).
HARMLESS_SHORT_OPTIONS = frozenset("xv")
HARMLESS_LONG_OPTIONS = frozenset({"--noprofile", "--norc", "--posix"})
HARMLESS_SHELL_OPTIONS = frozenset({"xtrace", "verbose"})
# Options that make the shell read profile/rc files at every start (state that a RUN may have
# written for the *next* RUN: conda init, nvm, .bashrc exports).
STARTUP_SHORT_OPTIONS = frozenset("li")
STARTUP_LONG_OPTIONS = frozenset({"--login", "-l", "-i"})

# -- shell state a script leaves behind ----------------------------------------------------------------
# Builtins whose effect outlives the command: a following command in the same shell sees it.
STATE_BUILTINS = frozenset(
    {
        "cd",
        "pushd",
        "popd",
        "export",
        "unset",
        "source",
        ".",
        "set",
        "shopt",
        "umask",
        "ulimit",
        "alias",
        "unalias",
        "trap",
        "exec",
        "exit",
        "return",
        "read",
        "declare",
        "typeset",
        "local",
        "readonly",
        "eval",
        "hash",
        "shift",
        "getopts",
        "enable",
        "setopt",
        "let",
        "mapfile",
        "readarray",
        "bind",
        "builtin",
        "disown",
        "wait",
        "jobs",
        "fc",
        "history",
        "dirs",
        "complete",
        "compopt",
    }
)
# `printf -v NAME` assigns a variable.
ASSIGNING_OPTIONS = {"printf": frozenset({"-v"})}
# Prefixes that run a builtin (``command cd /x``, ``builtin export X``).
BUILTIN_RUNNERS = frozenset({"command", "builtin"})
# tree-sitter-bash statement nodes that change the shell itself (a `for` leaves its variable set).
STATE_NODES = frozenset(
    {
        "declaration_command",
        "unset_command",
        "function_definition",
        "for_statement",
        "c_style_for_statement",
        "select_statement",
    }
)
# Nodes that run their content in a child shell: state set inside them does not leak.
CHILD_SHELL_NODES = frozenset({"subshell", "command_substitution", "process_substitution", "pipeline"})
# ``${V:=w}`` / ``${V=w}`` assign V.
ASSIGNING_EXPANSION_OPS = frozenset({":=", "="})
# Arithmetic operators that assign (``$((x=1))``, ``((i++))``).
ARITH_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "^=", "|=", "++", "--"})
# Variables whose value depends on what ran before in the same shell (a fresh RUN resets them).
SHELL_HISTORY_VARS = frozenset(
    {"_", "SECONDS", "BASH_COMMAND", "OLDPWD", "!", "BASH_REMATCH", "PIPESTATUS", "REPLY", "OPTIND", "OPTARG"}
)
# `set -o <name>` options and trap conditions that make a failing command end the script.
ERREXIT_OPTIONS = frozenset({"errexit"})
ERR_TRAP_SIGNALS = frozenset({"ERR"})
# Commands that start a daemon which outlives the command (argv prefixes, program basename first).
DAEMON_STARTS = (
    ("service", None, "start"),
    ("service", None, "restart"),
    ("rc-service", None, "start"),
    ("start-stop-daemon", "--start"),
    ("systemctl", "start"),
    ("dockerd",),
)

# Files commonly sourced in RUNs that do not turn on errexit (activation and profile scripts); a
# sourced file that the build context provides is read instead, and any other may (merge-runs
# then keeps the RUN last in a merge).
SOURCED_WITHOUT_ERREXIT = (
    "/bin/activate",
    "/etc/profile.d/conda.sh",
    "/etc/profile.d/mamba.sh",
    "/etc/profile",
    "/.bashrc",
    "/.profile",
    "/.bash_profile",
    "/.cargo/env",
    "/nvm.sh",
    "/etc/os-release",
    "/etc/lsb-release",
    "/etc/environment",
)
