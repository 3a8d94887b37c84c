"""`slimml server` end to end: a real LSP client (pytest-lsp) drives the server process over stdio.

Expected ranges are written out by hand (LSP lines, UTF-16 columns); edits the server sends are applied here with a
small independent implementation and compared with what the `slimml fix` CLI writes for the same project.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

SLIMML = str(Path(sys.executable).parent / "slimml")

# CRLF, lowercase instructions, a continuation with a comment in it, non-ASCII before findings (an emoji is two
# UTF-16 units on the line where SLM001 starts).
MESSY = (
    "from python:3.11-slim\r\n"
    "# Übersicht — 日本語 😀\r\n"
    "run apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\r\n"
    "workdir /app\r\n"
    'run echo "😀 ünï" && pip install flask==3.0.0 \\\r\n'
    "    # the web framework 🚀\r\n"
    "    gunicorn==22.0.0\r\n"
    "copy app.py /app/app.py\r\n"
    'cmd ["python", "/app/app.py"]\r\n'
)
# (code, start line, start UTF-16 column, end line, end column), LSP's 0-based positions.
EXPECTED = [
    ("SLM005", 0, 0, 0, 21),
    ("SLM006", 0, 0, 0, 21),
    ("SLM002", 2, 22, 2, 45),
    ("SLM001", 4, 21, 6, 20),
]


def _recording_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every publishDiagnostics (to see which versions were published)."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)  # type: ignore[attr-defined]

    client.registrations = []  # type: ignore[attr-defined]

    def register(client: LanguageClient, params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    register_lsp_features(
        client,
        {
            **DEFAULT_CLIENT_FEATURES,
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish,
            types.CLIENT_REGISTER_CAPABILITY: register,
        },
    )
    return client


CONFIG = ClientServerConfig(server_command=[SLIMML, "server"], client_factory=_recording_client)


def _caps(create_files: bool | str = True) -> types.ClientCapabilities:
    """VS Code's capabilities; ``create_files`` False: without file creation; "changes": a plain client (edits as
    a ``changes`` map, no documentChanges, no disabled code actions)."""
    caps = pytest_lsp.client_capabilities("visual-studio-code")
    if create_files is False:
        caps.workspace.workspace_edit.resource_operations = []
    elif create_files == "changes":
        caps.workspace.workspace_edit.document_changes = False
        caps.workspace.workspace_edit.resource_operations = []
        caps.text_document.code_action.disabled_support = False
    return caps


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def _start(client: LanguageClient, root: Path, create_files: bool | str = True, options=None) -> None:
    await client.initialize_session(
        types.InitializeParams(
            capabilities=_caps(create_files),
            root_uri=root.as_uri(),
            initialization_options=options,
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="proj")],
        )
    )


def _project(tmp_path: Path, text: str = MESSY) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()  # the repository root: the context search stops here
    (root / "Dockerfile").write_bytes(text.encode("utf-8"))
    (root / "app.py").write_text("print('hi')\n")
    return root


async def _published(
    client: LanguageClient, uri: str, after: int = 0, version: int | None = None, timeout: float = 20.0
) -> types.PublishDiagnosticsParams:
    """The first publish for ``uri`` past the first ``after`` ones (and with ``version``, when given)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        hits = [p for p in client.published if p.uri == uri]
        for p in hits[after:]:
            if version is None or p.version == version:
                return p
        await asyncio.sleep(0.01)
    raise AssertionError(f"no diagnostics published for {uri} (version {version})")


def _count(client: LanguageClient, uri: str) -> int:
    return sum(1 for p in client.published if p.uri == uri)


def _open(client: LanguageClient, path: Path, text: str, language: str = "dockerfile", version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )
    return uri


async def _messy_session(client: LanguageClient, tmp_path: Path, **start) -> tuple[Path, str, list]:
    """The messy project, a session started (``start``: _start's options), MESSY opened: (root, uri, diagnostics)."""
    root = _project(tmp_path)
    await _start(client, root, **start)
    uri = _open(client, root / "Dockerfile", MESSY)
    params = await _published(client, uri, version=1)
    return root, uri, list(params.diagnostics)


def _shape(diags) -> list[tuple]:
    return sorted(
        (d.code, d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character) for d in diags
    )


# -- applying LSP edits, independently of the server's own position code --------------------------------------------
def _offset(text: str, pos: types.Position) -> int:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    i = starts[pos.line]
    units = 0
    while units < pos.character:
        units += 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    return i


