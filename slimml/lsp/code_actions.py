"""Code actions: one quick fix per finding's fix, and "fix all safe" (the engine's fixpoint as one edit).

Side files a fix creates (``.dockerignore``, an init script) travel as ``CreateFile`` resource operations when the
client supports them; otherwise the fix that needs them is not applied half-way: its action is disabled (or left
out) with a note, and fix-all leaves that rule out and says so.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from ..engine import Applicability, Finding, Fix
from ..secrets import mask
from .analysis import Analysis
from .diagnostics import to_diagnostic
from .positions import LineIndex

FIX_ALL_KIND = "source.fixAll.slimml"
FIX_ALL_TITLE = "slimml: fix all safe"
KINDS = [types.CodeActionKind.QuickFix, FIX_ALL_KIND]


@dataclass(frozen=True)
class EditCaps:
    document_changes: bool = False
    create_files: bool = False
    disabled_support: bool = False
    resolve_edit: bool = False  # the client asks for an action's edit when the user picks it (codeAction/resolve)

    @staticmethod
    def of(caps: types.ClientCapabilities) -> EditCaps:
        we = caps.workspace.workspace_edit if caps.workspace else None
        ca = caps.text_document.code_action if caps.text_document else None
        return EditCaps(
            document_changes=bool(we and we.document_changes),
            create_files=bool(
                we
                and we.document_changes
                and we.resource_operations
                and types.ResourceOperationKind.Create in we.resource_operations
            ),
            disabled_support=bool(ca and ca.disabled_support),
            resolve_edit=bool(
                ca and ca.data_support and ca.resolve_support and "edit" in ca.resolve_support.properties
            ),
        )


def _lines(index: LineIndex) -> list[str]:
    t = index.text
    return [t[s:e] for s, e in zip(index.starts, index.starts[1:] + [len(t)])]


def text_edits(before: str, after: str, encoding: str) -> list[types.TextEdit]:
    """Line-level edits turning ``before`` into ``after`` (lines split the way LSP splits them)."""
    a_index, b_index = LineIndex(before, encoding), LineIndex(after, encoding)
    a, b = _lines(a_index), _lines(b_index)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        start = types.Position(i1, 0)
        end = types.Position(i2, 0) if i2 < len(a) else a_index.end()
        out.append(types.TextEdit(types.Range(start, end), "".join(b[j1:j2])))
    return out


def _uri(path: str) -> str:
    return Path(path).as_uri()


def workspace_edit(
    uri: str,
    version: int | None,
    before: str,
    after: str,
    side: dict[str, tuple[str | None, str]],
    caps: EditCaps,
    encoding: str,
) -> tuple[types.WorkspaceEdit | None, list[str]]:
    """(edit, side files it cannot carry). No edit when a needed file cannot be created."""
    missing = [p for p, (b, a) in side.items() if b is None and not caps.create_files]
    if missing or any(not os.path.isabs(p) for p in side):
        return None, sorted(missing or side)
    main = text_edits(before, after, encoding) if before != after else []
    if not caps.document_changes:
        changes = {uri: main} if main else {}
        for p, (b, a) in side.items():
            if b != a:
                changes[_uri(p)] = text_edits(b or "", a, encoding)
        return types.WorkspaceEdit(changes=changes), []
    ops: list[types.TextDocumentEdit | types.CreateFile] = []
    if main:
        ops.append(types.TextDocumentEdit(types.OptionalVersionedTextDocumentIdentifier(uri, version), main))
    for p, (b, a) in sorted(side.items()):
        if b == a:
            continue
        if b is None:
            ops.append(
                types.CreateFile(uri=_uri(p), options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False))
            )
        ops.append(
            types.TextDocumentEdit(
                types.OptionalVersionedTextDocumentIdentifier(_uri(p), None), text_edits(b or "", a, encoding)
            )
        )
    return types.WorkspaceEdit(document_changes=ops), []


def _wanted(kind: str, only: list[str] | None) -> bool:
    return not only or any(kind == o or kind.startswith(o + ".") for o in only)


def _title(f: Finding, fix: Fix) -> str:
    what = mask(fix.description or f.message)
    if fix.applicability is Applicability.UNSAFE:
        return f"(unsafe) {f.code}: {what} -- {mask(fix.reason)}"
    return f"{f.code}: {what}"


def _cannot_create(names: list[str]) -> str:
    shown = ", ".join(os.path.basename(n) for n in names)
    return f"needs {shown} created, which this editor cannot do: run `slimml fix --write`"


def quick_fixes(
    a: Analysis, uri: str, start: int, end: int, caps: EditCaps, encoding: str, docs_url: str | None
) -> list[types.CodeAction]:
    index = LineIndex(a.text, encoding)
    out = []
    for f in a.findings:
        if f.fix is None or f.start > end or f.end < start:
            continue
        applied = a.apply_one(f)
        if applied is None:  # the engine would revert this fix alone: never offer it
            continue
        new_text, side = applied
        edit, omitted = workspace_edit(uri, a.version, a.text, new_text, side, caps, encoding)
        safe = f.fix.applicability is Applicability.SAFE
        action = types.CodeAction(
            title=_title(f, f.fix),
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[to_diagnostic(f, index, docs_url)],
            is_preferred=safe,
            edit=edit,
        )
        if edit is None:
            if not caps.disabled_support:
                continue
            action.disabled = types.CodeActionDisabled(reason=_cannot_create(omitted))
        out.append(action)
    return out


def fix_all(a: Analysis, uri: str, caps: EditCaps, encoding: str) -> types.CodeAction | None:
    """The safe fixpoint as one edit. When it would create a file the client cannot create, the rules behind
    those files are left out (so nothing refers to a file that is not there) and the title says so."""
    skip: tuple[str, ...] = ()
    for _ in range(4):
        r = a.fix_all(skip)
        edit, omitted = workspace_edit(uri, a.version, a.text, r.output, r.side_files, caps, encoding)
        if edit is not None:
            break
        ctx = a.context()
        creators = {
            f.code
            for f in r.applied
            for e in (f.fix.edits if f.fix else ())
            if e.path is not None and ctx.side_key(e.path) in omitted
        }
        if not creators:
            return None
        skip = tuple(sorted(set(skip) | creators))
    else:
        return None
    if not r.changed:
        return None
    title = FIX_ALL_TITLE
    if skip:
        title += f" (without {', '.join(skip)}: this editor cannot create files; `slimml fix --write` can)"
    return types.CodeAction(title=title, kind=FIX_ALL_KIND, edit=edit)


def code_actions(
    a: Analysis,
    uri: str,
    start: int,
    end: int,
    only: list[str] | None,
    caps: EditCaps,
    encoding: str,
    docs_url: str | None,
) -> list[types.CodeAction]:
    if a.error or a.doc is None:
        return []
    out: list[types.CodeAction] = []
    if _wanted(types.CodeActionKind.QuickFix, only):
        out += quick_fixes(a, uri, start, end, caps, encoding, docs_url)
    if _wanted(FIX_ALL_KIND, only):
        if caps.resolve_edit and caps.create_files:
            # The fixpoint is computed when the user picks the action, not at every cursor move: it is offered
            # when a safe fix exists (its title needs no fixpoint: every side file can be created).
            if any(f.fix is not None and f.fix.applicability is Applicability.SAFE for f in a.findings):
                out.append(
                    types.CodeAction(title=FIX_ALL_TITLE, kind=FIX_ALL_KIND, data={"uri": uri, "version": a.version})
                )
        else:
            action = fix_all(a, uri, caps, encoding)
            if action is not None:
                out.append(action)
    return out


def resolve_fix_all(action: types.CodeAction, a: Analysis, uri: str, caps: EditCaps, encoding: str) -> types.CodeAction:
    """The edit of a lazily offered fix-all; none when the buffer changed since it was offered."""
    if a.version != (action.data or {}).get("version") or a.error or a.doc is None:
        return action
    full = fix_all(a, uri, caps, encoding)
    action.edit = full.edit if full is not None else types.WorkspaceEdit(changes={})
    return action
