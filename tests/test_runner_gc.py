"""runner._gc_deferred: the cyclic GC paused during a run, its state restored, garbage cycles still freed."""

from __future__ import annotations

import gc
import weakref

from slimml import runner


class _Node:
    pass


def _cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_state_is_restored_and_nested_use_keeps_it_paused():
    assert gc.isenabled()
    with runner._gc_deferred():
        assert not gc.isenabled()
        with runner._gc_deferred():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one does not re-enable it between files
    assert gc.isenabled()
    gc.disable()
    try:
        with runner._gc_deferred():
            pass
        assert not gc.isenabled()  # a caller that disabled it keeps it disabled
    finally:
        gc.enable()


def test_garbage_cycles_are_freed_once_the_young_generation_is_large(monkeypatch):
    gc.collect()
    monkeypatch.setattr(runner, "GC_YOUNG_LIMIT", 0)
    with runner._gc_deferred():
        ref = _cycle()
        assert ref() is not None  # paused: nothing collects the cycle
    assert ref() is None


def test_a_run_leaves_the_collector_as_it_found_it(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN pip install numpy\n")
    reports = runner.run_fix([tmp_path / "Dockerfile"], runner.Options(findings_only=True))
    assert reports[0].result.findings and gc.isenabled()
