"""Secret detection and masking. Everything slimml prints goes through ``mask``.

Two signals: the *name* (``HF_TOKEN=...``, ``AWS_SECRET_ACCESS_KEY ...``, ``DB_PASSWORD: ...``) and
the *shape* of the value (``hf_...``, ``sk-...``, ``AKIA...``, ``ghp_...``, private-key blocks,
``https://user:pass@host``). Values that are variable references (``$HF_TOKEN``) are not secrets.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .knowledge import secrets as K

MASK = "****"

VALUE_PATTERNS = [rx for rx, _ in K.VALUE_KINDS if rx is not K.URL_CREDENTIALS and "PRIVATE KEY" not in rx.pattern]
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)
# A match starts only where a run of scheme characters starts (the leading non-letters of the run go into
# ``pre`` unchanged): started at every letter, the scheme scan made ``sub`` quadratic on long words.
_URL_CRED = re.compile(
    r"(?P<pre>(?<![a-zA-Z0-9+.\-])[0-9+.\-]*[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"]+:)"
    r"(?P<pw>[^\s@/'\"]+)(?=@)"
)
# A value: double-quoted (escapes, maybe unterminated), single-quoted, or bare with backslash escapes.
_VALUE = r"(?P<val>\"(?:[^\"\\\n]|\\.)*\"?|'[^'\n]*'?|(?:[^\s\"'\\]|\\[^\n])+)"
_ASSIGN = re.compile(r"(?P<name>(?<![A-Za-z0-9_$])[A-Za-z_][A-Za-z0-9_]*)=" + _VALUE)
# ENV NAME value...  (legacy form: the value is the rest of the line, minus a continuation)
# (``rest`` is split into value and continuation tail by _split_tail: a lazy value followed by an optional
# tail, ``([^=\s][^\n]*?)([ \t]*\\?[ \t]*)$``, was cubic on long runs of blanks; leading blanks do not
# cross lines, so a run of blank lines is not rescanned from each of its lines.)
_LEGACY = re.compile(
    r"(?im)^(?P<pre>[-+ ]?[^\S\n]*(?:ENV|ARG)\s+)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sp>[ \t]+)"
    r"(?P<rest>[^=\s][^\n]*)$"
)
# YAML-ish ``NAME: value`` at the start of a line (compose files, env listings).
_YAML = re.compile(
    r"(?m)^(?P<pre>[-+ ]?[^\S\n]*(?:-[^\S\n]+)?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sep>:[ \t]+)" + _VALUE
)
_OPTION = re.compile(r"(?P<pre>--(?:password|passwd|token|api-key)(?:=|[ \t]+))" + _VALUE, re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """A variable name that holds a secret, judged word by word (``HF_TOKEN`` yes;
    ``TOKENIZERS_PARALLELISM``, ``MAX_NEW_TOKENS``, ``HF_TOKEN_FILE``, ``GPG_KEY`` no)."""
    up = name.upper()
    if up in K.SECRET_NAMES:
        return True
    if up in K.NOT_SECRET_NAMES:
        return False
    words = [w for w in up.split("_") if w]
    if not words or any(w in K.NOT_SECRET_WORDS for w in words) or words[-1] in K.NOT_SECRET_LAST_WORDS:
        return False
    return words[-1] in K.SECRET_LAST_WORDS or any(s in w for w in words for s in K.SECRET_ANYWHERE)


def required_text(rx: re.Pattern[str]) -> str:
    """Text every match of ``rx`` contains: its longest run of literal characters in the top-level
    sequence (each element of that sequence is part of every match); "" when there is none or
    it cannot be told (case-insensitive, or a regex parser this code does not know). A search of a
    text without it can be skipped: a leading ``\\b`` or class defeats re's own literal scan."""
    try:
        try:
            from re import _parser as sre  # type: ignore[attr-defined]  # Python 3.11+
        except ImportError:  # pragma: no cover - Python 3.10
            import sre_parse as sre

        tree = sre.parse(rx.pattern, rx.flags)
        if tree.state.flags & re.IGNORECASE:
            return ""
        best, run = "", ""
        for op, av in tree:
            if op is sre.LITERAL:
                run += chr(av)
            else:
                best, run = max(best, run, key=len), ""
        return str(max(best, run, key=len))
    except Exception:
        return ""


