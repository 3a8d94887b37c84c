"""One analysis of an editor buffer: the in-memory text checked as ``slimml fix`` checks the file on disk.

The file's real path gives the context: the nearest config (``workspace_config.file_config``), the build context
(``discovery.infer``, read through ``context.Context``: .dockerignore, sibling Dockerfiles, COPY sources).
Diagnostics need only the first pass (``engine.check``); the fixpoint (fix-all) runs on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import ConfigError
from ..context import Context, Settings
from ..discovery import infer
from ..dockerfile import DockerfileError, Document, parse, require_stages
from ..engine import Finding, Result, check, fix_text
from ..runner import _link_path, _settings  # the runner's own path and settings rules
from .workspace_config import ClientSettings, file_config


@dataclass
class Analysis:
    text: str
    version: int | None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # the buffer could not be checked (bad config, not a Dockerfile)
    error_line: int | None = None  # 1-based, when the error has a line
    config_error: bool = False
    doc: Document | None = None
    settings: Settings | None = None
    dockerfile: Path | None = None
    context_dir: Path | None = None
    context_note: str = ""
    config_path: Path | None = None
    _fix_all: dict[tuple[str, ...], Result] = field(default_factory=dict, repr=False)

    def context(self, settings: Settings | None = None) -> Context:
        """A fresh Context (the engine mutates its overlay; each use gets its own)."""
        return Context(
            settings=settings or self.settings or Settings(),
            dockerfile=self.dockerfile,
            context_dir=self.context_dir,
            context_note=self.context_note,
        )

    def fix_all(self, skip: tuple[str, ...] = ()) -> Result:
        """The engine's safe fixpoint, as ``slimml fix --write`` computes it (without its unsafe fixes, even when
        the config turns them on: this is "fix all safe"); ``skip``: rules left out."""
        if skip not in self._fix_all:
            assert self.settings is not None
            s = replace(self.settings, unsafe_fixes=False, ignore=tuple(self.settings.ignore) + skip)
            self._fix_all[skip] = fix_text(self.text, self.context(s), str(self.dockerfile or "<buffer>"))
        return self._fix_all[skip]

    def apply_one(self, finding: Finding) -> tuple[str, dict[str, tuple[str | None, str]]] | None:
        """The text after this one finding's fix and its side files {key: (before, after)}; None when the engine
        would reject the result (it no longer parses, or its shell does not)."""
        from ..engine import _shell_errors, _try_apply  # the engine's own application and validity check

        assert self.doc is not None and finding.fix is not None
        ctx = self.context()
        new_text, new_side, new_doc = _try_apply(self.text, {}, [finding], ctx, _shell_errors(self.doc))
        if new_doc is None:
            return None
        side = {}
        for e in finding.fix.edits:
            if e.path is not None:
                key = ctx.side_key(e.path)
                side[key] = (ctx.read_context_file(e.path, overlay=False), new_side[key])
        return new_text, side


def analyse(path: Path | None, text: str, version: int | None, client: ClientSettings) -> Analysis:
    a = Analysis(text=text, version=version)
    opts = client.options()
    if path is not None:
        path = _link_path(path)  # a symlinked Dockerfile is built from the symlink's folder
    try:
        cfg = file_config(path, opts)
    except ConfigError as e:
        a.error, a.config_error = str(e), True
        return a
    a.config_path = cfg.path
    try:
        doc = require_stages(parse(text))
    except DockerfileError as e:
        a.error, a.error_line = f"not a valid Dockerfile: {e}", e.line
        return a
    a.doc = doc
    a.settings = _settings(opts, cfg)
    if path is not None:
        guess = infer(path, doc)
        a.dockerfile, a.context_dir, a.context_note = path.resolve(), guess.path, guess.reason
    a.findings = check(doc, a.context())
    return a
