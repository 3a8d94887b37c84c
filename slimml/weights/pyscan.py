"""What Python run at build time downloads: libcst analysis of ``python -c`` code and scripts.

Not regexes: the code is parsed with libcst, calls are named through their imports
(``from transformers import AutoModel as AM`` makes ``AM.from_pretrained`` the call
``transformers.AutoModel.from_pretrained``), and their arguments are evaluated where that can be
done statically:

- literals, string concatenation, f-strings, ``%``/``.format``, ``os.path.join``, ``pathlib.Path``
  and ``/`` on paths;
- variables assigned once (module or function level), ``for x in [...]`` loops (one binding per
  element), parameters of functions called with such values (one binding per call site, so the
  arguments of one call stay together);
- ``os.environ[...]``/``os.environ.get``/``os.getenv`` from the build environment (ENV/ARG
  values the Dockerfile sets), with their defaults; ``sys.argv[n]`` from the command line.

Anything else is *unknown*, and a download call whose relevant arguments are unknown carries a
``problem`` instead of guessed values. libcst is imported lazily: ``slimml`` starts without it.
"""

from __future__ import annotations

import itertools
import json
import posixpath
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..knowledge import weights as K

MAX_ALTERNATIVES = 32
MAX_DEPTH = 16


class Unknown:
    """A value that cannot be known statically, and why."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Unknown({self.why!r})"


@dataclass(frozen=True)
class Ref:
    """A reference to an imported object (``torch.float16``): rendered as its qualified name."""

    qualname: str


@dataclass
class Binding:
    """One concrete call: argument values (a value may be Unknown)."""

    args: list[Any]
    kwargs: dict[str, Any]
    star: bool = False  # the call passes *args/**kwargs: unlisted arguments are unknown

    def get(self, index: int | None, *names: str, default: Any = None) -> Any:
        for n in names:
            if n in self.kwargs:
                return self.kwargs[n]
        if index is not None and index < len(self.args):
            return self.args[index]
        if self.star:
            return Unknown("passed through *args/**kwargs")
        return default


@dataclass
class PyDownload:
    qualname: str  # transformers.AutoModel.from_pretrained
    category: str  # hf-model | hf-snapshot | hf-file | replay | url | package
    line: int  # 1-based, in the analysed code
    text: str  # the call as written
    bindings: list[Binding] = field(default_factory=list)
    problem: str = ""  # why the call cannot be reproduced (set: bindings may be empty)
    saved_to: list[Any] = field(default_factory=list)  # save_pretrained()/save() targets of the result


@dataclass
class ScanResult:
    downloads: list[PyDownload] = field(default_factory=list)
    error: str = ""  # the code does not parse


# -- classification ---------------------------------------------------------------------------------
def classify(qualname: str) -> str | None:
    """The kind of download a call of ``qualname`` does (None: not a download)."""
    root = qualname.split(".", 1)[0]
    if qualname.endswith(".from_pretrained") and root in K.HF_FROM_PRETRAINED_ROOTS:
        return "hf-model"
    if qualname in K.HF_CONSTRUCTORS or qualname in K.HF_PIPELINE_CALLS:
        return "hf-model"
    if qualname in K.HF_HUB_CALLS:
        return "hf-" + K.HF_HUB_CALLS[qualname]
    if qualname in K.PY_URL_CALLS:
        return "url"
    if qualname in K.PY_PACKAGE_DOWNLOADS:
        return "package"
    if replay_spec(qualname) is not None:
        return "replay"
    return None


def replay_spec(qualname: str):
    for key, spec in K.PY_REPLAY_CALLS.items():
        if qualname == key or (key.endswith(".") and qualname.startswith(key) and qualname[len(key) :].isidentifier()):
            return key, spec
    return None


# -- rendering values back to Python -----------------------------------------------------------------
def render(value: Any, imports: set[str]) -> str:
    """Python source for a resolved value (strings double-quoted, so the code fits in sh '...')."""
    if isinstance(value, Ref):
        imports.add(value.qualname.split(".", 1)[0])
        return value.qualname
    if isinstance(value, str):
        return json.dumps(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(render(v, imports) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(render(v, imports) for v in value) + "]"
    raise ValueError(f"cannot render {value!r}")


def render_call(qualname: str, binding: Binding, drop: frozenset[str] = frozenset()) -> str | Unknown:
    """``import x\\nx.y.z(args)`` for one binding; Unknown when an argument is unknown."""
    imports = {qualname.split(".", 1)[0]}
    parts = []
    for v in binding.args:
        if isinstance(v, Unknown):
            return v
        parts.append(render(v, imports))
    for k, v in binding.kwargs.items():
        if k in drop:
            continue
        if isinstance(v, Unknown):
            return v
        parts.append(f"{k}={render(v, imports)}")
    if binding.star:
        return Unknown("the call passes *args/**kwargs")
    head = "\n".join(f"import {m}" for m in sorted(imports))
    return f"{head}\n{qualname}({', '.join(parts)})"


@lru_cache(maxsize=1)
def _roots() -> tuple[str, ...]:
    """Top-level packages of every call ``classify`` knows."""
    names = [
        *K.HF_FROM_PRETRAINED_ROOTS,
        *K.HF_HUB_CALLS,
        *K.HF_CONSTRUCTORS,
        *K.HF_PIPELINE_CALLS,
        *K.PY_REPLAY_CALLS,
        *K.PY_URL_CALLS,
        *K.PY_PACKAGE_DOWNLOADS,
    ]
    return tuple(sorted({n.split(".", 1)[0] for n in names}))


@lru_cache(maxsize=1)
def _last_names() -> tuple[str, ...]:
    """The last part of every call ``classify`` knows (``from_pretrained`` for the HF roots,
    ``models`` for the ``torchvision.models.`` prefix)."""
    names = [
        "from_pretrained",
        *K.HF_HUB_CALLS,
        *K.HF_CONSTRUCTORS,
        *K.HF_PIPELINE_CALLS,
        *K.PY_REPLAY_CALLS,
        *K.PY_URL_CALLS,
        *K.PY_PACKAGE_DOWNLOADS,
    ]
    return tuple(sorted({n.rstrip(".").rsplit(".", 1)[-1] for n in names}))


def may_download(code: str) -> bool:
    """False when ``code`` cannot contain a download ``scan`` would report. A call is only named
    through an import (``qualname``: libcst's IMPORT names), and every part of such a name is
    spelled in the code (in the import or in the attribute chain after it): the package, and the
    call's last part. Saves the libcst import and parse for the common ``python -c 'import torch;
    print(torch.__version__)'`` (``scan``'s parse errors are not reported either way)."""
    return any(r in code for r in _roots()) and any(n in code for n in _last_names())


# -- the analysis ---------------------------------------------------------------------------------------
def scan(code: str, env: dict[str, str] | None = None, argv: list[str | None] | None = None) -> ScanResult:
    """Download calls in ``code`` run with environment ``env`` and ``sys.argv`` = ``argv``."""
    import libcst as cst

    try:
        analyzer = _Analyzer(code, env or {}, argv or ["-c"])
    except cst.ParserSyntaxError as e:
        return ScanResult(error=f"does not parse as Python ({str(e).splitlines()[0]})")
    return ScanResult(downloads=analyzer.downloads())


class _Analyzer:
    def __init__(self, code: str, env: dict[str, str], argv: list[str]):
        import libcst as cst
        from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider, ScopeProvider

        from . import cstvisitors

        cstvisitors.install()  # libcst finds each provider's visitor methods per instance: memoise per class
        self.cst = cst
        self.env = env
        self.argv = argv
        wrapper = MetadataWrapper(cst.parse_module(code))
        self.module = wrapper.module
        # One batched resolve (each resolve() walks the tree again); parents come from the walk
        # below rather than ParentNodeProvider, which would cost another batched visitor.
        meta = wrapper.resolve_many([QualifiedNameProvider, ScopeProvider, PositionProvider])
        self.qn = meta[QualifiedNameProvider]
        self.scopes = meta[ScopeProvider]
        self.pos = meta[PositionProvider]
        calls: list = []
        parents: dict = {}
        stack: list = []

        class _Collect(cst.CSTVisitor):
            def on_visit(self, node) -> bool:
                if stack:
                    parents[node] = stack[-1]
                stack.append(node)
                if isinstance(node, cst.Call):
                    calls.append(node)
                return True

            def on_leave(self, original_node) -> None:
                stack.pop()

        self.module.visit(_Collect())
        self.calls = calls
        self.parents = parents

    # -- names ---------------------------------------------------------------------------------------
    def qualname(self, node) -> str | None:
        from libcst.metadata import QualifiedNameSource

        names = self.qn.get(node) or set()
        if callable(names):  # libcst resolves qualified names lazily
            names = names() or set()
        imported = sorted(q.name for q in names if q.source is QualifiedNameSource.IMPORT)
        if imported:
            return imported[0]
        builtin = sorted(q.name for q in names if q.source is QualifiedNameSource.BUILTIN)
        return "builtins." + builtin[0] if builtin else None

    def code(self, node) -> str:
        return self.module.code_for_node(node)

    # -- the downloads ---------------------------------------------------------------------------------
    def downloads(self) -> list[PyDownload]:
        out = []
        for call in self.calls:
            qn = self.qualname(call.func)
            if qn is None:
                continue
            cat = classify(qn)
            if cat is None:
                continue
            line = self.pos[call].start.line
            dl = PyDownload(qn, cat, line, " ".join(self.code(call).split()))
            if cat == "package":
                dl.problem = "it installs a Python package (a spaCy model), not files a volume could hold"
                out.append(dl)
                continue
            contexts = self.contexts(call, 0)
            if isinstance(contexts, Unknown):
                dl.problem = contexts.why
                out.append(dl)
                continue
            if not contexts:
                continue  # in a function that is never called: the build did not run it
            for ctx in contexts:
                b = self.bind(call, ctx)
                if isinstance(b, Unknown):
                    dl.problem = b.why
                    break
                dl.bindings.extend(b)
                if len(dl.bindings) > MAX_ALTERNATIVES:
                    dl.problem = "too many combinations of argument values"
                    break
            if not dl.problem:
                dl.saved_to = self.saved_to(call, contexts)
            out.append(dl)
        return out

    def bind(self, call, ctx: dict) -> list[Binding] | Unknown:
        """Concrete bindings of ``call``'s arguments (a cross product over alternatives)."""
        slots: list[tuple[str | None, list]] = []
        star = False
        for arg in call.args:
            if arg.star:
                star = True
                continue
            vals = self.ev(arg.value, ctx, 0)
            if isinstance(vals, Unknown):
                vals = [vals]  # kept per argument: only the arguments that matter must be known
            slots.append((arg.keyword.value if arg.keyword else None, vals))
        out = []
        for combo in itertools.product(*[v for _, v in slots]):
            args, kwargs = [], {}
            for (kw, _), val in zip(slots, combo):
                if kw is None:
                    args.append(val)
                else:
                    kwargs[kw] = val
            out.append(Binding(args, kwargs, star))
            if len(out) > MAX_ALTERNATIVES:
                return Unknown("too many combinations of argument values")
        return out

    def saved_to(self, call, contexts) -> list[Any]:
        """Targets of ``.save_pretrained(path)``/``.save(path)`` on the call's result."""
        cst = self.cst
        out: list[Any] = []
        holders = []  # nodes whose value is the call's result
        parent = self.parents.get(call)
        if isinstance(parent, cst.Attribute):
            holders.append(("chain", parent))
        if (
            isinstance(parent, cst.Assign)
            and len(parent.targets) == 1
            and isinstance(parent.targets[0].target, cst.Name)
        ):
            holders.append(("name", parent.targets[0].target))
        for kind, h in holders:
            attrs = []
            if kind == "chain":
                attrs.append(h)
            else:
                scope = self.scopes.get(h)
                if scope is None:
                    continue
                for a in scope.assignments[h.value]:
                    if getattr(a, "node", None) is h:
                        for acc in a.references:
                            p = self.parents.get(acc.node)
                            if isinstance(p, cst.Attribute) and p.value is acc.node:
                                attrs.append(p)
            for at in attrs:
                if at.attr.value not in ("save_pretrained", "save"):
                    continue
                c = self.parents.get(at)
                if not isinstance(c, cst.Call) or not c.args:
                    continue
                first = next(
                    (
                        a
                        for a in c.args
                        if a.keyword is None or a.keyword.value in ("save_directory", "path", "output_path")
                    ),
                    None,
                )
                if first is None:
                    continue
                for ctx in contexts:
                    vals = self.ev(first.value, ctx, 0)
                    if isinstance(vals, Unknown):
                        out.append(vals)
                    else:
                        out.extend(vals)
        return out

    # -- call contexts (parameter bindings) -------------------------------------------------------------
    def _function_of(self, node):
        cst = self.cst
        p = self.parents.get(node)
        while p is not None:
            if isinstance(p, (cst.FunctionDef, cst.Lambda)):
                return p
            if isinstance(p, cst.ClassDef):
                return p
            p = self.parents.get(p)
        return None

    def contexts(self, node, depth: int) -> list[dict] | Unknown:
        """Parameter environments under which ``node`` runs: [{Param node: [values]}]."""
        cst = self.cst
        fn = self._function_of(node)
        if fn is None:
            return [{}]
        if depth > 4:
            return Unknown("called through too many functions")
        if not isinstance(fn, cst.FunctionDef):
            return Unknown("inside a class or lambda")
        if fn.decorators:
            return Unknown(f"inside the decorated function {fn.name.value}() (its arguments come from elsewhere)")
        scope = self.scopes.get(fn)
        sites = []
        if scope is not None:
            for a in scope.assignments[fn.name.value]:
                if getattr(a, "node", None) is not fn:
                    continue
                for acc in a.references:
                    p = self.parents.get(acc.node)
                    if isinstance(p, cst.Call) and p.func is acc.node:
                        sites.append(p)
                    else:
                        return Unknown(f"{fn.name.value}() is passed around, not just called")
        out = []
        for site in sites:
            outer = self.contexts(site, depth + 1)
            if isinstance(outer, Unknown):
                return outer
            for octx in outer:
                env = dict(octx)
                bound = self._bind_params(fn, site, octx)
                if isinstance(bound, Unknown):
                    return bound
                env.update(bound)
                out.append(env)
        return out

    def _bind_params(self, fn, site, ctx) -> dict | Unknown:
        params = list(fn.params.posonly_params) + list(fn.params.params)
        kwonly = list(fn.params.kwonly_params)
        env: dict = {}
        pos_args = [a for a in site.args if a.keyword is None and not a.star]
        kw_args = {a.keyword.value: a for a in site.args if a.keyword is not None}
        starred = any(a.star for a in site.args)
        for i, p in enumerate(params + kwonly):
            name = p.name.value
            if i < len(params) and i < len(pos_args):
                env[p] = ("expr", pos_args[i].value, ctx)
            elif name in kw_args:
                env[p] = ("expr", kw_args[name].value, ctx)
            elif starred:
                env[p] = ("unknown", "passed through *args/**kwargs")
            elif p.default is not None:
                env[p] = ("expr", p.default, {})
            else:
                env[p] = ("unknown", f"parameter {name} is not passed")
        return env

    # -- values ---------------------------------------------------------------------------------------
    def ev(self, node, ctx: dict, depth: int) -> list | Unknown:
        """The possible values of expression ``node`` (alternatives) or Unknown."""
        cst = self.cst
        if depth > MAX_DEPTH:
            return Unknown("the value is too indirect")
        d = depth + 1
        if isinstance(node, cst.SimpleString):
            v = node.evaluated_value
            return [v] if isinstance(v, str) else Unknown("a bytes literal")
        if isinstance(node, (cst.Integer, cst.Float)):
            return [node.evaluated_value]
        if isinstance(node, cst.ConcatenatedString):
            left, right = self.ev(node.left, ctx, d), self.ev(node.right, ctx, d)
            return self._combine(left, right, lambda a, b: a + b)
        if isinstance(node, cst.FormattedString):
            return self._fstring(node, ctx, d)
        if isinstance(node, cst.Name):
            if node.value in ("True", "False", "None"):
                return [{"True": True, "False": False, "None": None}[node.value]]
            return self._name(node, ctx, d)
        if isinstance(node, (cst.List, cst.Tuple)):
            elems = []
            for el in node.elements:
                if isinstance(el, cst.StarredElement):
                    return Unknown("a starred element")
                v = self.ev(el.value, ctx, d)
                if isinstance(v, Unknown):
                    return v
                elems.append(v)
            combos = list(itertools.islice(itertools.product(*elems), MAX_ALTERNATIVES + 1))
            if len(combos) > MAX_ALTERNATIVES:
                return Unknown("too many combinations")
            conv = list if isinstance(node, cst.List) else tuple
            return [conv(c) for c in combos]
        if isinstance(node, cst.Attribute):
            qn = self.qualname(node)
            if qn == "os.sep":
                return ["/"]
            if qn and not qn.startswith("builtins."):
                return [Ref(qn)]
            return Unknown(f"`{self.code(node)}` is computed at run time")
        if isinstance(node, cst.Subscript):
            return self._subscript(node, ctx, d)
        if isinstance(node, cst.Call):
            return self._call_value(node, ctx, d)
        if isinstance(node, cst.BinaryOperation):
            left, right = self.ev(node.left, ctx, d), self.ev(node.right, ctx, d)
            if isinstance(node.operator, cst.Add):
                return self._combine(left, right, _add)
            if isinstance(node.operator, cst.Divide):
                return self._combine(left, right, _path_div)
            if isinstance(node.operator, cst.Modulo):
                return self._combine(left, right, _percent)
            return Unknown(f"`{self.code(node)}` is computed")
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or):
            left = self.ev(node.left, ctx, d)
            if isinstance(left, Unknown):
                return left
            out = [v for v in left if v]
            if any(not v for v in left):
                right = self.ev(node.right, ctx, d)
                if isinstance(right, Unknown):
                    return right
                out += right
            return out
        return Unknown(f"`{' '.join(self.code(node).split())}` is computed")

    def _combine(self, left, right, op) -> list | Unknown:
        if isinstance(left, Unknown):
            return left
        if isinstance(right, Unknown):
            return right
        out = []
        for a in left:
            for b in right:
                try:
                    out.append(op(a, b))
                except (TypeError, ValueError, KeyError, IndexError):
                    return Unknown("an expression mixing types")
        return out[: MAX_ALTERNATIVES + 1] if len(out) <= MAX_ALTERNATIVES else Unknown("too many combinations")

    def _fstring(self, node, ctx, d) -> list | Unknown:
        cst = self.cst
        acc: list = [""]
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                vals = [part.value]
            else:
                if part.conversion or part.format_spec:
                    return Unknown("an f-string with a format spec")
                vals = self.ev(part.expression, ctx, d)
                if isinstance(vals, Unknown):
                    return vals
                if any(isinstance(v, Ref) for v in vals):
                    return Unknown("an f-string of an object")
                vals = [str(v) for v in vals]
            acc = [a + v for a in acc for v in vals]
            if len(acc) > MAX_ALTERNATIVES:
                return Unknown("too many combinations")
        return acc

    def _name(self, node, ctx, d) -> list | Unknown:
        cst = self.cst
        from libcst.metadata import Assignment

        scope = self.scopes.get(node)
        if scope is None:
            return Unknown(f"`{node.value}` is not defined here")
        assigns = [a for a in scope[node.value] if isinstance(a, Assignment)]
        if not assigns:
            return Unknown(f"`{node.value}` is not defined in the code")
        if len(assigns) > 1:
            return Unknown(f"`{node.value}` is assigned more than once")
        target = assigns[0].node
        parent = self.parents.get(target)
        if isinstance(target, cst.Param):
            bound = ctx.get(target)
            if bound is None:
                return Unknown(f"parameter {node.value} is bound at run time")
            if bound[0] == "unknown":
                return Unknown(bound[1])
            return self.ev(bound[1], bound[2], d)
        if isinstance(parent, cst.AssignTarget):
            assign = self.parents.get(parent)
            return self.ev(assign.value, ctx, d)
        if isinstance(parent, cst.AnnAssign) and parent.value is not None:
            return self.ev(parent.value, ctx, d)
        if isinstance(parent, cst.NamedExpr):
            return self.ev(parent.value, ctx, d)
        if isinstance(parent, cst.For) and parent.target is target:
            it = self.ev(parent.iter, ctx, d)
            if isinstance(it, Unknown):
                return it
            out = []
            for seq in it:
                if isinstance(seq, (list, tuple)):
                    out.extend(seq)
                elif isinstance(seq, str):
                    return Unknown(f"`for {node.value}` iterates over the characters of a string")
                else:
                    return Unknown(f"`for {node.value}` iterates over a computed sequence")
            return out if len(out) <= MAX_ALTERNATIVES else Unknown("too many loop values")
        return Unknown(f"`{node.value}` is set by code that is not a plain assignment")

    def _env_lookup(self, name_vals, default) -> list | Unknown:
        if isinstance(name_vals, Unknown):
            return name_vals
        out = []
        for n in name_vals:
            if not isinstance(n, str):
                return Unknown("an environment variable with a computed name")
            if n in self.env:
                out.append(self.env[n])
            elif default is None:
                return Unknown(f"${n} is read from the environment and the Dockerfile does not set it")
            elif isinstance(default, Unknown):
                return default
            else:
                out.extend(default)
        return out

    def _subscript(self, node, ctx, d) -> list | Unknown:
        cst = self.cst
        qn = self.qualname(node.value)
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            idx = node.slice[0].slice.value
            if qn == "os.environ":
                return self._env_lookup(self.ev(idx, ctx, d), None)
            if qn == "sys.argv":
                i = self.ev(idx, ctx, d)
                if isinstance(i, Unknown) or not all(isinstance(x, int) for x in i):
                    return Unknown("sys.argv with a computed index")
                out = []
                for x in i:
                    if -len(self.argv) <= x < len(self.argv):
                        if self.argv[x] is None:
                            return Unknown(f"sys.argv[{x}] comes from a variable without a known value")
                        out.append(self.argv[x])
                    else:
                        return Unknown(f"sys.argv[{x}] is not given on the command line")
                return out
        return Unknown(f"`{self.code(node)}` is computed")

    def _call_value(self, node, ctx, d) -> list | Unknown:
        cst = self.cst
        qn = self.qualname(node.func)
        args = [a for a in node.args if a.keyword is None and not a.star]
        if qn in ("os.environ.get", "os.getenv") and args:
            default = self.ev(args[1].value, ctx, d) if len(args) > 1 else None
            kw = next((a for a in node.args if a.keyword and a.keyword.value == "default"), None)
            if kw is not None:
                default = self.ev(kw.value, ctx, d)
            if default is None:
                return self._env_lookup_or_none(self.ev(args[0].value, ctx, d))
            return self._env_lookup(self.ev(args[0].value, ctx, d), default)
        if any(a.star for a in node.args) or len(args) != len(node.args):
            return Unknown(f"`{' '.join(self.code(node).split())}` is computed")
        vals = [self.ev(a.value, ctx, d) for a in args]
        for v in vals:
            if isinstance(v, Unknown):
                return v
        combos = list(itertools.islice(itertools.product(*vals), MAX_ALTERNATIVES + 1))
        if len(combos) > MAX_ALTERNATIVES:
            return Unknown("too many combinations")
        if qn in ("os.path.join", "posixpath.join") and args:
            return [posixpath.join(*c) for c in combos if all(isinstance(x, str) for x in c)] or Unknown(
                "join of non-strings"
            )
        if qn in ("pathlib.Path", "pathlib.PurePosixPath", "pathlib.PosixPath", "builtins.str"):
            if not args:
                return [""] if qn == "builtins.str" else ["."]
            out = []
            for c in combos:
                if not all(isinstance(x, str) for x in c):
                    return Unknown("a path of non-strings")
                out.append(posixpath.join(*c) if qn != "builtins.str" else c[0])
            return out
        if qn in ("os.path.abspath", "os.path.normpath") and len(args) == 1:
            return [posixpath.normpath(c[0]) for c in combos if isinstance(c[0], str)] or Unknown("not a path")
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
            base = self.ev(node.func.value, ctx, d)
            if isinstance(base, Unknown):
                return base
            out = []
            for b in base:
                for c in combos:
                    try:
                        out.append(b.format(*c))
                    except (AttributeError, IndexError, KeyError, ValueError):
                        return Unknown("a str.format() that cannot be evaluated")
            return out
        return Unknown(f"`{' '.join(self.code(node).split())}` is computed")

    def _env_lookup_or_none(self, name_vals) -> list | Unknown:
        if isinstance(name_vals, Unknown):
            return name_vals
        out = []
        for n in name_vals:
            if not isinstance(n, str):
                return Unknown("an environment variable with a computed name")
            out.append(self.env.get(n))
        return out


def _add(a, b):
    if isinstance(a, Ref) or isinstance(b, Ref):
        raise TypeError
    return a + b


def _path_div(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return posixpath.join(a, b)
    raise TypeError


def _percent(a, b):
    if isinstance(a, str):
        return a % b
    raise TypeError