@lru_cache(maxsize=1)
def _value_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((p, required_text(p)) for p in VALUE_PATTERNS)


@lru_cache(maxsize=1)
def _whole_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return (*_value_patterns(), *((p, required_text(p)) for p in (_PRIVATE_KEY, K.URL_CREDENTIALS)))


def looks_secret_value(value: str) -> bool:
    return any(t in value and p.search(value) for p, t in _whole_patterns())


def _keep(val: str) -> bool:
    """Values that are not secrets even under a secret name: references and switches."""
    bare = val.strip("\"'")
    return bare.startswith("$") or bare.startswith("/run/secrets") or bare.lower() in K.HARMLESS_VALUES


def _masked(val: str) -> str:
    q = val[0] if val[:1] in "\"'" else ""
    return f"{q}{MASK}{q}" if q else MASK


def mask(text: str) -> str:
    """Replace every secret-looking value in ``text`` by ``****`` (keeping names and structure)."""
    if not text:
        return text
    if len(text) <= _MEMO_MAX_LEN:  # finding messages: a run prints the same ones many times
        return _mask_memo(text)
    return _mask(text)


_MEMO_MAX_LEN = 1024


@lru_cache(maxsize=8192)
def _mask_memo(text: str) -> str:
    return _mask(text)


def _mask(text: str) -> str:

    def named(m: re.Match[str]) -> str:
        if not is_secret_name(m.group("name")) or _keep(m.group("val")):
            return m.group(0)
        return m.group(0)[: m.start("val") - m.start(0)] + _masked(m.group("val"))

    def legacy(m: re.Match[str]) -> str:
        val, tail = _split_tail(m.group("rest"))
        if not is_secret_name(m.group("name")) or _keep(val):
            return m.group(0)
        return f"{m.group('pre')}{m.group('name')}{m.group('sp')}{_masked(val)}{tail}"

    def option(m: re.Match[str]) -> str:
        return m.group(0) if _keep(m.group("val")) else m.group("pre") + _masked(m.group("val"))

    text = _PRIVATE_KEY.sub("-----BEGIN PRIVATE KEY-----" + MASK, text)
    text = _LEGACY.sub(legacy, text)
    text = _ASSIGN.sub(named, text)
    text = _YAML.sub(named, text)
    text = _OPTION.sub(option, text)
    text = _URL_CRED.sub(lambda m: m.group("pre") + MASK, text)
    for p, required in _value_patterns():
        if required in text:
            text = p.sub(lambda m: m.group(0)[: _prefix_len(m.group(0))] + MASK, text)
    return text


def _split_tail(rest: str) -> tuple[str, str]:
    """(value, tail) as ``(?P<val>[^=\\s][^\\n]*?)(?P<tail>[ \\t]*\\\\?[ \\t]*)$`` splits a line's rest: the
    tail is the longest run of blanks, one continuation backslash and blanks at the end (never the first char)."""
    j = len(rest)
    while j > 1 and rest[j - 1] in " \t":
        j -= 1
    if j > 1 and rest[j - 1] == "\\":
        j -= 1
        while j > 1 and rest[j - 1] in " \t":
            j -= 1
    return rest[:j], rest[j:]


def _prefix_len(token: str) -> int:
    for prefix in (
        "github_pat_",
        "hf_",
        "sk-proj-",
        "sk-ant-",
        "sk-",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "glpat-",
        "npm_",
        "pypi-",
        "AKIA",
        "ASIA",
        "AIza",
        "xoxb-",
        "xoxa-",
        "xoxp-",
        "xoxr-",
        "xoxs-",
    ):
        if token.startswith(prefix):
            return len(prefix)
    return 0
