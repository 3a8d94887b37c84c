"""Runtime packages of SLM008: each apt install of the runtime stage, with build-only packages swapped for the
libraries they leave needed, and the packages the runtime stage adds."""

from __future__ import annotations

from ...dockerfile import Document, Instruction
from .. import _helpers as H
from .common import NoFix
from .runs import AptInstall, RunInfo


def splice(doc: Document, ins: Instruction, splices: list[tuple[int, int, str]]) -> str:
    """The instruction's lines with ``(start, end, text)`` replacements (file offsets)."""
    base = ins.line_start
    body = doc.text[ins.line_start : ins.line_end]
    for s, e, t in sorted(splices, reverse=True):
        body = body[: s - base] + t + body[e - base :]
    return body


class RuntimePackages:
    """What the runtime stage installs: ``remove`` (build-only packages it drops), ``counterparts`` (what each
    leaves needed), ``seen`` (installed so far), ``emitted`` (packages it installs that the file did not)."""

    def __init__(self, doc: Document, remove: set[str], counterparts: dict[str, tuple[str, ...]], seen: set[str]):
        self.doc, self.remove, self.counterparts, self.seen = doc, remove, counterparts, seen
        self.emitted: list[str] = []

    def add(self, pkgs: list[str]) -> list[str]:
        """Packages of ``pkgs`` not installed yet (now counted as installed and emitted)."""
        new = [p for p in pkgs if p not in self.seen]
        self.seen.update(new)
        self.emitted.extend(new)
        return new

    def decide(self, a: AptInstall) -> list[tuple[int, str | None]]:
        """Per package word of ``a``: (index in a.words, replacement text or None to keep; "" drops it)."""
        out = []
        for idx, name in zip(a.pkg_idx, a.names):
            if name in self.remove:
                repl = [p for p in self.counterparts[name] if p not in self.seen]
                self.seen.update(repl)
                self.emitted.extend(repl)
                out.append((idx, " ".join(repl)))
            else:
                self.seen.add(name)
                out.append((idx, None))
        return out

    def apt_runtime(self, info: RunInfo, extra: list[str]) -> str | None:
        """The apt RUN as the runtime stage runs it (None: it installs nothing left). ``extra`` packages
        are added to its first install."""
        splices: list[tuple[int, int, str]] = []
        empty = 0
        if not info.apt:
            return splice(self.doc, info.ins, [])  # `apt-get update` alone: kept as written
        for a in info.apt:
            dec = self.decide(a)
            if extra and dec:
                extra, add = [], [p for p in extra if p not in self.seen]
                self.seen.update(add)
                self.emitted.extend(add)
                alive = [k for k, (_, r) in enumerate(dec) if r != ""]
                if add and alive:
                    k = alive[-1]
                    idx, r = dec[k]
                    end = a.words[idx].end
                    multiline = "\n" in self.doc.text[a.words[0].start : end]
                    sep = H.continuation_joiner(self.doc, info.ins, end) if multiline else " "
                    if r is None:
                        splices.append((end, end, "".join(sep + p for p in add)))
                    else:
                        dec[k] = (idx, r + "".join(sep + p for p in add))
                elif add:
                    dec[0] = (dec[0][0], " ".join(add))
            if all(r == "" for _, r in dec):
                empty += 1
                continue
            k = 0
            while k < len(dec):
                idx, repl = dec[k]
                if repl is None:
                    k += 1
                    continue
                if repl:
                    w = a.words[idx]
                    splices.append((w.start, w.end, repl))
                    k += 1
                    continue
                # a run of dropped words that are adjacent in the command
                j = k
                while j + 1 < len(dec) and dec[j + 1][1] == "" and dec[j + 1][0] == dec[j][0] + 1:
                    j += 1
                first, last = a.words[dec[k][0]], a.words[dec[j][0]]
                nxt = dec[j][0] + 1
                if nxt < len(a.words):
                    splices.append((first.start, a.words[nxt].start, ""))
                else:
                    splices.append((a.words[dec[k][0] - 1].end, last.end, ""))
                k = j + 1
        if empty:
            if empty == len(info.apt):
                return None
            raise NoFix(f"the apt RUN at line {info.ins.start_line} has an install left with no package")
        return splice(self.doc, info.ins, splices)

    def synthesized(self, info: RunInfo) -> tuple[str, list[str]] | None:
        """(apt prefix, packages) of a runtime apt install for what an install RUN installed that the runtime
        still needs; None when nothing is left."""
        pkgs: list[str] = []
        prefix = None
        for a in info.apt:
            for _, name in zip(a.pkg_idx, a.names):
                cand = self.counterparts[name] if name in self.remove else (name,)
                for p in cand:
                    if p not in self.seen:
                        self.seen.add(p)
                        pkgs.append(p)
                        if name in self.remove:
                            self.emitted.append(p)
                        prefix = prefix or a.prefix
        return (prefix, pkgs) if pkgs else None
