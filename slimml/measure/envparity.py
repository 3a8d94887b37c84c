"""Environment parity (pure comparisons of probe results): the distributions the command's
interpreter sees, the modules that import, and the ELF files whose libraries resolve."""

from __future__ import annotations

import re

from .checks import FAIL, PASS, Check, cap

TOOLING_DISTS = frozenset({"pip", "setuptools", "wheel", "distribute"})
# The wheels that carry CUDA for a framework's GPU build (SLM013 swaps that build for the CPU one):
# nvidia-* libraries, triton (torch's GPU kernel compiler), jax's CUDA plugin.
_CUDA_WHEEL = re.compile(r"^(?:nvidia-[a-z0-9-]+|triton|jax-cuda\d+-(?:plugin|pjrt))$")


def cpu_swaps(db: dict, da: dict) -> tuple[set[str], list[str]]:
    """The differences that make up one deliberate change, a framework's GPU build replaced by the CPU build
    of the same release, as (excused keys, notes). All of:

    - the same public version with a ``+cpu`` local label in the rewrite (``torch 2.1.0 -> 2.1.0+cpu``),
      or ``<name>-gpu`` replaced by ``<name>`` at the same version (onnxruntime);
    - the CUDA wheels, only when the rewrite keeps none of them: a rewrite that loses some and keeps
      others lost a library something still loads -- that stays a failure.
    """
    from packaging.version import InvalidVersion, Version

    def ver(v: str) -> Version | None:
        try:
            return Version(v)
        except InvalidVersion:
            return None

    excused: set[str] = set()
    notes: list[str] = []
    for key in sorted(set(db) & set(da)):
        vb, va = ver(db[key]["version"]), ver(da[key]["version"])
        if vb and va and vb != va and vb.public == va.public and (va.local or "").startswith("cpu"):
            excused.add(key)
            notes.append(f"{db[key]['name']}: {vb} -> {va} (the CPU build of the same release)")
    for key in sorted(set(db) - set(da)):
        if key.endswith("-gpu") and key[:-4] in da and key[:-4] not in db:
            if db[key]["version"] == da[key[:-4]]["version"]:
                excused |= {key, key[:-4]}
                notes.append(f"{db[key]['name']} {db[key]['version']} -> {da[key[:-4]]['name']} (its CPU build)")
    if excused and not any(_CUDA_WHEEL.match(k) for k in da):
        gone = sorted(k for k in set(db) - set(da) if _CUDA_WHEEL.match(k))
        excused |= set(gone)
        if gone:
            notes.append(f"{len(gone)} CUDA wheel(s) not in the rewrite, which has none: {', '.join(gone)}")
    return excused, notes


NOT_MODULES = frozenset({"test", "tests", "testing", "docs", "doc", "examples", "example", "benchmarks", "bin"})


def environment_change(info_b: dict, info_a: dict, gone: list[str] = ()) -> list[str]:
    """Lines saying that the command's interpreter is another one in the rewrite (another
    virtualenv, or the system Python because the venv is gone)."""
    out = []
    eb, ea = info_b.get("executable"), info_a.get("executable")
    pb, pa = info_b.get("prefix"), info_a.get("prefix")
    if pb != pa or eb != ea:
        out.append(
            f"the command's Python is {eb} (environment {pb}) in the original, {ea} (environment {pa}) in the rewrite"
        )
    for g in gone:
        out.append(f"{g}: the original's Python environment is not in the rewrite")
    return out


def compare_dists(
    db: dict, da: dict, info_b: dict | None = None, info_a: dict | None = None, gone: list[str] = ()
) -> Check:
    check = Check("python", PASS, "")
    fails, notes = [], []
    excused, swap_notes = cpu_swaps(db, da)
    notes += swap_notes
    env_lines = environment_change(info_b, info_a, gone) if info_b and info_a else []
    if info_b and info_a:
        vb, va = info_b.get("version", ""), info_a.get("version", "")
        if vb.split(".")[:2] != va.split(".")[:2]:
            fails.append(f"Python {vb} ({info_b.get('executable')}) -> {va} ({info_a.get('executable')})")
        elif vb != va:
            notes.append(f"Python {vb} -> {va} (same minor version)")
    for key in sorted(set(db) | set(da)):
        b, a = db.get(key), da.get(key)
        name = (b or a)["name"]
        if b and a and b["version"] == a["version"] or key in excused:
            continue
        tooling = key in TOOLING_DISTS
        if b and not a:
            (notes if tooling else fails).append(
                f"{name} {b['version']}: missing in the rewrite" + (" (packaging tool)" if tooling else "")
            )
        elif a and not b:
            notes.append(f"{name} {a['version']}: only in the rewrite")
        else:
            (notes if tooling else fails).append(
                f"{name}: {b['version']} -> {a['version']}" + (" (packaging tool)" if tooling else "")
            )
    missing = [f for f in fails if f.endswith(": missing in the rewrite")]
    if env_lines and (gone or missing):
        fails = env_lines + fails  # the cause first: the packages are gone with their environment
    else:
        notes = env_lines + notes
    check.evidence = cap(fails) + cap(notes)
    common = sum(1 for k in db if k in da and db[k]["version"] == da[k]["version"])
    check.details = {
        "failures": fails,
        "notes": notes,
        "before": {k: v["version"] for k, v in db.items()},
        "after": {k: v["version"] for k, v in da.items()},
        "dropped_on_purpose": sorted(k for k in excused if k in db and k not in da),
    }
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} distribution(s) missing or at another version"
    else:
        check.summary = f"{common} distributions, same versions" + (f" ({len(notes)} note(s))" if notes else "")
    return check