def _apply(text: str, edits) -> str:
    spans = sorted(
        ((_offset(text, e.range.start), _offset(text, e.range.end), e.new_text) for e in edits), reverse=True
    )
    for s, e, new in spans:
        text = text[:s] + new + text[e:]
    return text


def _apply_workspace_edit(edit: types.WorkspaceEdit, files: dict[str, str]) -> dict[str, str]:
    """{uri: text} after the edit. Creating an existing file (overwrite false) is the client's error."""
    files = dict(files)
    if edit.document_changes is not None:
        for op in edit.document_changes:
            if isinstance(op, types.CreateFile):
                assert op.uri not in files, f"CreateFile of an existing file {op.uri}"
                files[op.uri] = ""
            else:
                assert isinstance(op, types.TextDocumentEdit)
                files[op.text_document.uri] = _apply(files[op.text_document.uri], op.edits)
    for uri, edits in (edit.changes or {}).items():
        files[uri] = _apply(files[uri], edits)
    return files


def _cli_fix(root: Path, tmp_path: Path, *args: str) -> dict[str, str]:
    """What `slimml fix --write ARGS` makes of a copy of the project: {relative path: text}."""
    copy = tmp_path / f"cli{len(list(tmp_path.iterdir()))}"
    shutil.copytree(root, copy)
    proc = subprocess.run([SLIMML, "fix", "--write", *args, "Dockerfile"], cwd=copy, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return {
        p.relative_to(copy).as_posix(): p.read_bytes().decode("utf-8")
        for p in copy.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }


def _as_relative(files: dict[str, str], root: Path) -> dict[str, str]:
    out = {}
    for uri, text in files.items():
        rel = Path(uri.removeprefix("file://")).relative_to(root).as_posix()
        out[rel] = text
    return out


def _disk(root: Path) -> dict[str, str]:
    return {
        p.as_uri(): p.read_bytes().decode("utf-8") for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
    }


async def _actions(client: LanguageClient, uri: str, rng: types.Range, only=None) -> list[types.CodeAction]:
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=rng,
            context=types.CodeActionContext(diagnostics=[], only=only),
        )
    )


def _range(line: int, char: int, end_line: int | None = None, end_char: int | None = None) -> types.Range:
    return types.Range(
        types.Position(line, char),
        types.Position(line if end_line is None else end_line, char if end_char is None else end_char),
    )


# -- tests -----------------------------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_diagnostics_ranges_codes_and_links(client: LanguageClient, tmp_path: Path):
    _, _, diagnostics = await _messy_session(client, tmp_path)
    # SLM002 twice would mean the apt lists finding; the file already removes them, so only the unsafe one.
    assert _shape(diagnostics) == sorted(EXPECTED)
    for d in diagnostics:
        assert d.source == "slimml"
        assert d.severity == types.DiagnosticSeverity.Warning
        assert d.code_description is not None and d.code_description.href.endswith(f"/docs/rules/{d.code}.md")
        assert Path(d.code_description.href.removeprefix("file://")).is_file()
    slm002 = next(d for d in diagnostics if d.code == "SLM002")
    assert "--no-install-recommends" in slm002.message and "unsafe fix available" in slm002.message


@pytest.mark.asyncio
async def test_edit_updates_diagnostics_latest_version_only(client: LanguageClient, tmp_path: Path):
    root, uri, _ = await _messy_session(client, tmp_path, options={"slimml": {"debounceMs": 300}})
    seen = _count(client, uri)
    ident = types.VersionedTextDocumentIdentifier(uri=uri, version=2)
    # v2: `--no-cache-dir ` before `flask` (line 4, UTF-16 column 33: the emoji counts twice).
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            ident, [types.TextDocumentContentChangePartial(range=_range(4, 33), text="--no-cache-dir ")]
        )
    )
    # v3, at once: a comment line above everything moves every finding one line down.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=3),
            [types.TextDocumentContentChangePartial(range=_range(1, 0), text="# ça va\r\n")],
        )
    )
    params = await _published(client, uri, after=seen)
    assert params.version == 3, "a superseded version was diagnosed and published"
    # FROM stays on line 0; what follows the inserted line moves down by one.
    expected = [(c, sl + (sl > 0), sc, el + (el > 0), ec) for c, sl, sc, el, ec in EXPECTED if c != "SLM001"]
    assert _shape(params.diagnostics) == sorted(expected)
    await asyncio.sleep(0.5)
    assert [p.version for p in client.published if p.uri == uri][seen:] == [3]


