"""Secret detection and masking. Everything slimml prints goes through ``mask``.

Two signals: the *name* (``HF_TOKEN=...``, ``AWS_SECRET_ACCESS_KEY ...``, ``DB_PASSWORD: ...``) and
the *shape* of the value (``hf_...``, ``sk-...``, ``AKIA...``, ``ghp_...``, private-key blocks,
``https://user:pass@host``). Values that are variable references (``$HF_TOKEN``) are not secrets.
"""

from __future__ import annotations

import re

MASK = "****"

# Names that hold secrets: *_TOKEN, *_KEY, *SECRET*, *PASSWORD*, credentials, HF_TOKEN, ...
SECRET_NAME = r"[A-Za-z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|_KEY|APIKEY|API_KEY|CREDENTIALS?|AUTH)[A-Za-z0-9_]*"
_NAME_RE = re.compile(rf"^(?:{SECRET_NAME})$", re.IGNORECASE)
# Names that look secret by the pattern above but are not.
_NOT_SECRET = re.compile(r"^(?:[A-Z0-9_]*_KEY_(?:ID|PATH|FILE|NAME)|.*_(?:FILE|PATH|DIR|URL_ENV)|AUTHOR|.*KEYRING.*|"
                         r"PIP_[A-Z_]*|DEBIAN_FRONTEND|.*_TOKEN_(?:FILE|PATH))$", re.IGNORECASE)

VALUE_PATTERNS = [
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bpypi-[A-Za-z0-9_\-]{40,}"),
]
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)
_URL_CRED = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"]+:)(?P<pw>[^\s@/'\"]+)(?=@)")
# NAME=value / NAME: value / ENV NAME value / --password value
_ASSIGN = re.compile(
    rf"(?P<name>\b{SECRET_NAME})(?P<sep>\s*=\s*|\s*:\s+)(?P<q>[\"']?)(?P<val>[^\s\"'\\]+)",
    re.IGNORECASE,
)
_LEGACY = re.compile(rf"(?im)^(?P<pre>\s*(?:[-+ ]\s*)?(?:ENV|ARG)\s+(?P<name>{SECRET_NAME})\s+)(?P<q>[\"']?)(?P<val>[^\s\"'\\]+)")
_OPTION = re.compile(r"(?P<pre>--(?:password|passwd|token|secret|api-key)(?:=|\s+))(?P<q>[\"']?)(?P<val>[^\s\"'\\]+)",
                     re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return bool(_NAME_RE.match(name)) and not _NOT_SECRET.match(name)


def looks_secret_value(value: str) -> bool:
    return any(p.search(value) for p in VALUE_PATTERNS) or bool(_PRIVATE_KEY.search(value))


def _is_reference(val: str) -> bool:
    return val.startswith("$") or val.startswith("/run/secrets")


def mask(text: str) -> str:
    """Replace every secret-looking value in ``text`` by ``****`` (keeping names and structure)."""
    if not text:
        return text

    def assign(m: re.Match) -> str:
        if not is_secret_name(m.group("name")) or _is_reference(m.group("val")) or not m.group("val"):
            return m.group(0)
        return f"{m.group('name')}{m.group('sep')}{m.group('q')}{MASK}"

    def legacy(m: re.Match) -> str:
        if not is_secret_name(m.group("name")) or _is_reference(m.group("val")):
            return m.group(0)
        return f"{m.group('pre')}{m.group('q')}{MASK}"

    def option(m: re.Match) -> str:
        if _is_reference(m.group("val")):
            return m.group(0)
        return f"{m.group('pre')}{m.group('q')}{MASK}"

    text = _PRIVATE_KEY.sub("-----BEGIN PRIVATE KEY-----" + MASK, text)
    text = _LEGACY.sub(legacy, text)
    text = _ASSIGN.sub(assign, text)
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
