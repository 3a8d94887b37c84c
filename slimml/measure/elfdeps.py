"""Shared libraries a rewritten image lacks, found in the image itself, and the packages that bring them back.

``scan(client, image, roots)`` runs one container of ``image`` that walks ``roots`` (what the runtime
stage copied from its builder: ``COPY --from=`` destinations -- virtualenvs, conda prefixes, built
files), reads the ELF headers of every executable and shared object there with Python's standard
library (no binutils needed: ``readelf`` and ``ldd`` are not in every image, Python is in every image
slimml splits), and resolves each ``DT_NEEDED`` entry the way glibc's loader does:

1. a name with a slash is a path;
2. ``DT_RPATH`` (only when there is no ``DT_RUNPATH``), then ``LD_LIBRARY_PATH``, then ``DT_RUNPATH``,
   with ``$ORIGIN``/``$LIB``/``$PLATFORM`` expanded;
3. the image's loader cache (``ldconfig -p``), then the default directories.

Two more sources count as "found", because a library loaded either way is in memory when the file is:
the wheel-bundled ``<pkg>.libs`` folders (auditwheel's layout) and any library of that name inside the
scanned tree (packages such as torch load their bundled libraries with ``ctypes`` before their
extensions). A candidate must be an ELF file of the needer's class and machine, like the loader checks.

``lookup(client, image, libs, programs)`` runs one container of the builder (the original image) and,
for each missing library, finds the file the loader would load there and the Debian/Ubuntu package
that ships it (``dpkg -S``); for each missing program, ``command -v`` and ``dpkg -S`` the same way.

The in-container scripts are plain Python 3.6+ and never write to the image.
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import dataclass, field

SCAN_PY = r'''
import glob, json, os, stat, struct, subprocess, sys, time

MARKER = "SLIMML-PROBE "  # probes.MARKER: the result line probes.parse_output reads
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 5, 10, 14, 15, 29
SKIP_DIRS = ("/proc", "/sys", "/dev", "/run")
MULTIARCH = {62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu", 3: "i386-linux-gnu", 40: "arm-linux-gnueabihf",
             21: "powerpc64le-linux-gnu", 22: "s390x-linux-gnu", 243: "riscv64-linux-gnu"}


def read_elf(path):
    """dict(cls, data, machine, type, needed, rpath, runpath, soname) of an ELF executable or shared
    object; None for anything else (not ELF, relocatable, core, truncated)."""
    try:
        with open(path, "rb") as f:
            h = f.read(64)
            if len(h) < 52 or h[:4] != b"\x7fELF":
                return None
            cls, data = h[4], h[5]
            if isinstance(cls, str):  # Python 2 never runs this, but be exact about bytes
                cls, data = ord(cls), ord(data)
            end = "<" if data == 1 else ">"
            e_type, machine = struct.unpack_from(end + "HH", h, 16)
            if e_type not in (2, 3):
                return None
            if cls == 2:
                if len(h) < 64:
                    return None
                phoff = struct.unpack_from(end + "Q", h, 32)[0]
                phentsize, phnum = struct.unpack_from(end + "HH", h, 54)
                phfmt, dynfmt = end + "IIQQQQQQ", end + "qQ"
            elif cls == 1:
                phoff = struct.unpack_from(end + "I", h, 28)[0]
                phentsize, phnum = struct.unpack_from(end + "HH", h, 42)
                phfmt, dynfmt = end + "IIIIIIII", end + "iI"
            else:
                return None
            info = {"cls": cls, "data": data, "machine": machine, "type": e_type, "needed": [], "rpath": None,
                    "runpath": None, "soname": None, "dynamic": False}
            if phnum == 0 or phnum > 4096 or phentsize < struct.calcsize(phfmt):
                return info
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
            loads, dyn = [], None
            for i in range(phnum):
                if (i + 1) * phentsize > len(ph):
                    break
                v = struct.unpack_from(phfmt, ph, i * phentsize)
                if cls == 2:
                    p_type, p_offset, p_vaddr, p_filesz = v[0], v[2], v[3], v[5]
                else:
                    p_type, p_offset, p_vaddr, p_filesz = v[0], v[1], v[2], v[4]
                if p_type == PT_LOAD:
                    loads.append((p_vaddr, p_offset, p_filesz))
                elif p_type == PT_DYNAMIC:
                    dyn = (p_offset, p_filesz)
            if dyn is None:
                return info  # statically linked
            info["dynamic"] = True
            size = struct.calcsize(dynfmt)
            f.seek(dyn[0])
            raw = f.read(min(dyn[1], 1 << 20))
            entries = []
            for i in range(len(raw) // size):
                tag, val = struct.unpack_from(dynfmt, raw, i * size)
                if tag == 0:
                    break
                entries.append((tag, val))
            strtab = [v for t, v in entries if t == DT_STRTAB]
            strsz = [v for t, v in entries if t == DT_STRSZ]
            if not strtab:
                return info
            off = None
            for vaddr, offset, filesz in loads:
                if vaddr <= strtab[0] < vaddr + filesz:
                    off = strtab[0] - vaddr + offset
                    break
            if off is None:
                return info
            f.seek(off)
            table = f.read(min(strsz[0] if strsz else 1 << 20, 16 << 20))
    except (OSError, struct.error):
        return None

    def s(i):
        if i >= len(table):
            return None
        j = table.find(b"\0", i)
        return table[i:j if j >= 0 else len(table)].decode("utf-8", "replace")

    for t, v in entries:
        if t == DT_NEEDED:
            n = s(v)
            if n:
                info["needed"].append(n)
        elif t == DT_RPATH:
            info["rpath"] = s(v)
        elif t == DT_RUNPATH:
            info["runpath"] = s(v)
        elif t == DT_SONAME:
            info["soname"] = s(v)
    return info


_HEAD = {}


def matches(path, cls, machine):
    """``path`` is a loadable ELF file of this class and machine (what the loader checks)."""
    key = os.path.realpath(path)
    if key not in _HEAD:
        ok = None
        try:
            with open(key, "rb") as f:
                h = f.read(20)
            if len(h) >= 20 and h[:4] == b"\x7fELF":
                c, d = h[4], h[5]
                if isinstance(c, str):
                    c, d = ord(c), ord(d)
                ok = (c, struct.unpack_from("<H" if d == 1 else ">H", h, 18)[0])
        except (OSError, struct.error):
            ok = None
        _HEAD[key] = ok
    return _HEAD[key] == (cls, machine)


def expand(entry, origin, machine):
    """Directories of one RPATH/RUNPATH list entry, with the loader's dynamic string tokens expanded."""
    out = []
    for lib in ("lib", "lib64"):
        e = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        e = e.replace("${LIB}", lib).replace("$LIB", lib)
        plat = os.uname()[4]
        e = e.replace("${PLATFORM}", plat).replace("$PLATFORM", plat)
        if e not in out:
            out.append(e)
    return out