@pytest.mark.asyncio
async def test_quick_fixes_equal_the_cli(client: LanguageClient, tmp_path: Path):
    root, uri, _ = await _messy_session(client, tmp_path)
    disk = _disk(root)

    # Safe: SLM001 at its own range, preferred, equal to `slimml fix --select SLM001`.
    actions = await _actions(client, uri, _range(5, 2), only=[types.CodeActionKind.QuickFix])
    (pip,) = [a for a in actions if a.diagnostics and a.diagnostics[0].code == "SLM001"]
    assert pip.kind == types.CodeActionKind.QuickFix and pip.is_preferred and "--no-cache-dir" in pip.title
    after = _as_relative(_apply_workspace_edit(pip.edit, disk), root)
    assert after == _cli_fix(root, tmp_path, "--select", "SLM001")

    # Unsafe: titled as such with the reason, not preferred, equal to `--unsafe-fixes --select SLM002`.
    actions = await _actions(client, uri, _range(2, 30))
    (apt,) = [a for a in actions if a.diagnostics and a.diagnostics[0].code == "SLM002"]
    assert apt.title.startswith("(unsafe) SLM002") and "recommended packages" in apt.title
    assert not apt.is_preferred
    after = _as_relative(_apply_workspace_edit(apt.edit, disk), root)
    assert after == _cli_fix(root, tmp_path, "--select", "SLM002", "--unsafe-fixes")

    # A side file: SLM006 creates .dockerignore with a CreateFile operation.
    actions = await _actions(client, uri, _range(0, 3), only=[types.CodeActionKind.QuickFix])
    (ign,) = [a for a in actions if a.diagnostics[0].code == "SLM006"]
    assert any(
        isinstance(op, types.CreateFile) and op.uri.endswith("/.dockerignore") for op in ign.edit.document_changes
    )
    after = _as_relative(_apply_workspace_edit(ign.edit, disk), root)
    assert after == _cli_fix(root, tmp_path, "--select", "SLM006")
    assert ".git\n" in after[".dockerignore"]


@pytest.mark.asyncio
async def test_fix_all_equals_fix_write(client: LanguageClient, tmp_path: Path):
    root, uri, _ = await _messy_session(client, tmp_path)
    actions = await _actions(client, uri, _range(0, 0), only=[types.CodeActionKind.SourceFixAll])
    (fix_all,) = actions
    assert fix_all.kind == "source.fixAll.slimml" and fix_all.title == "slimml: fix all safe"
    # This client resolves an action's edit when it is picked: the fixpoint is not computed before.
    assert fix_all.edit is None
    fix_all = await client.code_action_resolve_async(fix_all)
    after = _as_relative(_apply_workspace_edit(fix_all.edit, _disk(root)), root)
    expected = _cli_fix(root, tmp_path)
    assert after == expected
    assert "--no-install-recommends" not in after["Dockerfile"]  # safe only
    assert after["Dockerfile"] != MESSY and "\r\n" in after["Dockerfile"]

    # Resolved after the buffer changed: no edit (it would apply to text that is gone); the client asks again.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=_range(3, 0), text="# moved\r\n")],
        )
    )
    (stale,) = await _actions(client, uri, _range(0, 0), only=[types.CodeActionKind.SourceFixAll])
    stale.data = {**stale.data, "version": 1}
    assert (await client.code_action_resolve_async(stale)).edit is None


@pytest.mark.asyncio
@pytest.mark.parametrize("caps", [False, "changes"])
async def test_without_file_creation_side_files_are_left_out_with_a_note(client: LanguageClient, tmp_path: Path, caps):
    root, uri, _ = await _messy_session(client, tmp_path, create_files=caps)
    actions = await _actions(client, uri, _range(0, 3))
    ign = [a for a in actions if a.diagnostics and a.diagnostics[0].code == "SLM006"]
    if caps is False:  # shown, disabled, with the reason
        assert ign[0].edit is None and ".dockerignore" in ign[0].disabled.reason
    else:  # a client that cannot show a disabled action is not offered one it cannot apply
        assert ign == []
    (fix_all,) = [a for a in actions if a.kind == "source.fixAll.slimml"]
    assert "without SLM006" in fix_all.title
    assert (fix_all.edit.document_changes is None) == (caps == "changes")
    after = _as_relative(_apply_workspace_edit(fix_all.edit, _disk(root)), root)
    assert after == _cli_fix(root, tmp_path, "--ignore", "SLM006")


@pytest.mark.asyncio
async def test_hover_shows_the_rule_docs(client: LanguageClient, tmp_path: Path):
    root, uri, _ = await _messy_session(client, tmp_path)
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri), position=types.Position(5, 6))
    )
    rules = subprocess.run([SLIMML, "rules", "SLM001"], capture_output=True, text=True, check=True).stdout
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value.strip() == rules.strip()
    assert (hover.range.start.line, hover.range.start.character) == (4, 21)
    nothing = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri), position=types.Position(3, 2))
    )
    assert nothing is None


