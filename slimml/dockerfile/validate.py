"""What BuildKit refuses to build, refused here too (``DockerfileError``: one line, exit 2, nothing written).

Each rule below was checked against BuildKit itself (tests/test_buildkit_rejects.py builds every case with the
engine and with the ``dockerfile`` package's copy of BuildKit's parser). Only rejections that hold across BuildKit
versions are mirrored: flags that newer frontends added (``COPY --link``, ``ADD --checksum``, ``RUN --network``)
and heredocs are accepted, and nothing that depends on a build argument's value is judged.

- parser: ``ENV``/``LABEL`` with one word and no ``=`` (``ENV PATH``), or a word without ``=`` among ``k=v``
  words; a JSON array with a non-string element in any instruction that takes JSON (``CMD ["a", ["b"]]``);
- instruction parser: no argument where one is required (ENV, LABEL, ARG, SHELL, FROM, COPY/ADD (two),
  EXPOSE, WORKDIR, USER, VOLUME, STOPSIGNAL, MAINTAINER, ONBUILD); blank names (``ARG =x``); ``SHELL`` not in
  JSON form; ``FROM`` with other than one or three words, a third word after something else than ``AS``, or a
  stage name that is not ``[a-z][a-z0-9-_.]*``; flags: unknown (per instruction, case-sensitive), repeated,
  missing a value, a boolean that is not one, ``--mount`` of an unknown type, with an unknown key, or without a
  target where one is needed; ``HEALTHCHECK`` other than ``NONE`` / ``CMD <command>``, a duration that does not
  parse or is under 1ms, negative ``--retries``; ``ONBUILD FROM`` / ``ONBUILD ONBUILD`` / ``ONBUILD
  MAINTAINER``; an ``EXPOSE`` port that is not a number (range) up to 65535 with tcp/udp/sctp; a ``STOPSIGNAL``
  that is no signal; an empty ``VOLUME`` path in JSON form.
"""

from __future__ import annotations

import csv
import json
import re

from .model import KNOWN_INSTRUCTIONS, DockerfileError, Document, Instruction

_WS_SPLIT = re.compile(r"[\t\v\f\r ]+")  # BuildKit's reWhitespace
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
# Flags per instruction: name -> kind ("string", "bool", "array"). The union over BuildKit versions, so a flag a
# newer frontend knows is never refused.
_FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": "string"},
    "RUN": {"mount": "array", "network": "string", "security": "string", "device": "array"},
    "COPY": {
        "from": "string",
        "chown": "string",
        "chmod": "string",
        "link": "bool",
        "parents": "bool",
        "exclude": "array",
    },
    "ADD": {
        "chown": "string",
        "chmod": "string",
        "link": "bool",
        "checksum": "string",
        "keep-git-dir": "bool",
        "exclude": "array",
        "unpack": "bool",
    },
    "HEALTHCHECK": {
        "interval": "string",
        "timeout": "string",
        "start-period": "string",
        "start-interval": "string",
        "retries": "string",
    },
}
_JSON_KEYWORDS = ("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME")
_MOUNT_TYPES = frozenset({"bind", "cache", "tmpfs", "secret", "ssh"})
_MOUNT_KEYS = frozenset(
    {
        "type",
        "id",
        "target",
        "dst",
        "destination",
        "from",
        "source",
        "src",
        "readonly",
        "ro",
        "readwrite",
        "rw",
        "required",
        "sharing",
        "mode",
        "uid",
        "gid",
        "size",
        "env",
    }
)
_GO_BOOL = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})
_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+|[-+]?0")
_DURATION_NS = {"ns": 1, "us": 1e3, "\u00b5s": 1e3, "\u03bcs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_SIGNALS = frozenset(
    {
        "ABRT",
        "ALRM",
        "BUS",
        "CHLD",
        "CLD",
        "CONT",
        "FPE",
        "HUP",
        "ILL",
        "INT",
        "IO",
        "IOT",
        "KILL",
        "PIPE",
        "POLL",
        "PROF",
        "PWR",
        "QUIT",
        "SEGV",
        "STKFLT",
        "STOP",
        "SYS",
        "TERM",
        "TRAP",
        "TSTP",
        "TTIN",
        "TTOU",
        "UNUSED",
        "URG",
        "USR1",
        "USR2",
        "VTALRM",
        "WINCH",
        "XCPU",
        "XFSZ",
        "RTMIN",
        "RTMAX",
        *(f"RTMIN+{i}" for i in range(1, 16)),
        *(f"RTMAX-{i}" for i in range(1, 15)),
    }
)