def modules_to_import(dists: dict, skip: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The original's importable top-level modules (``skip``: distributions the rewrite drops on purpose)."""
    mods = set()
    for key, d in dists.items():
        if key in TOOLING_DISTS or key in skip:
            continue
        for m in d.get("top") or []:
            if m.isidentifier() and m not in NOT_MODULES and not m.startswith("__"):
                mods.add(m)
    return sorted(mods)


def compare_imports(ib: dict, ia: dict, app_modules: list[str] = ()) -> Check:
    """Every module that imports in the original imports in the rewrite (``app_modules``: the
    app's own, named so in the evidence)."""
    check = Check("imports", PASS, "")
    own = set(app_modules)
    ok_b = sorted(m for m, r in ib.items() if r.get("ok"))
    failed_b = sorted(m for m, r in ib.items() if r.get("ok") is False)
    fails, unknown = [], []
    for m in ok_b:
        r = ia.get(m)
        if r is None or r.get("ok") is None:
            unknown.append(m)
        elif not r.get("ok"):
            label = f"{m} (the app's own module)" if m in own else m
            fails.append(f"{label}: {r.get('error')}")
    check.evidence = cap(fails)
    if unknown:
        check.add(f"not checked in the rewrite (time budget): {', '.join(unknown[:10])}")
    if failed_b:
        check.add(f"fail in the original too (ignored): {', '.join(failed_b[:10])}")
    check.details = {
        "failures": fails,
        "imported_before": ok_b,
        "failed_before": failed_b,
        "unchecked": unknown,
        "app_modules": sorted(own),
    }
    n_own = len([m for m in ok_b if m in own])
    return check.conclude(
        bool(fails),
        f"{len(fails)} of {len(ok_b)} module(s) that import in the original fail in the rewrite",
        f"all {len(ok_b)} top-level modules import" + (f" ({n_own} of the app's own)" if n_own else ""),
        f"{len(ok_b) - len(unknown)} of {len(ok_b)} modules import; {len(unknown)} not checked" if unknown else None,
    )


def elf_key(path: str, info: dict, roots: list[str]) -> str:
    if path == (info or {}).get("real_executable"):
        return "python:interpreter"
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return "site:" + path.rsplit(marker, 1)[1]
    for s in (info or {}).get("stdlib") or []:
        if path.startswith(s.rstrip("/") + "/"):
            return "stdlib:" + path[len(s.rstrip("/")) + 1 :]
    for r in roots:
        if path == r or path.startswith(r.rstrip("/") + "/"):
            return "app:" + path
    for p in ((info or {}).get("prefix"), (info or {}).get("base_prefix")):
        if p and p not in ("/", "/usr") and path.startswith(p.rstrip("/") + "/"):
            return "prefix:" + path[len(p.rstrip("/")) + 1 :]
    return "abs:" + path


def compare_elf(eb: dict, ea: dict, roots: list[str]) -> Check:
    check = Check("native-libs", PASS, "")
    kb = {elf_key(p, eb.get("python"), roots): (p, r) for p, r in (eb.get("files") or {}).items()}
    ka = {elf_key(p, ea.get("python"), roots): (p, r) for p, r in (ea.get("files") or {}).items()}
    fails, broken_before, absent = [], 0, 0
    for key, (_pb, rb) in sorted(kb.items()):
        if rb.get("missing"):
            broken_before += 1
        if key not in ka:
            absent += 1
            continue
        pa, ra = ka[key]
        new = [lib for lib in ra.get("missing") or [] if lib not in (rb.get("missing") or [])]
        if new:
            fails.append(f"{pa}: {', '.join(new)} not found")
    check.evidence = cap(fails)
    if broken_before:
        check.add(f"{broken_before} file(s) already had unresolved libraries in the original (ignored)")
    if absent:
        check.add(f"{absent} ELF file(s) of the original are not in the rewrite (see the python/app-files checks)")
    truncated = eb.get("truncated") or ea.get("truncated")
    if truncated:
        check.add("the scan stopped at the time limit: not every file was checked")
    check.details = {
        "failures": fails,
        "files_before": len(kb),
        "files_after": len(ka),
        "tool": ea.get("tool") or eb.get("tool"),
        "truncated": bool(truncated),
    }
    return check.conclude(
        bool(fails),
        f"{len(fails)} ELF file(s) resolve all libraries in the original but not in the rewrite",
        f"all {len(ka)} ELF files resolve their libraries wherever they did in the original",
        f"no unresolved library in {len(ka)} ELF files checked (scan incomplete)" if truncated else None,
    )


def compare_programs(programs: dict[str, list[str]], res_b: dict, res_a: dict) -> Check:
    """Every program the app, its scripts and its command run that is on the original's PATH is on
    the rewrite's (``res_*``: name -> (path, first line) from ``command -v`` in each image)."""
    check = Check("programs", PASS, "")
    fails, absent_both = [], []
    for name in sorted(programs):
        pb = (res_b.get(name) or ("", ""))[0]
        pa = (res_a.get(name) or ("", ""))[0]
        where = programs[name][0] + (f" (+{len(programs[name]) - 1} more)" if len(programs[name]) > 1 else "")
        if pb and not pa:
            fails.append(f"{name}: {pb} in the original, not found in the rewrite (run at {where})")
        elif not pb:
            absent_both.append(name)
    check.evidence = cap(fails)
    if absent_both:
        check.add(f"not found in the original either (ignored): {', '.join(absent_both[:10])}")
    present = len(programs) - len(absent_both)
    check.details = {
        "failures": fails,
        "programs": {k: v[:3] for k, v in programs.items()},
        "absent_in_both": absent_both,
    }
    if fails:
        check.status = FAIL
        check.summary = f"{len(fails)} program(s) the app runs are missing from the rewrite's PATH"
    else:
        check.summary = f"all {present} program(s) the app, its scripts and its command run are there"
    return check
