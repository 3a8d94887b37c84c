"""The per-class memo of libcst's ``get_visitors`` returns what libcst's own method returns."""

from __future__ import annotations

import inspect
import textwrap

import libcst as cst
from libcst._batched_visitor import BatchableCSTVisitor
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider, ScopeProvider

from slimml.weights import cstvisitors
from slimml.weights.pyscan import scan


def _libcst_visitors(obj) -> dict:
    """libcst 1.9.0's get_visitors, independent of what ``install`` replaced."""
    return dict(
        inspect.getmembers(
            obj,
            lambda m: (
                inspect.ismethod(m)
                and (m.__name__.startswith("visit_") or m.__name__.startswith("leave_"))
                and not getattr(m, "_is_no_op", False)
            ),
        )
    )


def _providers_used() -> list:
    """Every batchable provider instance pyscan's resolve_many asks for visitors (dependencies too)."""
    cstvisitors.install()
    seen: list = []
    memo = BatchableCSTVisitor.get_visitors

    def spy(self):
        seen.append(self)
        return memo(self)

    BatchableCSTVisitor.get_visitors = spy  # type: ignore[method-assign]
    try:
        wrapper = MetadataWrapper(cst.parse_module("import os\nos.getenv('X')\n"))
        wrapper.resolve_many([QualifiedNameProvider, ScopeProvider, PositionProvider])
    finally:
        BatchableCSTVisitor.get_visitors = memo  # type: ignore[method-assign]
    return seen


def test_install_replaces_libcst_method_once():
    cstvisitors.install()
    assert BatchableCSTVisitor.get_visitors is cstvisitors.get_visitors
    assert cstvisitors._original is not None and cstvisitors._original is not cstvisitors.get_visitors
    cstvisitors.install()
    assert BatchableCSTVisitor.get_visitors is cstvisitors.get_visitors


def test_memoised_names_equal_libcst_getmembers_for_every_provider_used():
    providers = _providers_used()
    classes = {type(p) for p in providers}
    assert {ScopeProvider, QualifiedNameProvider} <= classes
    for p in providers:
        mine = cstvisitors.get_visitors(p)
        theirs = _libcst_visitors(p)
        assert list(mine) == list(theirs), type(p)
        assert mine == theirs  # the same bound methods of this instance
        assert all(m.__self__ is p for m in mine.values())
        assert list(cstvisitors.visitor_names(type(p), p)) == list(theirs)


def test_an_instance_with_its_own_visitor_attribute_uses_libcst_method():
    p = _providers_used()[0]
    extra = type(p)()
    extra.visit_Name = lambda node: None  # an instance attribute the class memo knows nothing of
    assert cstvisitors._own_visitors(extra)
    assert cstvisitors.get_visitors(extra) == _libcst_visitors(extra)


def test_scan_results_are_the_same_with_libcst_own_method():
    code = textwrap.dedent("""
        import os
        from transformers import AutoModel as AM
        name = os.environ.get("MODEL", "org/base")
        for rev in ["main", "v2"]:
            AM.from_pretrained(name, revision=rev)
    """)
    cstvisitors.install()
    fast = scan(code, {"MODEL": "org/x"})
    BatchableCSTVisitor.get_visitors = cstvisitors._original  # type: ignore[method-assign]
    try:
        slow = scan(code, {"MODEL": "org/x"})
    finally:
        BatchableCSTVisitor.get_visitors = cstvisitors.get_visitors  # type: ignore[method-assign]
    assert fast == slow
    assert [b.kwargs for b in fast.downloads[0].bindings] == [{"revision": "main"}, {"revision": "v2"}]
