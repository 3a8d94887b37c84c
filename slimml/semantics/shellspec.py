"""What the effective SHELL means for a RUN's script: which shell, and which options it starts with.

``SHELL ["/bin/bash", "-eo", "pipefail", "-c"]`` runs every RUN with errexit and pipefail on;
``["/bin/bash", "--login", "-c"]`` reads the profile files at the start of every RUN. Options a
rule cannot interpret make the spec unknown, never "default".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..knowledge import shell as K


@dataclass(frozen=True)
class ShellSpec:
    known: bool  # False: the SHELL (or the base image's) cannot be interpreted
    program: str | None  # basename: "sh", "bash", ...
    errexit: bool = False  # -e / -o errexit
    nounset: bool = False
    pipefail: bool = False
    startup_files: bool = False  # --login / -l / -i, or a wrapper that sources activation scripts
    reason: str = ""  # why it is unknown, or what the startup does

    @property
    def posix(self) -> bool:
        return self.known and self.program in K.POSIX_SHELLS


UNKNOWN = ShellSpec(False, None, reason="the base image's SHELL is not known")


def spec(shell: tuple[str, ...] | None, env: dict[str, str] | None = None) -> ShellSpec:
    """The spec of an effective SHELL argv (``None``: unknown, see ``BuildState.effective_shell``)."""
    if shell is None:
        return UNKNOWN
    # Of the environment only BASH_ENV (set or not) matters: memoised on that (asked for every RUN).
    return _spec(tuple(shell), bool(env and env.get("BASH_ENV")))


@lru_cache(maxsize=256)
def _spec(shell: tuple[str, ...], bash_env: bool) -> ShellSpec:
    env = {"BASH_ENV": "set"} if bash_env else None
    from ..knowledge.image_config import POSIX_WRAPPER_SHELLS

    if not shell:
        return ShellSpec(False, None, reason="SHELL is empty")
    prog = shell[0].rsplit("/", 1)[-1]
    from ..knowledge.image_config import conda_run_shell

    wrapped = conda_run_shell(shell)
    if wrapped is not None:
        inner = spec(wrapped[1], env)
        if not inner.known:
            return inner
        return ShellSpec(
            True,
            inner.program,
            inner.errexit,
            inner.nounset,
            inner.pipefail,
            startup_files=True,
            reason=f"`{prog} run` activates an environment at the start of every RUN",
        )
    if shell[0] in POSIX_WRAPPER_SHELLS:
        return ShellSpec(
            True,
            "bash",
            startup_files=True,
            reason=f"`{shell[0]}` {POSIX_WRAPPER_SHELLS[shell[0]]} an environment at the start of every RUN",
        )
    if prog not in K.POSIX_SHELLS:
        return ShellSpec(False, prog, reason=f"SHELL runs `{shell[0]}`, not a POSIX shell")
    errexit = nounset = pipefail = startup = False
    args = list(shell[1:])
    if (
        not args
        or args[-1] != "-c"
        and not (args[-1].startswith("-") and args[-1].endswith("c") and not args[-1].startswith("--"))
    ):
        return ShellSpec(False, prog, reason="the SHELL does not end with `-c`")
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "+o") and i + 1 < len(args):
            name = args[i + 1]
            on = a == "-o"
            if name == "errexit":
                errexit = on
            elif name == "nounset":
                nounset = on
            elif name == "pipefail":
                pipefail = on
            elif name not in K.HARMLESS_SHELL_OPTIONS:
                return ShellSpec(False, prog, reason=f"the SHELL sets `-o {name}`")
            i += 2
            continue
        if a in K.STARTUP_LONG_OPTIONS:
            startup = True
        elif a.startswith("--"):
            if a not in K.HARMLESS_LONG_OPTIONS:
                return ShellSpec(False, prog, reason=f"the SHELL passes `{a}`")
        elif a.startswith(("-", "+")) and len(a) > 1:
            on = a[0] == "-"
            letters = a[1:]
            for j, ch in enumerate(letters):
                if ch == "c":
                    continue
                if ch == "o":  # `-eo pipefail`: the option name is the next word
                    if i + 1 < len(args) and j == len(letters) - 1:
                        name = args[i + 1]
                        errexit = errexit or (on and name == "errexit")
                        nounset = nounset or (on and name == "nounset")
                        pipefail = pipefail or (on and name == "pipefail")
                        if name not in ("errexit", "nounset", "pipefail") and name not in K.HARMLESS_SHELL_OPTIONS:
                            return ShellSpec(False, prog, reason=f"the SHELL sets `-o {name}`")
                        i += 1
                    continue
                if ch == "e":
                    errexit = on
                elif ch == "u":
                    nounset = on
                elif ch in K.STARTUP_SHORT_OPTIONS:
                    startup = True
                elif ch not in K.HARMLESS_SHORT_OPTIONS:
                    return ShellSpec(False, prog, reason=f"the SHELL passes `{a}`")
        i += 1
    if env and prog == "bash" and env.get("BASH_ENV"):
        startup = True
    reason = "the SHELL reads startup files at the start of every RUN" if startup else ""
    return ShellSpec(True, prog, errexit, nounset, pipefail, startup, reason)
