"""Config parity: ENTRYPOINT+CMD (an init-script wrapper that ``exec "$@"``s the original command is
accepted), WORKDIR, USER, EXPOSE, VOLUME, LABEL, HEALTHCHECK, STOPSIGNAL, ONBUILD and ENV (apart
from PATH additions, the variables the rewrite sets and documents in its diff, and what a change
of base image brings). Also: what an slimml init script provides at container start."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable

from .checks import FAIL, PASS, Check

# ENV a rewrite may set without changing what the application does (documented by the rules).
NEUTRAL_ENV = frozenset(
    {
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_ROOT_USER_ACTION",
        "VIRTUAL_ENV",
        "DEBIAN_FRONTEND",
    }
)
# ENV that changes what the program loads: never "neutral", even when the rewrite sets it openly.
LOADER_ENV = frozenset(
    {
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONSAFEPATH",
        "PYTHONNOUSERSITE",
        "PYTHONUSERBASE",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        "PYTHONOPTIMIZE",
    }
)
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})
EXEC_ARGS_RE = re.compile(r"""\bexec\s+(?:--\s+)?(?:"\$@"|"\$\{@\}"|\$@|\$\{@\})""")
# The sources an slimml init script (SLM010) fetches at start: one JSON line per target.
SOURCE_LINE_RE = re.compile(r"^# slimml-source: (\{.*\})\s*$", re.MULTILINE)


def env_dict(env: list[str] | None) -> dict[str, str]:
    out = {}
    for item in env or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _path_additions_only(before: str, after: str) -> bool:
    """Every entry of ``before`` is in ``after``, in the same order (new entries anywhere)."""
    b = [p for p in before.split(":") if p]
    a = [p for p in after.split(":") if p]
    it = iter(a)
    return all(any(x == y for y in it) for x in b)


def effective_argv(cfg: dict) -> list[str]:
    return list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])


def wrapper_of(before_argv: list[str], after_argv: list[str], read_file: Callable[[str], str | None]) -> str | None:
    """The init script wrapping the original command (``after = [script] + before`` or
    ``[sh, script] + before``, and the script ends by ``exec "$@"``), or None."""
    for n in (1, 2):
        if len(after_argv) < n or after_argv[n:] != before_argv:
            continue
        if n == 2 and posixpath.basename(after_argv[0]) not in SHELLS:
            continue
        script = after_argv[n - 1]
        if not script.startswith("/"):
            continue
        text = read_file(script)
        if text and EXEC_ARGS_RE.search(text):
            return script
    return None


def compare_config(
    cfg_b: dict,
    cfg_a: dict,
    *,
    documented: set[str] = frozenset(),
    base_b: dict | None = None,
    base_a: dict | None = None,
    read_file_after: Callable[[str], str | None] = lambda p: None,
) -> Check:
    check = Check("config", PASS, "")
    fails, notes = [], []
    argv_b, argv_a = effective_argv(cfg_b), effective_argv(cfg_a)
    script = None
    if argv_b != argv_a:
        script = wrapper_of(argv_b, argv_a, read_file_after)
        if script:
            notes.append(f"ENTRYPOINT/CMD: wrapped by {script}, which execs the original command {json.dumps(argv_b)}")
        else:
            fails.append(f"ENTRYPOINT/CMD: {json.dumps(argv_b)} -> {json.dumps(argv_a)}")
    simple = [
        ("WorkingDir", "WORKDIR", ""),
        ("User", "USER", ""),
        ("ExposedPorts", "EXPOSE", {}),
        ("Volumes", "VOLUME", {}),
        ("Healthcheck", "HEALTHCHECK", None),
        ("StopSignal", "STOPSIGNAL", None),
        ("OnBuild", "ONBUILD", []),
    ]
    for key, label, empty in simple:
        vb, va = cfg_b.get(key) or empty, cfg_a.get(key) or empty
        if vb != va:
            fails.append(f"{label}: {json.dumps(vb)} -> {json.dumps(va)}")

    def base_changed(section: str, k: str) -> bool:
        if base_b is None or base_a is None:
            return False
        get = env_dict if section == "env" else (lambda d: d or {})
        bb = get(base_b.get("Env") if section == "env" else base_b.get("Labels"))
        ba = get(base_a.get("Env") if section == "env" else base_a.get("Labels"))
        return bb.get(k) != ba.get(k)

    eb, ea = env_dict(cfg_b.get("Env")), env_dict(cfg_a.get("Env"))
    for k in sorted(set(eb) | set(ea)):
        vb, va = eb.get(k), ea.get(k)
        if vb == va:
            continue
        if k == "PATH" and vb is not None and va is not None and _path_additions_only(vb, va):
            notes.append(f"ENV PATH: entries added ({va})")
        elif vb is None and k in LOADER_ENV:
            fails.append(f"ENV {k}={va}: added; it changes what the program loads")
        elif vb is None and (k in documented or k in NEUTRAL_ENV):
            notes.append(f"ENV {k}={va}: set by the rewrite" + (" (documented in the diff)" if k in documented else ""))
        elif base_changed("env", k):
            notes.append(f"ENV {k}: {vb!r} -> {va!r} comes with the new base image")
        elif vb is None:
            fails.append(f"ENV {k}={va}: added, not set by the rewritten Dockerfile")
        elif va is None:
            fails.append(f"ENV {k}: removed (was {vb!r})")
        else:
            fails.append(f"ENV {k}: {vb!r} -> {va!r}")
    lb, la = cfg_b.get("Labels") or {}, cfg_a.get("Labels") or {}
    for k in sorted(set(lb) | set(la)):
        if lb.get(k) == la.get(k):
            continue
        if base_changed("labels", k):
            notes.append(f"LABEL {k}: {lb.get(k)!r} -> {la.get(k)!r} comes with the new base image")
        else:
            fails.append(f"LABEL {k}: {lb.get(k)!r} -> {la.get(k)!r}")
    check.evidence = fails + notes
    check.details = {"failures": fails, "notes": notes, "argv_before": argv_b, "argv_after": argv_a, "wrapper": script}
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} difference(s) in the image config"
    else:
        check.summary = "entrypoint, cmd, workdir, user, ports, volumes, labels, healthcheck and env match" + (
            f" ({len(notes)} expected difference(s))" if notes else ""
        )
    return check


def provided_text(side_texts) -> str:
    """The side files of a rewrite that name what the deployment provides at start (``# slimml-source:`` lines:
    SLM010's weights image), for ``VerifyOptions.provided_text``."""
    return "\n".join(t for t in side_texts if t and "# slimml-source:" in t)


def provided_paths(script_text: str | None) -> list[str]:
    """Paths an slimml init script provides at container start (fetched, or mounted by the user):
    the targets of its ``# slimml-source:`` lines. A verification puts them back the way such a
    mount would; anything else the rewrite lost stays lost."""
    out = []
    for m in SOURCE_LINE_RE.finditer(script_text or ""):
        try:
            target = json.loads(m.group(1)).get("target")
        except ValueError:
            continue
        if isinstance(target, str) and target.startswith("/"):
            out.append(posixpath.normpath(target))
    return list(dict.fromkeys(out))