def ld_cache():
    """soname -> [paths] from ``ldconfig -p`` (None: no ldconfig in the image)."""
    for exe in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            p = subprocess.Popen([exe, "-p"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out = p.communicate(timeout=60)[0].decode("utf-8", "replace")
        except Exception:
            continue
        if p.returncode != 0:
            continue
        cache = {}
        for line in out.splitlines():
            if "=>" not in line or not line.startswith(("\t", " ")):
                continue
            left, path = line.split("=>", 1)
            name = left.strip().split(" (")[0].strip()
            cache.setdefault(name, []).append(path.strip())
        return cache
    return None


def default_dirs(machine, cls):
    arch = MULTIARCH.get(machine)
    out = []
    if arch:
        out += ["/lib/" + arch, "/usr/lib/" + arch]
    out += ["/lib64", "/usr/lib64"] if cls == 2 else []
    return out + ["/lib", "/usr/lib"]


def resolve(name, path, info, env_dirs, cache, tree):
    """How ``name`` (a DT_NEEDED of the file at ``path``) is found: (how, where) or None."""
    cls, machine = info["cls"], info["machine"]
    if "/" in name:
        p = name if name.startswith("/") else os.path.join(os.path.dirname(path), name)
        return ("path", p) if os.path.isfile(p) and matches(p, cls, machine) else None
    origins = [os.path.dirname(path)]
    real = os.path.dirname(os.path.realpath(path))
    if real not in origins:
        origins.append(real)

    def search(lst, how):
        for entry in (lst or "").split(":"):
            if not entry:
                continue
            for origin in origins:
                for d in expand(entry, origin, machine):
                    p = os.path.join(d, name)
                    if os.path.isfile(p) and matches(p, cls, machine):
                        return (how, p)
        return None

    hit = None
    if info.get("rpath") and not info.get("runpath"):
        hit = search(info["rpath"], "rpath")
    hit = hit or search(":".join(env_dirs), "LD_LIBRARY_PATH") or search(info.get("runpath"), "runpath")
    if hit:
        return hit
    for p in (cache or {}).get(name, ()):
        if os.path.isfile(p) and matches(p, cls, machine):
            return ("ld-cache", p)
    for d in default_dirs(machine, cls):
        p = os.path.join(d, name)
        if os.path.isfile(p) and matches(p, cls, machine):
            return ("default-dir", p)
    for p in tree.get(name, ()):
        if matches(p, cls, machine):
            return ("wheel-libs" if os.path.basename(os.path.dirname(p)).endswith(".libs") else "tree", p)
    return None


def walk(roots, deadline):
    seen = set()
    for root in roots:
        if os.path.isfile(root):
            yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if os.path.join(dirpath, d) not in SKIP_DIRS)
            for fn in sorted(filenames):
                p = os.path.join(dirpath, fn)
                if time.time() > deadline:
                    return
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size < 52:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                yield p


def os_release():
    out = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v.strip().strip('"')
    except OSError:
        pass
    return {"id": out.get("ID"), "version_id": out.get("VERSION_ID"), "codename": out.get("VERSION_CODENAME")}


def scan(roots, budget):
    start = time.time()
    deadline = start + budget
    files, truncated = [], False
    for p in walk([r for r in roots if os.path.lexists(r)], deadline):
        info = read_elf(p)
        if info is not None:
            files.append((p, info))
    truncated = time.time() > deadline
    tree = {}
    for p, info in files:
        for n in set([os.path.basename(p), info.get("soname") or ""]):
            if n:
                tree.setdefault(n, []).append(p)
    cache = ld_cache()
    env_dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    missing, via, dynamic = {}, {}, 0
    for p, info in files:
        if not info["dynamic"]:
            continue
        dynamic += 1
        for n in info["needed"]:
            hit = resolve(n, p, info, env_dirs, cache, tree)
            if hit is None:
                missing.setdefault(n, []).append(p)
            else:
                via[hit[0]] = via.get(hit[0], 0) + 1
    return {"files": len(files), "dynamic": dynamic, "missing": missing, "via": via, "ld_cache": cache is not None,
            "truncated": truncated, "seconds": round(time.time() - start, 3), "os": os_release(),
            "apt": any(os.path.exists(d + "/apt-get") for d in ("/usr/bin", "/bin")),
            "machines": sorted(set("%d/%d" % (i["cls"], i["machine"]) for _, i in files))}


def dpkg_owner(path):
    """(package, the path dpkg knows) of the file at ``path``, trying the spellings a merged /usr makes."""
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        for a, b in (("/usr/lib/", "/lib/"), ("/lib/", "/usr/lib/"), ("/usr/bin/", "/bin/"), ("/bin/", "/usr/bin/"),
                     ("/usr/sbin/", "/sbin/"), ("/sbin/", "/usr/sbin/")):
            if c.startswith(a):
                cands.append(b + c[len(a):])
    for c in dict.fromkeys(cands):
        try:
            p = subprocess.Popen(["dpkg", "-S", c], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out = p.communicate(timeout=60)[0].decode("utf-8", "replace")
        except Exception:
            return None, None
        if p.returncode != 0:
            continue
        for line in out.splitlines():
            if line.startswith("diversion ") or ": " not in line:
                continue
            pkgs, where = line.split(": ", 1)
            if where.strip() == c:
                return pkgs.split(",")[0].strip().split(":")[0], c
    return None, None


def lookup(libs, programs, machine, cls):
    cache = ld_cache() or {}
    have_dpkg = any(os.path.exists(d + "/dpkg") for d in ("/usr/bin", "/bin"))
    out = {"libs": {}, "programs": {}, "os": os_release(), "dpkg": have_dpkg}
    info = {"cls": cls, "machine": machine}
    for name in libs:
        hit = resolve(name, "/", dict(info, rpath=None, runpath=None), [d for d in os.environ.get(
            "LD_LIBRARY_PATH", "").split(":") if d], cache, {})
        path = hit[1] if hit else None
        pkg, known = dpkg_owner(path) if path and have_dpkg else (None, None)
        out["libs"][name] = {"path": path, "package": pkg, "dpkg_path": known}
    for name in programs:
        path = None
        for d in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
            p = os.path.join(d, name) if "/" not in name else name
            if os.path.isfile(p) and os.access(p, os.X_OK):
                path = p
                break
        pkg, known = dpkg_owner(path) if path and have_dpkg else (None, None)
        out["programs"][name] = {"path": path, "package": pkg, "dpkg_path": known}
    return out


def main():
    args = json.loads(os.environ.get("SLIMML_ELF_ARGS") or "{}")
    if args.get("mode") == "lookup":
        res = lookup(args.get("libs", []), args.get("programs", []), int(args.get("machine", 62)),
                     int(args.get("cls", 2)))
    else:
        res = scan(args.get("roots", []), float(args.get("budget", 100)))
    sys.stdout.write(MARKER + json.dumps(res, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
'''

# Finds a Python in the image (the split bases all have one; where is theirs to say) and runs the script.
_RUN_SH = (
    "for p in python3 python /usr/local/bin/python3 /usr/bin/python3 /opt/conda/bin/python; do "
    'if command -v "$p" >/dev/null 2>&1; then exec "$p" -c "$SLIMML_ELF_PY"; fi; done; '
    'echo "no python in the image" >&2; exit 127'
)


@dataclass
class ElfScan:
    """What ``scan`` found in one image."""

    image: str
    roots: list[str]
    files: int = 0  # ELF executables and shared objects under the roots
    dynamic: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)  # soname -> files that need it
    via: dict[str, int] = field(default_factory=dict)  # how NEEDED entries resolved -> count
    os: dict = field(default_factory=dict)
    apt: bool = False  # apt-get exists in the image
    machine: tuple[int, int] = (2, 62)  # ELF class, e_machine of the files (x86-64 when none)
    truncated: bool = False
    seconds: float = 0.0  # wall time of the container, start to result
    error: str | None = None


@dataclass
class Owner:
    """Where a missing library or program is in the builder, and the package that ships it."""

    name: str
    kind: str  # "library" | "program"
    path: str | None
    package: str | None
    needed_by: list[str] = field(default_factory=list)

    def why(self) -> str:
        who = (
            f" (needed by {self.needed_by[0]}"
            + (f" and {len(self.needed_by) - 1} more" if len(self.needed_by) > 1 else "")
            + ")"
            if self.needed_by
            else ""
        )
        if self.path is None:
            return f"{self.kind} {self.name}{who}: not in the original either"
        if self.package is None:
            return f"{self.kind} {self.name}{who}: {self.path} in the original, which no Debian/Ubuntu package ships"
        return f"{self.kind} {self.name}{who}: {self.path} in the original, from package {self.package}"

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "package": self.package,
            "needed_by": self.needed_by[:20],
        }


def _run(client, image: str, args: dict, timeout: float, resources) -> tuple[dict | None, str | None, float]:
    from .containers import probe_failure, run_container
    from .probes import parse_output

    start = time.monotonic()
    r = run_container(
        client,
        image,
        entrypoint=["/bin/sh", "-c", _RUN_SH],
        user="0",
        timeout=timeout,
        env={"SLIMML_ELF_PY": SCAN_PY, "SLIMML_ELF_ARGS": json.dumps(args), "PYTHONDONTWRITEBYTECODE": "1"},
        resources=resources,
    )
    seconds = time.monotonic() - start
    out = parse_output(r.stdout)
    return out, (None if out is not None else probe_failure(r)), seconds


def scan(client, image: str, roots: list[str], *, timeout: float = 180.0, resources=None) -> ElfScan:
    """The ELF files under ``roots`` in ``image`` and the libraries they need that the image lacks."""
    out = ElfScan(image, list(roots))
    if not roots:
        return out
    res, err, out.seconds = _run(
        client, image, {"mode": "scan", "roots": list(roots), "budget": max(10.0, timeout - 20)}, timeout, resources
    )
    if res is None:
        out.error = f"the ELF scan did not run in {image}: {err}"
        return out
    out.files, out.dynamic, out.via = res["files"], res["dynamic"], res["via"]
    out.missing = {k: sorted(v) for k, v in sorted(res["missing"].items())}
    out.os, out.apt, out.truncated = res["os"], res["apt"], res["truncated"]
    machines = [tuple(int(x) for x in m.split("/")) for m in res.get("machines") or []]
    if machines:
        out.machine = machines[0]
    return out


def lookup(
    client,
    image: str,
    libs: dict[str, list[str]],
    programs: dict[str, list[str]],
    *,
    machine: tuple[int, int] = (2, 62),
    timeout: float = 120.0,
    resources=None,
) -> tuple[list[Owner], dict]:
    """Owners of the missing ``libs`` (soname -> needers) and ``programs`` (name -> where the app runs it) in
    ``image`` (the builder): what the loader / ``command -v`` finds there, and ``dpkg -S`` of it.
    Returns (owners, {"os": ..., "dpkg": bool, "error": ...})."""
    if not libs and not programs:
        return [], {}
    args = {
        "mode": "lookup",
        "libs": sorted(libs),
        "programs": sorted(programs),
        "cls": machine[0],
        "machine": machine[1],
    }
    res, err, _ = _run(client, image, args, timeout, resources)
    if res is None:
        owners = [Owner(n, "library", None, None, libs[n]) for n in sorted(libs)] + [
            Owner(n, "program", None, None, programs[n]) for n in sorted(programs)
        ]
        return owners, {"error": f"the lookup did not run in {image}: {err}"}
    owners = [Owner(n, "library", v["path"], v["package"], libs[n]) for n, v in sorted(res["libs"].items())]
    owners += [Owner(n, "program", v["path"], v["package"], programs[n]) for n, v in sorted(res["programs"].items())]
    return owners, {"os": res.get("os"), "dpkg": res.get("dpkg")}


def copied_roots(text: str) -> list[str]:
    """Destinations of the final stage's ``COPY --from=`` (what it takes from a builder or another image),
    absolute; [] when there is none or one cannot be told (a variable)."""
    from ..dockerfile import parse
    from ..dockerfile.parser import shell_words

    doc = parse(text)
    if not doc.stages:
        return []
    stage = doc.stages[-1]
    workdir = "/"
    out: list[str] = []
    for ins in stage.instructions:
        if ins.keyword == "WORKDIR" and ins.args.strip():
            w = ins.args.strip().strip("\"'")
            workdir = posixpath.normpath(posixpath.join(workdir, w))
        if ins.keyword != "COPY" or ins.flag("from") is None:
            continue
        ops = list(ins.json) if ins.json is not None else [w for w, _, _ in shell_words(ins.args, raw=False)]
        if len(ops) < 2 or "$" in ops[-1]:
            continue
        dest = posixpath.normpath(posixpath.join(workdir, ops[-1]))
        # A directory's content or the files land under the destination: scanning it covers them (and
        # whatever the base had there, which resolved before the copy).
        out.append(dest)
    return list(dict.fromkeys(out))
