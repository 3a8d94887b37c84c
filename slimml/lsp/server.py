"""The language server: document sync, scheduling, and the LSP handlers (the work is in the sibling modules).

Analyses run on one worker thread (the shell parser is shared and not thread-safe) and publish only when the text
they saw is still the buffer's latest version: a burst of edits is debounced, and an analysis overtaken by a newer
edit is dropped instead of flashing stale diagnostics.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import __version__
from ..discovery import is_dockerfile_name
from .analysis import Analysis, analyse
from .code_actions import FIX_ALL_KIND, KINDS, EditCaps, code_actions, resolve_fix_all
from .diagnostics import diagnostics
from .hover import hover
from .positions import LineIndex
from .workspace_config import WATCHED_GLOBS, ClientSettings, parse_settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Buffer:
    uri: str
    path: Path | None
    text: str
    version: int | None
    analysis: Analysis | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class SlimmlServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("slimml", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.buffers: dict[str, Buffer] = {}
        self.settings = ClientSettings()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slimml-analysis")
        self.shown: set[str] = set()  # error messages already shown (once each, not per keystroke)

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def encoding(self) -> str:
        return self.server_capabilities.position_encoding or types.PositionEncodingKind.Utf16

    def show_once(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        if message not in self.shown:
            self.shown.add(message)
            self.window_show_message(types.ShowMessageParams(type=kind, message=f"slimml: {message}"))

    def apply_settings(self, data: Any) -> None:
        self.settings, errors = parse_settings(data)
        for e in errors:
            self.show_once(e)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn, *args)

    def schedule(self, buf: Buffer, delay: float = 0.0) -> None:
        if buf.task is not None:
            buf.task.cancel()
        buf.task = asyncio.get_running_loop().create_task(self._diagnose(buf, delay))

    def reschedule_all(self) -> None:
        for buf in self.buffers.values():
            buf.analysis = None
            self.schedule(buf)

    async def _diagnose(self, buf: Buffer, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        a = await self.analysis(buf)
        if a is None:
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=buf.uri, version=buf.version, diagnostics=diagnostics(a, self.encoding, self.settings.docs_url)
            )
        )
        if a.config_error and a.error:
            self.show_once(a.error)

    async def analysis(self, buf: Buffer) -> Analysis | None:
        """The analysis of the buffer's current text; None when the buffer changed (or closed) meanwhile."""
        a = buf.analysis
        if a is not None and a.version == buf.version and a.text == buf.text:
            return a
        text, version, settings = buf.text, buf.version, self.settings
        try:
            a = await self.run(analyse, buf.path, text, version, settings)
        except Exception as e:  # a slimml defect: say so on the file, keep serving the others
            log.exception("analysis of %s failed", buf.uri)
            a = Analysis(
                text=text, version=version, error=f"internal error ({type(e).__name__}: {e}); please report it"
            )
        if self.buffers.get(buf.uri) is not buf or buf.text != text or self.settings is not settings:
            return None
        buf.analysis = a
        return a


def _is_dockerfile(uri: str, language_id: str | None) -> bool:
    if language_id and language_id.lower() == "dockerfile":
        return True
    name = uri.rsplit("/", 1)[-1].split("?", 1)[0]
    return is_dockerfile_name(unquote(name))


def _path(uri: str) -> Path | None:
    if not uri.startswith("file:"):
        return None
    p = to_fs_path(uri)
    return Path(p) if p else None


