"""Secret detection and masking. Everything slimml prints goes through ``mask``.

Two signals: the *name* (``HF_TOKEN=...``, ``AWS_SECRET_ACCESS_KEY ...``, ``DB_PASSWORD: ...``) and
the *shape* of the value (``hf_...``, ``sk-...``, ``AKIA...``, ``ghp_...``, private-key blocks,
``https://user:pass@host``). Values that are variable references (``$HF_TOKEN``) are not secrets.
"""

from __future__ import annotations

import re

from .knowledge import secrets as K

MASK = "****"

VALUE_PATTERNS = [rx for rx, _ in K.VALUE_KINDS if rx is not K.URL_CREDENTIALS and "PRIVATE KEY" not in rx.pattern]
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)
_URL_CRED = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"]+:)(?P<pw>[^\s@/'\"]+)(?=@)")
# A value: double-quoted (escapes, maybe unterminated), single-quoted, or bare with backslash escapes.
_VALUE = r"(?P<val>\"(?:[^\"\\\n]|\\.)*\"?|'[^'\n]*'?|(?:[^\s\"'\\]|\\[^\n])+)"
_ASSIGN = re.compile(r"(?P<name>(?<![A-Za-z0-9_$])[A-Za-z_][A-Za-z0-9_]*)=" + _VALUE)
# ENV NAME value...  (legacy form: the value is the rest of the line, minus a continuation)
_LEGACY = re.compile(r"(?im)^(?P<pre>[-+ ]?\s*(?:ENV|ARG)\s+)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sp>[ \t]+)"
                     r"(?P<val>[^=\s][^\n]*?)(?P<tail>[ \t]*\\?[ \t]*)$")
# YAML-ish ``NAME: value`` at the start of a line (compose files, env listings).
_YAML = re.compile(r"(?m)^(?P<pre>[-+ ]?\s*(?:-\s+)?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sep>:[ \t]+)" + _VALUE)
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


def looks_secret_value(value: str) -> bool:
    return any(p.search(value) for p in VALUE_PATTERNS) or bool(_PRIVATE_KEY.search(value)) or bool(
        K.URL_CREDENTIALS.search(value))


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

    def named(m: re.Match) -> str:
        if not is_secret_name(m.group("name")) or _keep(m.group("val")):
            return m.group(0)
        return m.group(0)[: m.start("val") - m.start(0)] + _masked(m.group("val"))

    def legacy(m: re.Match) -> str:
        if not is_secret_name(m.group("name")) or _keep(m.group("val")):
            return m.group(0)
        return f"{m.group('pre')}{m.group('name')}{m.group('sp')}{_masked(m.group('val'))}{m.group('tail')}"

    def option(m: re.Match) -> str:
        return m.group(0) if _keep(m.group("val")) else m.group("pre") + _masked(m.group("val"))

    text = _PRIVATE_KEY.sub("-----BEGIN PRIVATE KEY-----" + MASK, text)
    text = _LEGACY.sub(legacy, text)
    text = _ASSIGN.sub(named, text)
    text = _YAML.sub(named, text)
    text = _OPTION.sub(option, text)
    text = _URL_CRED.sub(lambda m: m.group("pre") + MASK, text)
    for p in VALUE_PATTERNS:
        text = p.sub(lambda m: m.group(0)[: _prefix_len(m.group(0))] + MASK, text)
    return text


def _prefix_len(token: str) -> int:
    for prefix in ("github_pat_", "hf_", "sk-proj-", "sk-ant-", "sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
                   "glpat-", "npm_", "pypi-", "AKIA", "ASIA", "AIza", "xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"):
        if token.startswith(prefix):
            return len(prefix)
    return 0
