"""A per-class memo for libcst's ``BatchableCSTVisitor.get_visitors``.

libcst (1.9) finds a metadata provider's ``visit_*``/``leave_*`` methods with
``inspect.getmembers(self, ...)`` on every provider instance, i.e. several times per
``MetadataWrapper.resolve_many``: it walks every attribute of the ~900-method typed visitor
each time, about a fifth of a ``pyscan.scan``. Which methods qualify depends on the class
alone (the predicate tests class-level functions: their name and ``_is_no_op``), so the names
are found once per class and bound with ``getattr`` on each instance.

Installed by ``install()`` when ``pyscan`` first parses code. It falls back to libcst's own
method (``_original``) whenever the memo could differ from it: an instance carrying its own
``visit_``/``leave_`` attributes, an instance without ``__dict__``, or a libcst whose
``get_visitors`` is not the one this replaces (another version: ``install`` does nothing).
"""

from __future__ import annotations

import inspect
from typing import Any

_names: dict[type, tuple[str, ...]] = {}
_original: Any = None


def _is_visitor(m: Any) -> bool:
    """libcst's predicate, verbatim."""
    return (
        inspect.ismethod(m)
        and (m.__name__.startswith("visit_") or m.__name__.startswith("leave_"))
        and not getattr(m, "_is_no_op", False)
    )


def _own_visitors(obj: Any) -> bool:
    """Whether the instance itself (not its class) holds a visitor-named attribute or a visitor
    method, or has no ``__dict__`` to tell: then the class-level memo may not apply."""
    attrs = getattr(obj, "__dict__", None)
    if attrs is None:
        return True
    return any(k.startswith(("visit_", "leave_")) or _is_visitor(v) for k, v in attrs.items())


def visitor_names(cls: type, instance: Any) -> tuple[str, ...]:
    """The names libcst's ``get_visitors`` returns for instances of ``cls`` (found on
    ``instance``, which must carry no visitor attributes of its own)."""
    names = _names.get(cls)
    if names is None:
        names = tuple(name for name, _ in inspect.getmembers(instance, _is_visitor))
        _names[cls] = names
    return names


def get_visitors(self: Any) -> dict[str, Any]:
    if _own_visitors(self):
        own: dict[str, Any] = _original(self)
        return own
    return {name: getattr(self, name) for name in visitor_names(type(self), self)}


def install() -> None:
    """Replace ``BatchableCSTVisitor.get_visitors`` with the memoised one (once, and only if
    libcst's method is the one described above)."""
    global _original
    if _original is not None:
        return
    from libcst._batched_visitor import BatchableCSTVisitor

    current = BatchableCSTVisitor.__dict__.get("get_visitors")
    code = getattr(current, "__code__", None)
    if code is None or current is get_visitors:
        return
    # libcst 1.9.0's method: getmembers with a lambda testing ``_is_no_op``. Another libcst,
    # whose method may select differently, keeps its own.
    if "getmembers" not in code.co_names or not _in_nested(code, "_is_no_op"):
        return
    _original = current
    BatchableCSTVisitor.get_visitors = get_visitors  # type: ignore[method-assign]


def _in_nested(code: Any, name: str) -> bool:
    """Whether ``name`` is named in a function nested in ``code`` (libcst's predicate lambda)."""
    for const in code.co_consts:
        if inspect.iscode(const) and (name in const.co_consts or _in_nested(const, name)):
            return True
    return False