def build() -> SlimmlServer:
    ls = SlimmlServer()

    @ls.feature(types.INITIALIZE)
    def initialize(ls: SlimmlServer, params: types.InitializeParams) -> None:
        ls.apply_settings(params.initialization_options)

    @ls.feature(types.INITIALIZED)
    async def initialized(ls: SlimmlServer, params: types.InitializedParams) -> None:
        caps = ls.client_capabilities.workspace
        if caps and caps.did_change_watched_files and caps.did_change_watched_files.dynamic_registration:
            try:
                await ls.client_register_capability_async(
                    types.RegistrationParams(
                        registrations=[
                            types.Registration(
                                id="slimml-config-watch",
                                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                                    watchers=[types.FileSystemWatcher(glob_pattern=g) for g in WATCHED_GLOBS]
                                ),
                            )
                        ]
                    )
                )
            except Exception as e:  # config changes then apply on the next edit or save
                log.warning("cannot watch config files: %s", e)
        await _pull_configuration(ls)

    async def _pull_configuration(ls: SlimmlServer) -> bool:
        caps = ls.client_capabilities.workspace
        if not (caps and caps.configuration):
            return False
        try:
            result = await ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="slimml")])
            )
        except Exception as e:  # a client that advertises but fails the request keeps the current settings
            log.warning("workspace/configuration failed: %s", e)
            return False
        if result and isinstance(result[0], dict) and result[0]:
            ls.apply_settings(result[0])
            return True
        return False

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SlimmlServer, params: types.DidOpenTextDocumentParams) -> None:
        d = params.text_document
        if not _is_dockerfile(d.uri, d.language_id):
            return
        buf = ls.buffers[d.uri] = Buffer(d.uri, _path(d.uri), d.text, d.version)
        ls.schedule(buf)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SlimmlServer, params: types.DidChangeTextDocumentParams) -> None:
        buf = ls.buffers.get(params.text_document.uri)
        if buf is None:
            return
        text = buf.text
        for change in params.content_changes:
            # Applied here, with LSP's own line breaks (\n, \r\n, \r only), not str.splitlines' wider set.
            if isinstance(change, types.TextDocumentContentChangePartial):
                index = LineIndex(text, ls.encoding)
                start, end = index.offset(change.range.start), index.offset(change.range.end)
                text = text[:start] + change.text + text[end:]
            else:
                text = change.text
        buf.text, buf.version = text, params.text_document.version
        ls.schedule(buf, ls.settings.debounce_ms / 1000)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: SlimmlServer, params: types.DidSaveTextDocumentParams) -> None:
        buf = ls.buffers.get(params.text_document.uri)
        if buf is not None:
            buf.analysis = None  # the context on disk may have changed with the save
            ls.schedule(buf)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SlimmlServer, params: types.DidCloseTextDocumentParams) -> None:
        buf = ls.buffers.pop(params.text_document.uri, None)
        if buf is None:
            return
        if buf.task is not None:
            buf.task.cancel()
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=buf.uri, diagnostics=[]))

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: SlimmlServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.shown.clear()  # a fixed (or newly broken) config is reported afresh
        ls.reschedule_all()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: SlimmlServer, params: types.DidChangeConfigurationParams) -> None:
        ls.shown.clear()
        settings = params.settings
        if isinstance(settings, dict) and settings:
            ls.apply_settings(settings)
        elif not await _pull_configuration(ls):
            ls.apply_settings(None)
        ls.reschedule_all()

    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True)
    )
    async def code_action(ls: SlimmlServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        buf = ls.buffers.get(params.text_document.uri)
        if buf is None:
            return None
        a = await ls.analysis(buf)
        if a is None:
            return None
        index = LineIndex(a.text, ls.encoding)
        start, end = index.offset(params.range.start), index.offset(params.range.end)
        caps = EditCaps.of(ls.client_capabilities)
        return await ls.run(
            code_actions, a, buf.uri, start, end, params.context.only, caps, ls.encoding, ls.settings.docs_url
        )

    @ls.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(ls: SlimmlServer, action: types.CodeAction) -> types.CodeAction:
        uri = (action.data or {}).get("uri") if isinstance(action.data, dict) else None
        buf = ls.buffers.get(uri) if isinstance(uri, str) else None
        if buf is None or action.kind != FIX_ALL_KIND:
            return action
        a = await ls.analysis(buf)
        if a is None:
            return action
        caps = EditCaps.of(ls.client_capabilities)
        return await ls.run(resolve_fix_all, action, a, buf.uri, caps, ls.encoding)

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: SlimmlServer, params: types.HoverParams) -> types.Hover | None:
        buf = ls.buffers.get(params.text_document.uri)
        if buf is None:
            return None
        a = await ls.analysis(buf)
        return None if a is None else hover(a, params.position, ls.encoding)

    @ls.feature(types.SHUTDOWN)
    def shutdown(ls: SlimmlServer, params: None) -> None:
        for buf in ls.buffers.values():
            if buf.task is not None:
                buf.task.cancel()
        ls.worker.shutdown(wait=False, cancel_futures=True)

    return ls


def serve() -> None:
    logging.basicConfig(level=os.environ.get("SLIMML_LSP_LOG", "WARNING").upper(), format="slimml-lsp: %(message)s")
    build().start_io()
