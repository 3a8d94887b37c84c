"""A lossless Dockerfile lexer that follows BuildKit's parser (moby/buildkit frontend/dockerfile/parser).

Mirrored behaviours, each checked against BuildKit itself in tests/test_oracle.py:
- parser directives (``# syntax=``, ``# escape=``, ``# check=``) only at the very top;
- a line is a comment when its first non-blank char is ``#`` -- also inside continuations;
- empty lines inside a continuation are skipped (the instruction goes on);
- a continuation is the escape char, not itself escaped, followed only by spaces/tabs;
- continuation lines are joined with nothing in between;
- heredocs (``<<EOF``, ``<<-EOF``, ``<<"EOF"``) on RUN/COPY/ADD (and ONBUILD of them) when the
  word stands alone (``cat<<EOF`` is not one), bodies read verbatim up to the terminator line.

Why not tree-sitter-dockerfile or dockerfile-parse: instruction boundaries must be BuildKit's.
Measured on the messy cases in tests/test_parser.py, tree-sitter-dockerfile 0.2.0 disagrees with
BuildKit on 6 of 20 (CRLF continuations, ``# escape=``, ``cat<<EOF``, a continuation at EOF,
``CMD ['x']``); dockerfile-parse mishandles heredocs, empty continuation lines and comments
inside continuations. So this module mirrors BuildKit's lexer and is tested against BuildKit
itself; shell inside RUN is left to tree-sitter-bash (shell.py).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from .model import (
    KNOWN_INSTRUCTIONS,
    DockerfileError,
    Document,
    Flag,
    Heredoc,
    Instruction,
    Stage,
    Trivia,
)
from .validate import validate

# The name part of ``^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$``; the value is cut in _directive (the
# lazy ``(.+?)\s*$`` is quadratic on a long run of spaces followed by a non-space).
_DIRECTIVE_RE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=")
_VALID_DIRECTIVES = ("syntax", "escape", "check")
_WS = " \t\v\f\r"
_HEREDOC_RE = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_HEREDOC_KEYWORDS = ("RUN", "COPY", "ADD")
_JSON_KEYWORDS = ("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME")


def _split_lines(text: str) -> list[tuple[int, int, int]]:
    """(line_start, content_end, line_end) per physical line; content excludes CR/LF."""
    out = []
    pos, n = 0, len(text)
    while pos < n:
        nl = text.find("\n", pos)
        if nl < 0:
            ce = n - 1 if text.endswith("\r") else n
            out.append((pos, ce, n))
            break
        ce = nl - 1 if nl > pos and text[nl - 1] == "\r" else nl
        out.append((pos, ce, nl + 1))
        pos = nl + 1
    return out


def _directive(content: str) -> tuple[str, str] | None:
    """(name, value) of a parser directive line, as ``^#\\s*(name)\\s*=\\s*(.+?)\\s*$`` would give them."""
    m = _DIRECTIVE_RE.match(content)
    if m is None:
        return None
    rest = content[m.end() :]
    if not rest:
        return None  # (.+?) needs a character
    value = rest.strip()  # str.strip and \s agree on what whitespace is
    # all whitespace: \s* gives back its last character to (.+?)
    return m.group(1), value or rest[-1]


def _continuation(s: str, esc: str) -> int:
    """Index of the line-continuation escape in ``s``, or -1."""
    j = len(s)
    while j > 0 and s[j - 1] in " \t":
        j -= 1
    if j > 0 and s[j - 1] == esc and (j == 1 or s[j - 2] != esc):
        return j - 1
    return -1


def shell_words(s: str, raw: bool = True) -> list[tuple[str, int, int]]:
    """BuildKit's word splitting (shell lexer without expansion): (word, start, end) in ``s``.

    With ``raw`` the quotes and escapes stay in the word (RawQuotes/RawEscapes).
    """
    return list(_shell_words(s, raw))


@lru_cache(maxsize=8192)  # pure; rules split the same instruction again on every pass
def _shell_words(s: str, raw: bool) -> tuple[tuple[str, int, int], ...]:
    words = []
    i, n = 0, len(s)
    while i < n:
        while i < n and s[i] in _WS + "\n":
            i += 1
        if i >= n:
            break
        start, buf, quote = i, [], None
        while i < n:
            ch = s[i]
            if quote is None and ch in _WS + "\n":
                break
            if quote is None and ch in "'\"":
                quote = ch
                if raw:
                    buf.append(ch)
            elif quote is not None and ch == quote:
                quote = None
                if raw:
                    buf.append(ch)
            elif ch == "\\" and quote != "'" and i + 1 < n:
                if raw:
                    buf.append(ch)
                i += 1
                buf.append(s[i])
            else:
                buf.append(ch)
            i += 1
        words.append(("".join(buf), start, i))
    return tuple(words)


