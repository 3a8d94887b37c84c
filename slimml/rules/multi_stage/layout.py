"""Stage layout of SLM008: the text of the builder and runtime stages.

The runtime stage keeps the file's order, with one exception: its apt installs move up, before the application's
COPYs (and WORKDIR, the virtualenv COPY, EXPOSE, CMD ...), so a code edit never re-runs apt. An install moves past an
instruction only when the order cannot matter: a COPY to a path no package writes or reads (not ``/``, ``/etc``,
``/usr``, ``/var``, ``/opt``, ``/tmp`` ...) and that the RUN names in no word, a WORKDIR when nothing in the RUN
depends on the working directory, the virtualenv (which the original single stage did not have), and instructions
that change nothing a RUN sees (EXPOSE, LABEL, CMD, ...). A RUN, ENV, ARG, USER, SHELL or VOLUME before it stays
before it: the install may depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...dockerfile import Instruction, shell_words
from .. import _helpers as H
from .common import APT_CLEAN, APT_INSTALL_DEFAULT, BUILDER_NAME, has_var, lowercase_file
from .packages import RuntimePackages, splice
from .programs import copy_operands
from .runs import PathUse

# Instructions that do not change what a later RUN sees (an apt install may move before them).
_INERT = frozenset({"EXPOSE", "LABEL", "MAINTAINER", "STOPSIGNAL", "HEALTHCHECK", "CMD", "ENTRYPOINT"})
# Instructions before which the virtualenv lines need not come (they do not run anything from it).
_RUNTIME_META = frozenset({"ARG", "ENV", "SHELL", "LABEL", "MAINTAINER", "EXPOSE", "STOPSIGNAL"})
# Top-level directories that packages write or read (a COPY there may change what apt does, or the reverse).
_SYSTEM_DIRS = frozenset(
    {
        "bin",
        "boot",
        "dev",
        "etc",
        "home",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "media",
        "mnt",
        "opt",
        "proc",
        "root",
        "run",
        "sbin",
        "snap",
        "sys",
        "tmp",
        "usr",
        "var",
    }
)


@dataclass
class _Piece:
    text: str
    kind: str  # "apt" (an apt install RUN), "venv" (the virtualenv COPY + ENV), "artifact" (COPY --from), "ins"
    ins: Instruction | None = None
    reads: PathUse | None = None  # for an apt install: the paths it names, whether the working directory matters
    dest: str | None = None  # an artifact's destination


def app_path(path: str | None) -> bool:
    """A known absolute path outside the directories packages use."""
    if path is None or has_var(path) or not path.startswith("/"):
        return False
    top = H.norm_path(path).lstrip("/").split("/", 1)[0]
    return bool(top) and top not in _SYSTEM_DIRS


class Layout:
    def __init__(self, planner, pk: RuntimePackages):
        self.p = planner
        self.doc, self.stage, self.instrs, self.infos = planner.doc, planner.stage, planner.instrs, planner.infos
        self.pk = pk

    # -- the whole text --------------------------------------------------------------------------------
    def render(self, base, last_b: int, first_pip, venv_cmd, additions, replaced, art_lines, manifest_only) -> str:
        doc = self.doc
        text, nl = doc.text, doc.newline
        lower = lowercase_file(doc)

        def kw(k: str) -> str:
            return k.lower() if lower else k

        fi = self.stage.from_instruction
        indent = doc.line_indent(self.instrs[0].start) if self.instrs else ""
        builder = self.builder_name()
        blocks: dict[int, tuple[str, str]] = {}
        prev = fi.line_end
        for ins in self.instrs:
            blocks[ins.index] = (text[prev : ins.line_start], text[ins.line_start : ins.line_end])
            prev = ins.line_end
        trailing = text[prev:]

        def line(s: str) -> str:
            return f"{indent}{s}{nl}"

        def ensure_nl(s: str) -> str:
            return s if not s or s.endswith("\n") else s + nl

        # Builder stage.
        out: list[str] = [ensure_nl(self.from_line(builder_name=builder, lower=lower))]
        if any(i.keyword == "USER" for i in self.instrs):
            # USER lines go to the runtime stage; the builder installs as root, whatever the base's default user
            # (mambaorg/micromamba runs as mambauser: its apt steps need the file's own `USER root`)
            out.append(line(f"{kw('USER')} root"))
        venv_at = None
        if venv_cmd is not None:
            runs_before = [i.index for i in self.instrs if i.keyword == "RUN" and i.index < first_pip]
            venv_at = max(runs_before) if runs_before else -1
        env = self.p.env
        env_text = "".join(line(f"{kw('ENV')} {k}={v}") for k, v in env.env_lines)
        if venv_at == -1:
            out.append(line(f"{kw('RUN')} {venv_cmd}") + env_text)
        for ins in self.instrs:
            if ins.index > last_b:
                break
            k = ins.keyword
            if k in ("ARG", "ENV", "SHELL", "WORKDIR", "COPY", "ADD", "RUN"):
                lead, body = blocks[ins.index]
                if k == "RUN" and (self.infos[ins.index].drop_words or ins.index in env.edits):
                    body = splice(
                        doc,
                        ins,
                        [(p.end, w.end, "") for p, w in self.infos[ins.index].drop_words]
                        + env.edits.get(ins.index, []),
                    )
                out.append(lead + ensure_nl(body))
            if ins.index == venv_at:
                out.append(line(f"{kw('RUN')} {venv_cmd}") + env_text)
        builder_text = "".join(out)

        # Runtime stage.
        pk = self.pk
        pieces: list[_Piece] = []
        extra = list(additions)
        # Packages the file does not install go into the first apt install the runtime stage runs, when no other
        # RUN and no COPY comes before it; else into a RUN of their own right after FROM.
        first = next(
            (
                i
                for i in self.instrs
                if (i.keyword in ("COPY", "ADD") and i.index not in replaced and i.index not in manifest_only)
                or (
                    i.keyword == "RUN"
                    and (
                        self.infos[i.index].kind == "other"
                        or (self.infos[i.index].kind in ("apt", "build") and self.infos[i.index].apt)
                    )
                )
            ),
            None,
        )
        if extra and not (first is not None and first.keyword == "RUN" and self.infos[first.index].kind == "apt"):
            pk.add(extra)
            pieces.append(
                _Piece(
                    line(f"{kw('RUN')} apt-get update && {APT_INSTALL_DEFAULT} {' '.join(extra)} && {APT_CLEAN}"),
                    "apt",
                    reads=PathUse(),
                )
            )
            extra = []
        venv_done = venv_cmd is None and not (env.paths and not env.make)
        blocked = env.after is not None  # the copy must follow the COPY that filled its directory first

        def place_venv(force: bool = False) -> None:
            """The environment's copy, once: here, unless it must wait for the COPY that fills its directory."""
            nonlocal venv_done
            if not venv_done and (force or not blocked):
                pieces.append(
                    _Piece(
                        "".join(line(f"{kw('COPY')} --from={builder} {q} {q}") for q in env.paths) + env_text, "venv"
                    )
                )
                venv_done = True

        def runtime_body(ins: Instruction, body: str) -> str:
            edits = self.p.interp_edits.get(ins.index)  # the base's interpreter -> the virtualenv's
            return splice(doc, ins, edits) if edits else body

        for ins in self.instrs:
            k = ins.keyword
            lead, body = blocks[ins.index]
            piece = None  # this instruction in the runtime stage (None drops it)
            is_meta = k in _RUNTIME_META
            if k == "RUN":
                info = self.infos[ins.index]
                if info.kind == "setup":
                    continue
                if info.kind == "build":
                    synth = pk.synthesized(info)
                    if synth:
                        prefix, pkgs = synth
                        reads = PathUse()  # the new RUN has only the apt words of the install RUN
                        for a in info.apt:
                            reads.merge(a.reads)
                        pieces.append(
                            _Piece(
                                line(f"{kw('RUN')} apt-get update && {prefix} {' '.join(pkgs)} && {APT_CLEAN}"),
                                "apt",
                                ins,
                                reads,
                            )
                        )
                    if info.runtime_lines:
                        # links the install RUN made: the runtime stage makes them itself, after the environment
                        place_venv()
                        pieces.append(_Piece(line(f"{kw('RUN')} " + " && ".join(info.runtime_lines)), "ins", ins))
                    paths = art_lines.get(ins.index, [])
                    if paths:
                        place_venv()
                    pieces.extend(
                        _Piece(line(f"{kw('COPY')} --from={builder} {p} {p}"), "artifact", dest=p) for p in paths
                    )
                    continue
                if info.kind == "apt":
                    new = pk.apt_runtime(info, extra if info.apt else [])
                    extra = extra if not info.apt else []
                    if new is not None:
                        piece = _Piece(lead + ensure_nl(new), "apt", ins, info.reads)
                    is_meta = True
                else:
                    piece = _Piece(lead + ensure_nl(runtime_body(ins, body)), "ins", ins)
            elif k in ("COPY", "ADD") and (ins.index in replaced or ins.index in manifest_only):
                continue
            else:
                piece = _Piece(lead + ensure_nl(runtime_body(ins, body)), "ins", ins)
            if piece is None:
                continue
            if not is_meta:
                place_venv()
            pieces.append(piece)
            if blocked and ins.index == env.after:
                blocked = False
                place_venv()
        place_venv(force=True)
        pieces = self.hoist(pieces)
        runtime_text = ensure_nl(self.from_line(runtime_image=base.runtime, lower=lower)) + "".join(
            p.text for p in pieces
        )
        return ensure_nl(builder_text) + nl + runtime_text + trailing

    # -- apt installs before the application -----------------------------------------------------------
    def hoist(self, pieces: list[_Piece]) -> list[_Piece]:
        out: list[_Piece] = []
        for pc in pieces:
            j = len(out)
            if pc.kind == "apt":
                while j > 0 and self.crossable(out[j - 1], pc):
                    j -= 1
            out.insert(j, pc)
        for k, pc in enumerate(out):
            if pc.kind != "apt":
                continue
            copies = [q.ins for q in out[:k] if q.kind == "ins" and q.ins.keyword in ("COPY", "ADD")]
            if copies:
                what = (
                    f"the apt install of the RUN at line {pc.ins.start_line}"
                    if pc.ins is not None
                    else "an apt install"
                )
                self.p.notes.append(
                    f"{what} stays after the COPY at line {copies[-1].start_line} (an instruction "
                    "between them may matter to it): a change to the copied files re-runs it"
                )
        return out

    def crossable(self, prev: _Piece, apt: _Piece) -> bool:
        """Whether the apt install ``apt`` may run before ``prev`` with the same outcome for both."""
        info = apt.reads
        if prev.kind == "venv":
            return True  # the single-stage original ran its apt installs without the virtualenv
        if prev.kind == "artifact":
            return info.cwd_free and self.untouched(info, prev.dest)
        if prev.kind != "ins":
            return False
        k = prev.ins.keyword
        if k in _INERT:
            return True
        if k == "WORKDIR":
            return info.cwd_free
        if k in ("COPY", "ADD") and not prev.ins.heredocs:
            ops = copy_operands(prev.ins)
            if not ops or len(ops) < 2 or has_var(ops[-1]):
                return False
            dest = H.join_path(H.workdir_at(self.doc, prev.ins), ops[-1])
            return info.cwd_free and self.untouched(info, dest)
        return False

    @staticmethod
    def untouched(info: PathUse, dest: str | None) -> bool:
        """A destination no package uses and the RUN does not name."""
        return (
            app_path(dest)
            and info.paths_known
            and not any(H.path_under(p, dest) or H.path_under(dest, p) for p in info.paths)
        )

    # -- FROM lines ------------------------------------------------------------------------------------
    def builder_name(self) -> str:
        taken = set()
        for ins in self.doc.instructions:
            for f in ins.flags_of("from"):
                taken.add((f.value or "").lower())
            for m in H.mounts(ins):
                if "from" in m:
                    taken.add(m["from"].lower())
        if self.stage.name:
            taken.add(self.stage.name)
        name, n = BUILDER_NAME, 2
        while name in taken:
            name = f"{BUILDER_NAME}-{n}"
            n += 1
        return name

    def from_line(self, builder_name: str | None = None, runtime_image: str | None = None, lower: bool = False) -> str:
        fi = self.stage.from_instruction
        splices: list[tuple[int, int, str]] = []
        words = shell_words(fi.args, raw=True)
        has_as = len(words) >= 3 and words[1][0].lower() == "as"
        if builder_name is not None:
            if has_as:
                s, e = fi.args_span(words[2][1], words[2][2])
                splices.append((s, e, builder_name))
            else:
                end = fi.args_span(words[0][1], words[0][2])[1]
                as_kw = "as" if fi.keyword_raw.islower() or lower else "AS"
                splices.append((end, end, f" {as_kw} {builder_name}"))
        else:
            s, e = self.stage.image_span
            splices.append((s, e, runtime_image))
        return splice(self.doc, fi, splices)