def validate(doc: Document) -> None:
    """Raise DockerfileError at the first instruction BuildKit would refuse."""
    for ins in doc.instructions:
        _Check(ins).run()


class _Check:
    def __init__(self, ins: Instruction):
        self.ins = ins

    def fail(self, msg: str):
        raise DockerfileError(f"{msg} (BuildKit refuses this)", self.ins.start_line)

    def run(self) -> None:
        ins = self.ins
        self.instruction(ins.keyword, ins.flags, ins.args)
        if ins.keyword == "ONBUILD":
            inner = ins.inner
            if inner is None or not inner.keyword:
                self.fail("ONBUILD requires at least one argument")
            if inner.keyword not in KNOWN_INSTRUCTIONS:
                self.fail(f"unknown instruction {inner.keyword_raw[:40]!r}")
            if inner.keyword in ("FROM", "ONBUILD", "MAINTAINER"):
                self.fail(f"{inner.keyword} isn't allowed as an ONBUILD trigger")
            # the trigger's own flags and arguments are judged when an image is built FROM this one; its JSON
            # is read now
            self.json(inner.keyword, inner.args)

    # -- one instruction -------------------------------------------------------------------------------
    def instruction(self, kw: str, flags, args: str) -> None:
        self.flags(kw, flags)
        self.json(kw, args)
        rest = args.strip(" \t\v\f\r")
        if kw in ("ENV", "LABEL"):
            self.name_value(kw, rest)
        elif kw == "ARG":
            words = _words(rest)
            if not words:
                self.fail("ARG requires at least one argument")
            if any(w.split("=", 1)[0] == "" for w in words):
                self.fail("ARG names can not be blank")
        elif kw == "SHELL":
            js = _json_array(rest)
            if js is None:
                self.fail("SHELL requires the arguments to be in JSON form")
            if not js:
                self.fail("SHELL requires at least one argument")
        elif kw == "FROM":
            self.from_(rest)
        elif kw in ("COPY", "ADD"):
            js = _json_array(rest)
            n = len(js) if js is not None else len(_split(rest))
            if n < 2:
                self.fail(f"{kw} requires at least two arguments")
        elif kw in ("WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER", "EXPOSE", "VOLUME", "ONBUILD") and not rest:
            self.fail(f"{kw} requires at least one argument")
        elif kw == "HEALTHCHECK":
            self.healthcheck(rest)
        if kw == "EXPOSE":
            for w in _split(rest):
                self.port(w)
        elif kw == "STOPSIGNAL" and "$" not in rest and not _is_signal(rest):
            self.fail(f"invalid signal: {rest}")
        elif kw == "VOLUME":
            js = _json_array(rest)
            if js is not None and any(not v.strip() for v in js):
                self.fail("VOLUME specified can not be an empty string")

    def name_value(self, kw: str, rest: str) -> None:
        words = _words(rest)
        if not words:
            self.fail(f"{kw} requires at least one argument")
        if "=" not in words[0]:
            if len(_WS_SPLIT.split(rest, 1)) < 2:
                self.fail(f"{kw} must have two arguments (`{kw} {rest}` has no value)")
            return
        for w in words:
            if "=" not in w:
                self.fail(f"can't find = in {w!r}: must be of the form name=value")
            if w.split("=", 1)[0] == "":
                self.fail(f"{kw} names can not be blank")

    def from_(self, rest: str) -> None:
        words = _split(rest)
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            self.fail("FROM requires either one or three arguments (`FROM image [AS name]`)")
        if len(words) == 3 and not _STAGE_NAME.fullmatch(words[2].lower()):
            self.fail(f"invalid name for build stage: {words[2]!r}, name can't start with a number or contain symbols")

    def healthcheck(self, rest: str) -> None:
        words = _split(rest)
        if not words:
            self.fail("HEALTHCHECK requires at least one argument")
        typ = words[0].upper()
        if typ == "NONE":
            if len(words) > 1:
                self.fail("HEALTHCHECK NONE takes no arguments")
        elif typ == "CMD":
            if len(words) < 2:
                self.fail("missing command after HEALTHCHECK CMD")
            self.json("CMD", rest[3:])
        else:
            self.fail(f"unknown type {words[0]!r} in HEALTHCHECK (try CMD)")
        for f in self.ins.flags:
            name, _, value = f.raw[2:].partition("=")
            if name == "retries":
                if not re.fullmatch(r"[-+]?\d+", value):
                    self.fail(f"--retries={value} is not a number")
                if int(value) < 0:
                    self.fail("--retries cannot be negative")
            elif name in _FLAGS["HEALTHCHECK"]:
                ns = _go_duration(value)
                if ns is None:
                    self.fail(f"--{name}={value} is not a duration")
                if ns != 0 and ns < 1e6:
                    self.fail(f"--{name} cannot be less than 1ms")

    def port(self, w: str) -> None:
        if "$" in w or ":" in w:
            return  # expanded at build time / an ip:host:container form BuildKit reads with nat.ParsePortSpecs
        port, _, proto = w.partition("/")
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", port)
        if not m or any(g is not None and int(g) > 65535 for g in m.groups()):
            self.fail(f"invalid containerPort: {port}")
        if proto and proto.lower() not in ("tcp", "udp", "sctp"):
            self.fail(f"invalid proto: {proto}")

    # -- flags and JSON --------------------------------------------------------------------------------
    def flags(self, kw: str, flags) -> None:
        known = _FLAGS.get(kw, {})
        seen: set[str] = set()
        for f in flags:
            name, eq, value = f.raw[2:].partition("=")
            kind = known.get(name)
            if kind is None:
                self.fail(f"unknown flag: {name}")
            if name in seen and kind != "array":
                self.fail(f"duplicate flag specified: {name}")
            seen.add(name)
            if kind == "bool":
                if eq and value not in _GO_BOOL:
                    self.fail(f"expecting boolean value for flag {name}, not: {value}")
            elif not eq:
                self.fail(f"missing a value on flag: {name}")
            if kw == "RUN" and name == "mount":
                self.mount(value)

    def mount(self, value: str) -> None:
        try:
            fields = next(csv.reader([value]), [])
        except csv.Error:
            self.fail(f"--mount={value} does not parse")
        kv: dict[str, str | None] = {}
        for field in fields:
            key, eq, val = field.partition("=")
            key = key.strip().lower()
            if key not in _MOUNT_KEYS:
                self.fail(f"unexpected key {key!r} in --mount={value}")
            kv[key] = val if eq else None
        typ = (kv.get("type") or "bind").lower()
        if typ not in _MOUNT_TYPES:
            self.fail(f"unsupported mount type {typ!r}")
        target = kv.get("target") or kv.get("dst") or kv.get("destination")
        if typ in ("bind", "cache", "tmpfs") and not target:
            self.fail(f"--mount=type={typ} needs a target")

    def json(self, kw: str, args: str) -> None:
        if kw not in _JSON_KEYWORDS:
            return
        s = args.lstrip()
        if not s.startswith("["):
            return
        val = _go_json(s)
        if isinstance(val, list) and not all(isinstance(v, str) for v in val):
            self.fail("when using JSON array syntax, arrays must be comprised of strings only")


