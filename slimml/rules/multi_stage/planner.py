"""The planner of SLM008: is a split possible and worth it, which packages the runtime stage drops and needs."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from ...dockerfile import Document, Instruction, Stage, shell_words
from ...dockerfile.shell import run_scripts, unwrap
from ...engine import Edit, Fix
from ...knowledge import apt_packages as A
from ...knowledge import image_config as IC
from ...knowledge import images as IMG
from ...knowledge import python_tools as P
from ...knowledge import tool_images as TI
from ...shellvars import VarRefs
from .. import _helpers as H
from . import installers
from .common import APT_CLEAN, APT_INSTALL_DEFAULT, REASON, VENV, NoFix, Nothing, has_var, is_requirements_name
from .layout import Layout
from .packages import RuntimePackages
from .programs import copy_operands, read_requirements_file, runtime_commands
from .runs import RunInfo, RunReader

_MANIFEST_RES = (
    re.compile(r"(?i)^constraints[\w.-]*\.txt$"),
    re.compile(r"^(Pipfile|Pipfile\.lock|poetry\.lock|uv\.lock|pdm\.lock|requirements)$"),
)

_VAR_REFS = VarRefs(r"\w+", ":?-")  # ${NAME}, ${NAME:-x}, $NAME in linear time


def _rule():
    return H.rule_of(__package__)


def _is_manifest(name: str) -> bool:
    return is_requirements_name(name) or any(r.match(name) for r in _MANIFEST_RES)


@dataclass
class Base:
    image: str  # as written
    expanded: str  # global ARG defaults substituted
    family: str | None
    runtime: str  # the runtime stage's image as written
    runtime_expanded: str
    same: bool  # the runtime stage uses the same image
    note: str
    release: str | None


_BUILD_FILES = frozenset({"setup.py", "setup.cfg", "pyproject.toml", "CMakeLists.txt", "Makefile", "meson.build"})
_SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".cu")
_OPENMP_RE = re.compile(r"-fopenmp\b|#\s*pragma\s+omp\b|\bOpenMP\b|find_package\s*\(\s*OpenMP")
_TEXT_SUFFIXES = (".py", ".sh", ".yaml", ".yml", ".json", ".toml", ".cfg", ".ini", ".conf", ".env", ".txt")


def _named_in_context(ctx, path: str) -> str | None:
    """A text file of the build context that names ``path`` (the app may read it at run time), or None."""
    if ctx is None:
        return None
    named = re.compile(re.escape(path) + r"(?![\w.-])")

    def accept(rel):
        return rel.endswith(_TEXT_SUFFIXES) and not rel.rsplit("/", 1)[-1].startswith("Dockerfile")

    return next((rel for rel, text in ctx.texts(accept) if named.search(text)), None)


def _compiler_dropped(remove: set[str]) -> bool:
    """Whether the runtime stage loses a compiler the builder had (a compiler package, or its metapackage)."""
    return any(A.COMPILERS_RE.match(c) for n in remove for c in A.package_commands(n)) or bool(
        remove & {"build-essential", "gcc", "g++"}
    )


class Planner:
    def __init__(self, doc: Document, ctx):
        self.doc, self.ctx = doc, ctx
        self.stage: Stage = doc.stages[0]
        self.instrs = self.stage.instructions[1:]
        self.infos: dict[int, RunInfo] = {}
        self.notes: list[str] = []  # for the unsafe reason
        self.desc: list[str] = []
        self.removed: set[str] = set()
        self.emitted: list[str] = []  # runtime packages the runtime stage installs that the file did not
        self.env: installers.Env | None = None  # where the Python environment lives (installers.plan)

    # -- entry ----------------------------------------------------------------------------------
    def run(self):
        doc = self.doc
        fi = self.stage.from_instruction
        for ins in self.instrs:
            if ins.keyword == "RUN":
                self.infos[ins.index] = RunReader(doc, ins).read()
        infos = list(self.infos.values())
        pip_runs = [i for i in infos if i.installs_python]
        build_runs = [i for i in infos if i.kind == "build"]
        build_only = sorted({n for i in infos if i.kind in ("apt", "build") for n in i.apt_names if A.is_build_only(n)})
        apk_build = sorted({n for i in infos for n in i.apk_build})
        if apk_build and not build_only:
            if not pip_runs and not build_runs:
                return
            yield H.finding(
                _rule(),
                f"single-stage build keeps build-only packages ({', '.join(apk_build)}) in the image: "
                "build in a builder stage and copy the results",
                fi.start,
                fi.end,
                note="apk-based images are not split automatically",
            )
            return
        if not build_only and not build_runs:
            return
        if not build_runs:
            # Build-only packages that no step of this Dockerfile builds with.
            yield H.finding(
                _rule(),
                f"build-only packages ({', '.join(build_only)}) are installed but nothing in this "
                "Dockerfile builds with them",
                fi.start,
                fi.end,
                note="remove them if the application does not use them at run time (compilers for JIT, "
                "git for GitPython); there is nothing to move to a builder stage",
            )
            return
        base = self.base()
        if not build_only and base.same and not installers.gain(self):
            return  # the same base and nothing to drop: a builder stage gains nothing
        message = self.message(base, build_only)
        try:
            edit, description, estimate, basis = self.plan(base)
        except Nothing:
            return
        except NoFix as e:
            yield H.finding(_rule(), message, fi.start, fi.end, note=f"not split automatically: {e}")
            return
        message = self.message(base, sorted(self.removed))
        reason = REASON
        if self.notes:
            reason += "; also check: " + "; ".join(self.notes)
        yield H.finding(
            _rule(),
            message,
            fi.start,
            fi.end,
            Fix.unsafe(edit, reason=reason, description=description),
            estimate=estimate,
            estimate_basis=basis,
        )

    def message(self, base: Base, build_only: list[str]) -> str:
        parts = []
        if build_only:
            shown = ", ".join(build_only[:6]) + (", ..." if len(build_only) > 6 else "")
            parts.append(f"build-only packages ({shown})")
        if not base.same:
            parts.append(f"the full base image {base.image}")
        if not parts:
            parts.append(installers.gain(self) or "build leftovers")
        return (
            "single-stage build keeps "
            + " and ".join(parts)
            + " in the image: build in a builder stage, run on "
            + (base.runtime if not base.same else "the same base without them")
        )

    # -- the base image ---------------------------------------------------------------------------
    def base(self) -> Base:
        image = self.stage.image
        expanded = self.expand(image)
        fam = IMG.family(expanded)
        variant = IMG.slim_variant(image)
        runtime = variant.image if variant.image and variant.image != image else image
        if runtime == image and expanded != image:
            runtime = self.written_variant(image, expanded) or image
        if runtime == image:
            img = IMG.parse_image(expanded)
            tag = TI.slim_tag(img.normalized, img.tag) if "$" not in image else None
            if tag:
                runtime = image[: len(image) - len(img.tag)] + tag if image.endswith(img.tag) else image
        if runtime != image and runtime != variant.image:
            variant = IMG.Variant(runtime, "")
        ladder_note = ""
        if runtime != image and fam == "cuda" and "$" not in image:
            # below runtime when every CUDA library the runtime stage needs comes from pip wheels (the ladder reads
            # the installs; the runtime stage compiles nothing, and keeps the base's apt Python: not python-slim)
            from ...semantics.cuda_stack import runtime_image

            lad = runtime_image(self.doc, self.ctx, [self.stage], compiles="", image=expanded)
            if lad.below_runtime and not lad.env and "$" not in lad.image:
                runtime = lad.image
                variant = IMG.Variant(runtime, "")
                ladder_note = "; ".join(dict.fromkeys(lad.notes))
                self.desc.append(f"runtime stage on {runtime}: " + "; ".join(lad.facts[:3]))
        same = runtime == image
        rexp = self.expand(runtime)
        release = IMG.os_release(rexp) if not has_var(rexp) else None
        note = "; ".join(p for p in variant.note.split("; ") if p and p != IMG.SLIM_NOTE) if not same else ""
        note = "; ".join(x for x in (note, ladder_note) if x)
        return Base(image, expanded, fam, runtime, rexp, same, note, release)

    def written_variant(self, image: str, expanded: str) -> str | None:
        """The smaller variant of an image written with variables (``nvidia/cuda:${V}-devel-ubuntu${U}``), spelled
        with the same variables: the variant of the expanded reference, when one word of the written text maps onto
        it (``devel`` -> ``runtime``) and expands to exactly that."""
        v = IMG.slim_variant(expanded)
        if not v.image or v.image == expanded:
            return None
        for old, new in (("-devel", "-runtime"), ("devel-", "runtime-")):
            if image.count(old) == 1:
                cand = image.replace(old, new)
                if self.expand(cand) == v.image:
                    return cand
        return None

    def expand(self, ref: str) -> str:
        args: dict[str, str] = {}
        for a in self.doc.global_args:
            args.update(H.parse_kv_words(a))

        def sub(m) -> str:
            name = m.group(1) or m.group(3)
            return args.get(name) or m.group(2) or m.group(0)

        return _VAR_REFS.sub(sub, ref)

    # -- the plan -----------------------------------------------------------------------------------
    def plan(self, base: Base):
        doc, infos = self.doc, self.infos
        for info in infos.values():
            if info.problems:
                raise NoFix(info.problems[0])
        last_b = max(i.ins.index for i in infos.values() if i.kind == "build")
        pip_runs = [i for i in infos.values() if i.installs_python]
        first_pip = min((i.ins.index for i in pip_runs), default=None)
        last_pip = max((i.ins.index for i in pip_runs), default=None)
        copies = [i for i in self.instrs if i.keyword in ("COPY", "ADD")]

        self.read_requirements(pip_runs, copies)
        # Where the Python environment lives and how it reaches the runtime stage (one strategy per installer).
        self.env = env = installers.plan(self, base)
        # Instructions that cannot be moved or whose meaning a split changes.
        self.check_instructions(last_b, pip_runs)

        # Python provisioning.
        venv_cmd = self.venv_command(base, pip_runs, first_pip) if pip_runs and env.make else None

        # Artifacts and the COPYs they replace; a RUN that only clones sources an artifact copy brings along
        # (`git clone ... /src` then `pip install -e /src`) stays in the builder.
        replaced, art_lines = self.artifacts(last_b, copies)
        copied = [q for ps in art_lines.values() for q in ps]
        for info in infos.values():
            if (
                info.kind == "other"
                and info.scratch
                and not info.others
                and not info.writes
                and not info.apt
                and info.ins.index < last_b
                and all(any(H.path_under(p, q) for q in copied) for p in info.scratch)
            ):
                info.kind = "setup"
                self.desc.append(
                    f"the clone at line {info.ins.start_line} stays in the builder (the runtime stage copies the built result)"
                )

        # What the runtime stage still runs.
        def kept() -> list[Instruction]:
            return [i for i in self.instrs if not (i.keyword == "RUN" and infos[i.index].kind in ("build", "setup"))]

        runtime_instrs = kept()
        used = runtime_commands(doc, self.ctx, runtime_instrs, infos, copies, self.notes, tuple(env.paths))
        used |= {ln.split()[0] for i in infos.values() if i.kind == "build" for ln in i.runtime_lines}
        self.check_absolute_python(runtime_instrs)
        if not env.make:
            again = installers.tool_install_runs(self, used)
            for i in again:
                infos[i].kind = "other"  # re-run in the runtime stage, into its base Python
                self.desc.append(f"the runtime stage re-runs the installer install at line {infos[i].ins.start_line}")
            if again:
                runtime_instrs = kept()
                used |= runtime_commands(doc, self.ctx, runtime_instrs, infos, copies, self.notes, tuple(env.paths))
        installers.runtime_tools(
            env,
            used,
            [c for c in copies if c.index > last_b or c.flag("from") is not None],
            base.runtime_expanded,
            [(i, i.text(doc.text)) for i in runtime_instrs if i.keyword == "RUN" and infos[i.index].kind == "other"],
        )
        if env.kind == "pipenv" and "pipenv" in used:
            self.notes.append(
                '`pipenv run` now runs inside VIRTUAL_ENV and prints a "Courtesy Notice" on stderr '
                "(PIPENV_VERBOSITY=-1 silences it, and pipenv's other messages)"
            )

        # Packages: what is dropped, what each dropped one leaves needed, what the new base lacks.
        installed_build_only = {
            n for i in infos.values() if i.kind in ("apt", "build") for n in i.apt_names if A.is_build_only(n)
        }
        keep = {n for n in installed_build_only if set(A.package_commands(n)) & used}
        remove = installed_build_only - keep
        self.removed = remove
        if not remove and base.same and not env.gain:
            raise Nothing()  # the runtime stage would need every build-only package: nothing to gain
        counterparts: dict[str, tuple[str, ...]] = {}
        for n in sorted(remove):
            rt = A.runtime_packages(n, base.release)
            if rt is None:
                where = base.release or f"the OS of {base.runtime}"
                raise NoFix(f"which package `{n}` leaves needed at run time on {where} is not known")
            counterparts[n] = rt
        bad = sorted(used & A.CUDA_DEVEL_COMMANDS)
        if bad and not base.same and base.family in ("cuda", "pytorch", "tensorflow", "ngc"):
            raise NoFix(f"the runtime stage would still run `{bad[0]}`, which only the devel image has")
        additions = self.additions(base, used, pip_runs, copies, counterparts, keep)
        additions += [p for p in self.openmp_runtime(remove, base) if p not in additions]

        self.check_scratch(runtime_instrs, art_lines)
        self.check_runtime_compile(base, remove)
        # Manifests copied for the installs stay in the builder when the runtime stage gets the whole context anyway
        # and runs no installer that reads them (`uv run`, `poetry run`); else the app still finds them.
        whole = [
            c
            for c in copies
            if c.flag("from") is None and any(o.rstrip("/") in (".", "") for o in (copy_operands(c) or [])[:-1])
        ]
        keep_manifests = bool(used & installers.INSTALLER_TOOLS)
        manifest_only = {
            c.index
            for c in copies
            if first_pip is not None
            and c.index < last_pip
            and self.manifest_only(c)
            and not keep_manifests
            and any(w.index > c.index for w in whole)
        }

        pk = RuntimePackages(doc, remove, counterparts, set(A.preinstalled(base.release, base.family == "python")))
        text = Layout(self, pk).render(base, last_b, first_pip, venv_cmd, additions, replaced, art_lines, manifest_only)
        self.emitted = pk.emitted
        fi = self.stage.from_instruction
        edit = Edit(fi.line_start, len(doc.text), text)
        description = self.description(base, remove, keep, pip_runs, art_lines)
        estimate, basis = self.estimate(base, remove, additions)
        return edit, description, estimate, basis

    def check_instructions(self, last_b: int, pip_runs: list[RunInfo]) -> None:
        non_root_user = None
        for ins in self.instrs:
            kw = ins.keyword
            if kw == "ONBUILD":
                raise NoFix("an ONBUILD instruction")
            if kw == "VOLUME" and ins.index < last_b:
                raise NoFix("a VOLUME before an install step (later build steps would behave differently)")
            if (
                kw == "SHELL"
                and ins.json
                and H.basename(ins.json[0]) not in ("sh", "bash", "dash", "ash", "zsh")
                and not (IC.conda_run_shell(ins.json) and self.env.kind == "conda")
            ):
                raise NoFix("a non-POSIX SHELL")
            if kw == "USER" and ins.args.strip():
                user = ins.args.strip().split(":")[0]
                non_root_user = None if user in ("root", "0") else user
            if kw == "RUN" and non_root_user:
                info = self.infos[ins.index]
                if info.kind == "build" and info.artifacts:
                    raise NoFix(f"files are built as USER {non_root_user}; the builder stage runs as root")
            if kw == "ENV":
                env_paths = set(self.env.paths) if not self.env.make else set()
                for k, v in H.parse_kv_words(ins):
                    if k == "PATH" and "$PATH" not in v and "${PATH}" not in v:
                        raise NoFix("an ENV sets PATH without $PATH, which would hide the virtualenv")
                    if k in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PYTHONHOME"):
                        raise NoFix(f"ENV {k} makes pip install outside the virtualenv")
                    if k == "PIP_USER" and H.env_truthy({k: v}, k):
                        raise NoFix("ENV PIP_USER=1 makes pip refuse to install into a virtualenv")
                    if k == "VIRTUAL_ENV" and H.norm_path(v.strip("'\"") or ".") not in env_paths:
                        raise NoFix("the file sets VIRTUAL_ENV to a virtualenv it does not make")
                    if k in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV") and self.env.kind != "conda":
                        raise NoFix("a conda environment the file does not make")
            if kw in ("COPY", "ADD") and ins.heredocs and ins.index < last_b:
                raise NoFix("a COPY with a heredoc before an install step")
        if any(i.keyword == "USER" for i in self.instrs):
            self.desc.append(
                "the builder stage installs as root (USER applies to the runtime stage; files it makes are root's)"
            )

    def check_scratch(self, runtime_instrs: list[Instruction], art_lines: dict[int, list[str]]) -> None:
        """Clones and downloads an install RUN reads stay in the builder: nothing the runtime stage keeps may name
        them (an absolute path, or a relative one under its working directory)."""
        copied = [q for ps in art_lines.values() for q in ps]
        for info in self.infos.values():
            if info.kind != "build":
                continue
            for path in info.scratch:
                if any(H.path_under(path, q) for q in copied):
                    continue
                for line in (ln for i in self.infos.values() for ln in i.runtime_lines):
                    if re.search(re.escape(path) + r"(?![\w.-])", line):
                        raise NoFix(
                            f"`{line}` in the runtime stage uses {path}, which the install RUN at line "
                            f"{info.ins.start_line} puts in place (it would stay in the builder)"
                        )
                for ins in runtime_instrs:
                    if ins.index <= info.ins.index:
                        continue
                    text = ins.text(self.doc.text)
                    wd = H.workdir_at(self.doc, ins)
                    names = [path]
                    if H.path_under(path, wd) and path != wd:
                        names.append(posixpath.relpath(path, wd).split("/")[0])
                    if any(re.search(r"(?<![\w.-])" + re.escape(n) + r"(?![\w.-])", text) for n in names):
                        raise NoFix(
                            f"line {ins.start_line} uses {path}, which the install RUN at line "
                            f"{info.ins.start_line} puts in place (it would stay in the builder)"
                        )
                named = _named_in_context(self.ctx, path)
                if named:
                    raise NoFix(
                        f"{named} names {path}, which the install RUN at line {info.ins.start_line} puts in "
                        "place (it would stay in the builder)"
                    )
                self.desc.append(
                    f"{path} (cloned or downloaded for the install at line {info.ins.start_line}) stays in the builder"
                )

    def check_runtime_compile(self, base: Base, remove: set[str]) -> None:
        """An app that compiles native code when it runs needs the compilers (and, on CUDA, the devel image)."""
        from .jit import runtime_compiles

        drops_compiler = _compiler_dropped(remove) or any(
            n in ("ninja-build", "cuda-nvcc") or n.startswith(("gcc-", "g++-")) for n in remove
        )
        if base.same and not drops_compiler:
            return
        found = runtime_compiles(self.ctx)
        if found:
            rel, why = found
            raise NoFix(
                f"the app compiles at run time ({why}, {rel}): the image that runs it needs the compilers"
                + (" and the devel image" if base.family in ("cuda", "pytorch", "tensorflow", "ngc") else "")
            )

    def openmp_runtime(self, remove: set[str], base: Base) -> list[str]:
        """``libgomp1`` when the split drops the compiler (gcc depends on libgomp1, so the builder has it: the
        file's own gcc, or the full/devel base's) and the context's build files ask for OpenMP: an extension built
        with ``-fopenmp`` links libgomp.so.1."""
        if (base.same and not _compiler_dropped(remove)) or self.ctx is None:
            return []

        def build_file(rel: str) -> bool:
            name = rel.rsplit("/", 1)[-1]
            return name in _BUILD_FILES or name.endswith(_SOURCE_SUFFIXES)

        for rel, text in self.ctx.texts(build_file):
            if _OPENMP_RE.search(text):
                self.desc.append(f"runtime stage installs libgomp1 ({rel} builds with OpenMP)")
                return ["libgomp1"]
        return []

    def check_absolute_python(self, runtime_instrs: list[Instruction]) -> None:
        """An absolute interpreter path in the runtime stage bypasses the environment the split copies. The base's own
        interpreter (``/usr/local/bin/python``, ``/usr/bin/python3.10``, its pip) run as a program becomes the planner
        virtualenv's (made from that interpreter, so the same Python with the packages); anything else is refused."""
        self.interp_edits: dict[int, list[tuple[int, int, str]]] = {}
        for ins in runtime_instrs:
            progs: list[tuple[str, tuple[int, int] | None, bool]] = []  # (path, file span if argv[0], json)
            if ins.keyword == "RUN" and ins.json is None:
                for sc in run_scripts(self.doc, ins):
                    for c in sc.commands:
                        ws = c.words
                        i = unwrap([w.value for w in ws], run_wrappers=False) if ws else 0
                        progs += [
                            (w.value, (w.start, w.end) if k == i else None, False) for k, w in enumerate(ws) if k == i
                        ]
            elif ins.keyword in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"):
                if ins.json is not None:
                    m = re.match(r'\s*\[\s*("(?:[^"\\]|\\.)*")', ins.args)
                    first = ins.args_span(m.start(1), m.end(1)) if m else None
                    progs = [(v, first if k == 0 else None, True) for k, v in enumerate(ins.json)]
                else:
                    args = ins.args
                    off = 0
                    if ins.keyword == "HEALTHCHECK" and args.lstrip()[:3].upper() == "CMD":
                        off = args.upper().index("CMD") + 3
                    words = shell_words(args[off:], raw=False)
                    progs = [
                        (w, ins.args_span(off + a, off + b) if k == 0 else None, False)
                        for k, (w, a, b) in enumerate(words)
                    ]
            for p, span, js in progs:
                b = H.basename(p)
                if not (p.startswith("/") and (P.PYTHON_RE.match(b) or P.PIP_RE.match(b))) or any(
                    p.startswith(q.rstrip("/") + "/") for q in self.env.paths
                ):
                    continue
                if span is not None and self.env.make and installers.base_interpreter(p):
                    new = f"{VENV}/bin/{b}"
                    self.interp_edits.setdefault(ins.index, []).append((span[0], span[1], f'"{new}"' if js else new))
                    continue
                raise NoFix(f"`{p}` is an absolute interpreter path that would bypass the virtualenv")
        if self.interp_edits:
            gone = {f"`{self.doc.text[a:e].strip(chr(34))}`" for es in self.interp_edits.values() for a, e, _ in es}
            self.notes[:] = [n for n in self.notes if not any(g in n for g in gone)]
            self.desc.append(
                f"the base's interpreter named by absolute path runs as {VENV}/bin/... (the same Python, "
                "with the virtualenv's packages)"
            )

    def venv_command(self, base: Base, pip_runs: list[RunInfo], first_pip: int) -> str:
        spellings = [H.basename(s) for i in pip_runs for s in i.spellings]
        versioned = sorted({s for s in spellings if re.match(r"^(python|pip)3\.\d+$", s)})
        unversioned = any(s in ("python", "pip") for s in spellings)
        fam = base.family
        if fam == "python":
            pt = IMG.python_tag(IMG.parse_image(base.expanded).tag)
            if pt is None or (pt.variant and not pt.variant.startswith("slim")):
                raise NoFix(f"{base.image} is not a Debian-based python image")
            interp = "python" if unversioned or not spellings else "python3"
            return f"{interp} -m venv {VENV}"
        if fam == "pytorch":
            interp = "python" if unversioned or not spellings else "python3"
            return f"{interp} -m venv --system-site-packages {VENV}"
        if fam in ("tensorflow", "ngc"):
            raise NoFix(
                f"{base.image} ships its own Python packages in a layout slimml does not move into a virtualenv"
            )
        # Python from apt (nvidia/cuda, ubuntu, debian ...)
        apt_python = [
            n
            for i in self.infos.values()
            for n in i.apt_names
            if re.match(r"^python3(\.\d+)?$|^python3(\.\d+)?-(pip|venv|full)$|^python-is-python3$", n)
        ]
        if not apt_python:
            raise NoFix(
                f"how Python is installed in {base.image} cannot be told (a virtualenv may not be possible there)"
            )
        if len({v.replace("pip", "python") for v in versioned}) > 1:
            raise NoFix("the installs use several Python versions")
        interp = versioned[0].replace("pip", "python") if versioned else "python3"
        venv_pkg = f"{interp}-venv"
        before = [i for i in self.infos.values() if i.ins.index < first_pip]
        has_venv = any(
            n in (venv_pkg, "python3-venv", "python3-full") if interp == "python3" else n == venv_pkg
            for i in before
            for n in i.apt_names
        )
        cmd = f"{interp} -m venv --system-site-packages {VENV}"
        if has_venv:
            return cmd
        return f"apt-get update && {APT_INSTALL_DEFAULT} {venv_pkg} && {APT_CLEAN} && {cmd}"

    def additions(self, base: Base, used: set[str], pip_runs: list[RunInfo], copies, counterparts, keep) -> list[str]:
        """Packages the runtime stage needs that the file does not install: tools and libraries the old base had."""
        if base.same or base.family != "python":
            return []
        installed = {n for i in self.infos.values() for n in i.apt_names}
        have = installed | {p for v in counterparts.values() for p in v} | keep | A.preinstalled(base.release, True)
        out: list[str] = []
        for c in sorted(used):
            pkg = A.PYTHON_FULL_ONLY_COMMANDS.get(c)
            if pkg and pkg not in have and pkg not in out:
                out.append(pkg)
        names = [n for info in pip_runs for n in info.reqs + info.file_reqs]
        for name in dict.fromkeys(names):
            for dev in A.PIP_SYSTEM_LIBS.get(name, ()):
                rt = A.runtime_packages(dev, base.release)
                if rt is None:
                    raise NoFix(
                        f"which library `{name}` needs at run time on {base.release or base.runtime} is not known"
                    )
                for p in rt:
                    if p not in have and p not in out:
                        out.append(p)
        return out

    def read_requirements(self, pip_runs: list[RunInfo], copies: list[Instruction]) -> None:
        """Package names and editable directories from the requirements files the installs read."""
        unread: list[str] = []
        for info in pip_runs:
            for path, cwd in info.req_files:
                names, editables = read_requirements_file(
                    self.doc, self.ctx, copies, info.ins, path, cwd, set(), unread
                )
                info.file_reqs += names
                for e in editables:
                    if has_var(e) or e == "/":
                        raise NoFix(f"`{path}` installs `-e {e}`, a directory that cannot be told")
                    if (e, "dir") not in info.artifacts:
                        info.artifacts.append((e, "dir"))
        if unread:
            self.notes.append(
                ", ".join(dict.fromkeys(unread)) + " not read: an editable (-e) install listed there "
                "needs its directory copied from the builder, and a package built from source against "
                "a library of the old base needs that library in the runtime stage"
            )

    def manifest_only(self, c: Instruction) -> bool:
        if c.flag("from") is not None or c.keyword != "COPY":
            return False
        ops = copy_operands(c)
        if not ops or len(ops) < 2:
            return False
        return all(_is_manifest(posixpath.basename(s.rstrip("/"))) for s in ops[:-1])

    def artifacts(self, last_b: int, copies: list[Instruction]) -> tuple[set[int], dict[int, list[str]]]:
        """(indexes of source COPYs the builder's directories replace, {RUN index: paths to copy after it})."""
        doc = self.doc
        roots: list[tuple[str, str, int]] = []  # (path, kind, index of the last RUN producing it)
        for info in sorted(self.infos.values(), key=lambda i: i.ins.index):
            for path, kind in info.artifacts:
                if re.search(r"\s|[\"'\\]", path):
                    raise NoFix(f"the built path `{path}` needs quoting")
                roots = [r for r in roots if r[0] != path] + [(path, kind, info.ins.index)]
        dirs = [r for r in roots if r[1] == "dir"]
        # Outermost directories only; files inside them come along.
        dirs = [d for d in dirs if not any(o is not d and H.path_under(d[0], o[0]) and o[0] != d[0] for o in dirs)]
        files = [f for f in roots if f[1] == "file" and not any(H.path_under(f[0], d[0]) for d in dirs)]
        replaced: set[int] = set()
        lines: dict[int, list[str]] = {}
        for path, _, at in dirs:
            if any(H.path_under(q, path) for q in self.env.paths):
                raise NoFix(f"the build directory {path} contains the virtualenv")
            first = None
            for c in copies:
                if c.index >= at:
                    continue
                ops = copy_operands(c)
                if ops is None or len(ops) < 2 or has_var(ops[-1]):
                    raise NoFix(f"a COPY at line {c.start_line} whose destination cannot be told")
                dest = H.join_path(H.workdir_at(doc, c), ops[-1])
                if H.path_under(dest, path):
                    replaced.add(c.index)
                    first = c.index if first is None else first
                elif H.path_under(path, dest) and dest != path and self.copies_into(c, dest, path):
                    raise NoFix(f"the COPY at line {c.start_line} fills {path} from above ({dest})")
            cloned = any(H.path_under(path, q) for i in self.infos.values() if i.ins.index <= at for q in i.scratch)
            if first is None and not cloned:
                raise NoFix(f"nothing is copied into {path} before it is built")
            for ins in self.instrs:
                if (
                    first is not None
                    and first < ins.index < at
                    and ins.keyword == "RUN"
                    and self.infos[ins.index].kind == "other"
                ):
                    raise NoFix(
                        f"the RUN at line {ins.start_line} runs between the sources' COPY and the build of {path}"
                    )
            lines.setdefault(at, []).append(path)
        for path, _, at in files:
            lines.setdefault(at, []).append(path)
        return replaced, lines

    def copies_into(self, c: Instruction, dest: str, path: str) -> bool:
        """Whether COPY ``c`` (destination ``dest``, an ancestor of ``path``) may put files under ``path``."""
        ops = copy_operands(c) or []
        rel = posixpath.relpath(path, dest).split("/")[0]
        for s in ops[:-1]:
            s = s.rstrip("/") or "."
            if s in (".", "./") or any(ch in s for ch in "*?[") or has_var(s):
                return True
            if posixpath.basename(s) == rel:
                return True
            if self.ctx.context_dir is None or self.ctx.is_dir(s.lstrip("./") or "."):
                return True
        return False

    # -- reporting --------------------------------------------------------------------------------
    def description(
        self, base: Base, remove: set[str], keep: set[str], pip_runs: list[RunInfo], art_lines: dict[int, list[str]]
    ) -> str:
        parts = [f"split into a builder stage ({base.image}) and a runtime stage ({base.runtime})"]
        if pip_runs and self.env.make:
            parts.append(f"Python packages installed into {VENV} and copied")
        parts += self.env.desc
        self.notes += self.env.notes
        if remove:
            parts.append("runtime stage drops " + ", ".join(sorted(remove)))
        if self.emitted:
            parts.append(
                "runtime stage installs "
                + ", ".join(dict.fromkeys(self.emitted))
                + " (run-time libraries and tools the build-only packages or the old base provided)"
            )
        if keep:
            parts.append("keeps " + ", ".join(sorted(keep)) + " (the runtime stage uses them)")
        paths = [p for ps in art_lines.values() for p in ps]
        if paths:
            parts.append("copies the built " + ", ".join(paths) + " from the builder")
        if any(i.drop_words for i in pip_runs):
            parts.append("drops `pip install --user` (an error inside a virtualenv)")
        if base.note:
            self.notes.append(base.note)
        if (
            self.emitted
            and base.release
            and not base.same
            and base.family == "python"
            and not IMG.python_tag(IMG.parse_image(base.expanded).tag).os
        ):
            self.notes.append(
                f"runtime package names are those of {base.release}, the release {base.runtime} is built on today"
            )
        return "; ".join(parts + self.desc)

    def estimate(self, base: Base, remove: set[str], additions: list[str]) -> tuple[tuple[int, int] | None, str]:
        """Bytes saved: the base images' difference plus the build-only packages left out."""
        from ...knowledge import sizes as Z

        parts: list[tuple[int, int]] = []
        basis: list[str] = []
        if not base.same:
            saving = None
            if base.family == "cuda":
                from ...knowledge import cuda_ladder as CL

                saving = CL.saving(base.expanded, base.runtime_expanded)
            if saving is None and base.family in ("cuda", "pytorch", "tensorflow"):
                saving = Z.runtime_saving(base.expanded)
            if saving is None:
                a, b = Z.image_size(base.expanded), Z.image_size(base.runtime_expanded)
                diff = Z.subtract(a, b) if a and b else None
                saving = (diff, f"size of {base.image} minus {base.runtime} (uncompressed)") if diff else None
            if saving is None:
                return None, ""  # the larger part is unknown
            parts.append(saving[0])
            basis.append(saving[1])
        full_python = base.family == "python" and not base.same
        pkgs = sorted(remove)
        sizes = [Z.apt_package_size(n) for n in pkgs]
        known = [r for r in sizes if r]
        if known and not full_python:
            # Dependency closures overlap: the largest alone at the low end, the sum at the high end.
            low = max(r[0] for r in known) if base.same else 0
            parts.append((low, sum(r[1] for r in known)))
            basis.append(
                "installed size of "
                + ", ".join(n for n, r in zip(pkgs, sizes) if r)
                + " (shared dependencies counted once at the low end)"
            )
        if not parts:
            return None, ""
        low, high = Z.add(*parts)
        extra = [Z.apt_package_size(n) for n in additions]
        extra_high = sum(r[1] for r in extra if r)
        low = max(0, low - extra_high)
        if extra_high:
            basis.append(
                "less " + ", ".join(n for n, r in zip(additions, extra) if r) + " installed in the runtime stage"
            )
        if high <= 0:
            return None, ""
        return (low, high), "; ".join(basis)