@pytest.mark.asyncio
async def test_config_change_reloads(client: LanguageClient, tmp_path: Path):
    root, uri, _ = await _messy_session(client, tmp_path)
    seen = _count(client, uri)
    (reg,) = client.registrations
    assert reg.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    assert {w["globPattern"] for w in reg.register_options["watchers"]} >= {"**/.slimml.toml", "**/pyproject.toml"}
    cfg = root / ".slimml.toml"
    cfg.write_text('ignore = ["SLM005", "apt-hygiene"]\n')
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams([types.FileEvent(uri=cfg.as_uri(), type=types.FileChangeType.Created)])
    )
    params = await _published(client, uri, after=seen)
    assert sorted(d.code for d in params.diagnostics) == ["SLM001", "SLM006"]

    # The editor's own settings narrow further.
    seen = _count(client, uri)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"slimml": {"ignore": ["SLM006"]}})
    )
    params = await _published(client, uri, after=seen)
    assert [d.code for d in params.diagnostics] == ["SLM001"]


@pytest.mark.asyncio
async def test_bad_config_is_reported_not_fatal(client: LanguageClient, tmp_path: Path):
    root = _project(tmp_path)
    cfg = root / ".slimml.toml"
    cfg.write_text("ignore = [\n")  # invalid TOML
    await _start(client, root)
    uri = _open(client, root / "Dockerfile", MESSY)
    params = await _published(client, uri, version=1)
    (d,) = params.diagnostics
    assert d.severity == types.DiagnosticSeverity.Error and ".slimml.toml" in d.message and "TOML" in d.message
    for _ in range(200):
        if client.messages:
            break
        await asyncio.sleep(0.01)
    assert any(m.type == types.MessageType.Error and ".slimml.toml" in m.message for m in client.messages)

    seen = _count(client, uri)
    cfg.write_text("ignore = 3\n")  # valid TOML, wrong type
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams([types.FileEvent(uri=cfg.as_uri(), type=types.FileChangeType.Changed)])
    )
    params = await _published(client, uri, after=seen)
    assert "must be a list" in params.diagnostics[0].message

    seen = _count(client, uri)
    cfg.write_text('ignore = ["SLM006"]\n')  # fixed: the server is still there and checks again
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams([types.FileEvent(uri=cfg.as_uri(), type=types.FileChangeType.Changed)])
    )
    params = await _published(client, uri, after=seen)
    assert sorted(d.code for d in params.diagnostics) == ["SLM001", "SLM002", "SLM005"]


@pytest.mark.asyncio
async def test_bad_editor_settings_are_reported(client: LanguageClient, tmp_path: Path):
    _, _, diagnostics = await _messy_session(client, tmp_path, options={"slimml": {"ignore": ["SLM999"]}})
    assert len(diagnostics) == len(EXPECTED)  # the bad code is dropped, the rest applies
    assert any("SLM999" in m.message for m in client.messages)


@pytest.mark.asyncio
async def test_only_dockerfiles_are_diagnosed(client: LanguageClient, tmp_path: Path):
    root = _project(tmp_path)
    (root / "notes.md").write_text("FROM python:3.11\nRUN pip install x==1.0\n")
    (root / "gpu.Dockerfile").write_text("FROM python:3.11-slim\nRUN pip install flask==3.0.0\n")
    await _start(client, root)
    md = _open(client, root / "notes.md", "FROM python:3.11\nRUN pip install x==1.0\n", language="markdown")
    py = _open(client, root / "app.py", "print('hi')\n", language="python")
    # A Dockerfile by name even when the editor calls it plain text.
    gpu = _open(
        client, root / "gpu.Dockerfile", "FROM python:3.11-slim\nRUN pip install flask==3.0.0\n", language="plaintext"
    )
    params = await _published(client, gpu, version=1)
    assert "SLM001" in [d.code for d in params.diagnostics]
    await asyncio.sleep(0.3)
    assert _count(client, md) == 0 and _count(client, py) == 0