def _extract_flags(rest: str) -> tuple[list[tuple[str, int, int]], int]:
    """BuildKit's extractBuilderFlags: leading ``--flag`` words -> ([(flag, start, end)], args_start)."""
    flags = []
    i, n = 0, len(rest)
    while True:
        while i < n and rest[i].isspace():
            i += 1
        if i >= n:
            return flags, n
        if not rest.startswith("--", i):
            return flags, i
        start, buf, quote = i, [], None
        while i < n:
            ch = rest[i]
            if quote is None:
                if ch.isspace():
                    break
                if ch in "'\"":
                    quote = ch
                elif ch == "\\":
                    if i + 1 < n:
                        i += 1
                        buf.append(rest[i])
                else:
                    buf.append(ch)
            else:
                if ch == quote:
                    quote = None
                elif ch == "\\" and i + 1 < n:
                    i += 1
                    buf.append(rest[i])
                else:
                    buf.append(ch)
            i += 1
        word = "".join(buf)
        if word == "--":
            return flags, i
        flags.append((word, start, i))


def _parse_heredoc_word(word: str) -> Heredoc | None:
    m = _HEREDOC_RE.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    plain = shell_words(rest, raw=False)
    if len(plain) != 1:
        return None
    raw = shell_words(rest, raw=True)
    name = plain[0][0]
    return Heredoc(name=name, chomp=m.group(2) == "-", expand=name == raw[0][0], body_start=-1, body_end=-1, end=-1)


_JSON = json.JSONDecoder()


def _maybe_json(args: str) -> tuple[str, ...] | None:
    """The exec form, read as BuildKit reads it: the *first* JSON value decides, and whatever
    follows it is dropped (``CMD ["echo"] hi`` runs ``echo``; checked against BuildKit's parser)."""
    s = args.lstrip()
    if not s.startswith("["):
        return None
    try:
        val, _ = _JSON.raw_decode(s)
    except ValueError:
        return None
    if isinstance(val, list) and all(isinstance(v, str) for v in val):
        return tuple(val)
    return None


_KEYWORD_RE = re.compile(r"[^\t\v\f\r ]+")


def _build_instruction(logical: str, lmap: list[int]) -> tuple[str, int, tuple[Flag, ...], str, tuple[int, ...]]:
    """Split a logical line into keyword, flags and args (with their file offsets)."""
    lead = len(logical) - len(logical.lstrip(_WS))
    body = logical.rstrip(_WS)
    m = _KEYWORD_RE.match(body, lead)
    kw_raw = m.group(0) if m else ""
    after = lead + len(kw_raw)
    while after < len(body) and body[after] in _WS:
        after += 1
    rest = body[after:]
    raw_flags, args_rel = _extract_flags(rest)
    flags = []
    for word, s, e in raw_flags:
        name, _, value = word[2:].partition("=")
        flags.append(
            Flag(
                name=name.lower(),
                value=value if "=" in word else None,
                raw=word,
                start=lmap[after + s],
                end=lmap[after + e - 1] + 1,
            )
        )
    a0 = after + args_rel
    args = body[a0:]
    amap = tuple(lmap[a0 : a0 + len(args)])
    kw_start = lmap[lead] if lead < len(lmap) else (lmap[-1] if lmap else 0)
    return kw_raw, kw_start, tuple(flags), args, amap