def _split(rest: str) -> list[str]:
    return [w for w in _WS_SPLIT.split(rest) if w]


def _words(rest: str) -> list[str]:
    from .parser import shell_words

    return [w for w, _, _ in shell_words(rest, raw=True)]


def _no_constant(name: str):
    raise ValueError(name)  # NaN/Infinity are not JSON for Go: the instruction is in shell form


def _go_json(s: str):
    """The first JSON value of ``s``, as Go's json.Decoder reads it (trailing text ignored); None if none."""
    try:
        return json.JSONDecoder(parse_constant=_no_constant).raw_decode(s)[0]
    except (ValueError, RecursionError):
        return None


def _json_array(rest: str) -> list | None:
    """The string array of a JSON-form argument (None: shell form)."""
    s = rest.lstrip()
    val = _go_json(s) if s.startswith("[") else None
    return val if isinstance(val, list) else None


def _go_duration(s: str) -> float | None:
    """Nanoseconds of a Go ``time.ParseDuration`` string (None: Go refuses it)."""
    if not _GO_DURATION.fullmatch(s):
        return None
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)", s):
        total += float(num) * _DURATION_NS[unit]
    return -total if s.startswith("-") else total


def _is_signal(s: str) -> bool:
    if re.fullmatch(r"[-+]?\d+", s):
        return int(s) != 0
    up = s.upper()
    return (up[3:] if up.startswith("SIG") else up) in _SIGNALS