@pytest.mark.asyncio
async def test_invalid_dockerfile_is_an_error_diagnostic_at_its_line(client: LanguageClient, tmp_path: Path):
    root = _project(tmp_path)
    await _start(client, root)
    text = "FROM python:3.11-slim\nRUN pip install flask==3.0.0\nFRMO x\n"
    uri = _open(client, root / "Dockerfile", text)
    params = await _published(client, uri, version=1)
    (d,) = params.diagnostics
    assert d.severity == types.DiagnosticSeverity.Error and d.range.start.line == 2 and "FRMO" in d.message
    # Fixed in the buffer: findings come back.
    seen = _count(client, uri)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [types.TextDocumentContentChangePartial(range=_range(2, 0, 3, 0), text="")],
        )
    )
    params = await _published(client, uri, after=seen)
    assert "SLM001" in [d.code for d in params.diagnostics]


def test_fix_does_not_import_pygls(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN pip install flask==3.0.0\n")
    code = (
        "import sys; from slimml.cli import main\n"
        f"try:\n    main(['fix', {str(tmp_path / 'Dockerfile')!r}])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'cattrs')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")


@pytest.mark.asyncio
async def test_utf8_position_encoding_when_the_client_asks_for_it(client: LanguageClient, tmp_path: Path):
    root = _project(tmp_path)
    caps = _caps()
    caps.general = types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf8])
    result = await client.initialize_session(types.InitializeParams(capabilities=caps, root_uri=root.as_uri()))
    assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
    uri = _open(client, root / "Dockerfile", MESSY)
    params = await _published(client, uri, version=1)
    (pip,) = [d for d in params.diagnostics if d.code == "SLM001"]
    # `run echo "😀 ünï" && ` is 25 bytes of UTF-8 (the emoji 4, ü and ï 2 each).
    assert (pip.range.start.line, pip.range.start.character) == (4, 25)


@pytest.mark.asyncio
async def test_unsaved_buffer_without_a_path(client: LanguageClient, tmp_path: Path):
    await _start(client, tmp_path)
    uri = "untitled:Untitled-1"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(
                uri=uri,
                language_id="dockerfile",
                version=1,
                text="FROM python:3.11-slim\nRUN pip install flask==3.0.0\n",
            )
        )
    )
    params = await _published(client, uri, version=1)
    # No file, so no build context: nothing about .dockerignore, the rest as usual.
    assert sorted(d.code for d in params.diagnostics) == ["SLM001", "SLM005"]


@pytest.mark.asyncio
async def test_save_rereads_the_build_context(client: LanguageClient, tmp_path: Path):
    root, uri, diagnostics = await _messy_session(client, tmp_path)
    assert "SLM006" in [d.code for d in diagnostics]
    # The .dockerignore appears on disk (written by another tool); the buffer is saved: SLM006 is gone.
    (root / ".dockerignore").write_text(_cli_fix(root, tmp_path, "--select", "SLM006")[".dockerignore"])
    seen = _count(client, uri)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri)))
    params = await _published(client, uri, after=seen)
    assert "SLM006" not in [d.code for d in params.diagnostics]
    assert "SLM001" in [d.code for d in params.diagnostics]


@pytest.mark.asyncio
async def test_paths_with_spaces_and_non_ascii(client: LanguageClient, tmp_path: Path):
    root = tmp_path / "mü proj #1"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "app.py").write_text("print('hi')\n")
    text = "FROM python:3.11-slim\nCOPY app.py /app/\nRUN pip install flask==3.0.0\n"
    (root / "Dockerfile.gpu").write_text(text)
    await _start(client, root)
    uri = _open(client, root / "Dockerfile.gpu", text, language="plaintext")
    assert "%20" in uri
    params = await _published(client, uri, version=1)
    # SLM006 needs the build context on disk: the URI was mapped back to the real folder.
    assert sorted(d.code for d in params.diagnostics) == ["SLM001", "SLM005", "SLM006"]


@pytest.mark.asyncio
async def test_only_lsp_line_breaks_count(client: LanguageClient, tmp_path: Path):
    """U+2028 and form feed are not line breaks in LSP (Python's str.splitlines says they are)."""
    root = _project(tmp_path)
    await _start(client, root)
    text = "FROM python:3.11-slim\n# a\u2028b\x0cc\nRUN pip install flask==3.0.0\n"
    uri = _open(client, root / "gpu.Dockerfile", text)
    params = await _published(client, uri, version=1)
    (pip,) = [d for d in params.diagnostics if d.code == "SLM001"]
    assert (pip.range.start.line, pip.range.start.character) == (2, 4)
    seen = _count(client, uri)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=_range(2, 0), text="  ")],
        )
    )
    params = await _published(client, uri, after=seen)
    (pip,) = [d for d in params.diagnostics if d.code == "SLM001"]
    assert (pip.range.start.line, pip.range.start.character, pip.range.end.character) == (2, 6, 30)