def parse(text: str) -> Document:
    """Parse decoded Dockerfile text (BOM already removed). Raises DockerfileError."""
    lines = _split_lines(text)
    items: list[Instruction | Trivia] = []
    instructions: list[Instruction] = []
    stages: list[Stage] = []
    directives: dict[str, str] = {}
    escape = "\\"
    directives_done = False
    k, n = 0, len(lines)
    while k < n:
        ls, ce, le = lines[k]
        raw = text[ls:ce]
        lead = len(raw) - len(raw.lstrip(_WS))
        content = raw[lead:]
        if not directives_done:
            d = _directive(content)
            key = d[0].lower() if d else None
            if key in _VALID_DIRECTIVES and key not in directives:
                directives[key] = d[1]
                if key == "escape":
                    if d[1] not in ("\\", "`"):
                        raise DockerfileError(f"invalid escape token {d[1]!r}", k + 1)
                    escape = d[1]
                items.append(Trivia("directive", ls, le, ls + lead, ce, k + 1))
                k += 1
                continue
            directives_done = True
        if content.startswith("#") or not content:
            items.append(Trivia("comment" if content else "blank", ls, le, ls + lead, ce, k + 1))
            k += 1
            continue
        # An instruction: gather its physical lines.
        first = k
        pieces: list[tuple[str, int]] = []
        c = _continuation(content, escape)
        pieces.append((content[:c] if c >= 0 else content, ls + lead))
        continues = c >= 0
        last = k
        while continues and k + 1 < n:
            k += 1
            ls2, ce2, _ = lines[k]
            raw2 = text[ls2:ce2]
            stripped = raw2.lstrip(_WS)
            last = k
            if stripped.startswith("#") or not stripped:
                continue
            c = _continuation(raw2, escape)
            pieces.append((raw2[:c] if c >= 0 else raw2, ls2))
            continues = c >= 0
        logical = "".join(p for p, _ in pieces)
        lmap: list[int] = []
        for p, off in pieces:
            lmap.extend(range(off, off + len(p)))
        if not logical.strip(_WS):
            # Only escapes and comments up to the end of the file: nothing for BuildKit to run.
            for j in range(first, last + 1):
                a, b, e = lines[j]
                items.append(Trivia("comment", a, e, a, b, j + 1))
            k += 1
            continue
        kw_raw, kw_start, flags, args, amap = _build_instruction(logical, lmap)
        keyword = kw_raw.upper()
        if keyword not in KNOWN_INSTRUCTIONS:
            shown = kw_raw if len(kw_raw) <= 40 else kw_raw[:40] + "..."
            raise DockerfileError(f"unknown instruction {shown!r}", first + 1)
        inner = None
        if keyword == "ONBUILD":
            ikw, istart, iflags, iargs, iamap = _build_instruction(args, list(amap))
            inner = Instruction(
                index=-1,
                keyword=ikw.upper(),
                keyword_raw=ikw,
                start=istart,
                end=istart,
                line_start=istart,
                line_end=istart,
                start_line=first + 1,
                end_line=first + 1,
                flags=iflags,
                args=iargs,
                args_map=iamap,
                json=_maybe_json(iargs) if ikw.upper() in _JSON_KEYWORDS else None,
            )
        js = _maybe_json(args) if keyword in _JSON_KEYWORDS else None
        heredocs: list[Heredoc] = []
        hd_kw = inner.keyword if inner is not None else keyword
        hd_json = inner.json if inner is not None else js
        end = lines[last][1]
        if hd_kw in _HEREDOC_KEYWORDS and hd_json is None and "<<" in logical:
            for word, _, _ in shell_words(logical, raw=True):
                hd = _parse_heredoc_word(word)
                if hd is None:
                    continue
                body_start = lines[last + 1][0] if last + 1 < n else len(text)
                found = False
                while last + 1 < n:
                    last += 1
                    a, b, _ = lines[last]
                    cand = text[a:b]
                    if hd.chomp:
                        cand = cand.lstrip("\t")
                    if cand == hd.name:
                        found = True
                        break
                if not found:
                    raise DockerfileError(f"unterminated heredoc <<{hd.name}", first + 1)
                a, b, _ = lines[last]
                heredocs.append(Heredoc(hd.name, hd.chomp, hd.expand, body_start, a, b))
                end = b
            k = last
        ins = Instruction(
            index=len(instructions),
            keyword=keyword,
            keyword_raw=kw_raw,
            start=kw_start,
            end=end,
            line_start=ls,
            line_end=lines[last][2],
            start_line=first + 1,
            end_line=last + 1,
            flags=flags,
            args=args,
            args_map=amap,
            heredocs=tuple(heredocs),
            json=js,
            multiline=last > first,
            inner=inner,
        )
        if keyword == "FROM":
            words = args.split()
            if not words:
                raise DockerfileError("FROM needs a base image", first + 1)
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            plat = ins.flag("platform")
            stages.append(Stage(len(stages), ins, words[0], name, plat.value if plat else None))
        elif not stages and keyword != "ARG":
            raise DockerfileError(f"{keyword} before the first FROM (only ARG may come first)", first + 1)
        ins.stage = len(stages) - 1
        if stages:
            stages[-1].instructions.append(ins)
        instructions.append(ins)
        items.append(ins)
        k += 1
    newline = "\r\n" if "\r\n" in text[: (text.find("\n") + 1) or len(text)] else "\n"
    doc = Document(
        text=text,
        items=items,
        instructions=instructions,
        stages=stages,
        directives=directives,
        escape=escape,
        newline=newline,
    )
    validate(doc)  # what BuildKit's instruction parser refuses (the lexing above only splits instructions)
    return doc


def require_stages(doc: Document) -> Document:
    """Reject texts with no build stage: they are not Dockerfiles slimml can work on."""
    if not doc.stages:
        if not doc.instructions:
            raise DockerfileError("no instructions (empty or comment-only file)")
        raise DockerfileError("no FROM instruction")
    return doc
