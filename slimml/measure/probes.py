"""Scripts run inside containers of the images being compared.

``RESOLVE_SH`` (POSIX sh) finds what the words of the CMD resolve to (path and first line, for
shebangs). ``PROBE_PY`` runs with the interpreter the CMD uses -- one container per check, each
looping over all its modules or files -- and prints one result line ``SLIMML-PROBE <json>`` so that
whatever the image prints on its own is ignored. Modes:

- ``dists``: the interpreter, its paths, and the installed distributions (as pip lists them: the
  first of a name on ``sys.path`` wins) with their top-level modules;
- ``imports``: imports modules in a child interpreter, one after another (a crash or a hang is
  charged to the module that caused it and the rest go on in a new child);
- ``elf``: every ELF file under the Python prefix/site folders and the app folders, and the
  libraries it cannot resolve (``ldd``, or the dynamic loader's ``--list`` where there is no ldd);
- ``files``: path -> (kind, mode, uid, gid, size, sha256) under the app folders;
- ``sources``: the text of the app's small source, script and config files (what ``appscan`` reads).

``NETWATCH_PY`` runs in a sidecar container that shares the network namespace of a container
running the image's real command: it waits for the listening TCP ports (``/proc/net/tcp{,6}``)
to settle, sends ``GET /`` to each, and reports the ports and the shape of each answer.

The probe is plain Python 3.6+ with the standard library only; it never writes to the image.
"""

MARKER = "SLIMML-PROBE "

RESOLVE_SH = r"""
for w in "$@"; do
  p=$(command -v -- "$w" 2>/dev/null || true)
  line=""
  if [ -n "$p" ] && [ -f "$p" ] && [ -r "$p" ]; then
    line=$(head -c 256 "$p" 2>/dev/null | head -n 1 | tr -d '\000\r' | tr '\t' ' ')
  fi
  printf 'SLIMML-RESOLVE\t%s\t%s\t%s\n' "$w" "$p" "$line"
done
"""

PROBE_PY = r'''
import hashlib, json, os, re, stat, subprocess, sys, time

MARKER = "SLIMML-PROBE "
ARGS = json.loads(os.environ.get("SLIMML_PROBE_ARGS") or "{}")
DEADLINE = time.time() + float(ARGS.get("budget", 110))
SKIP_DIRS = set(["/proc", "/sys", "/dev", "/run"])


def emit(obj):
    sys.stdout.write(MARKER + json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def site_dirs():
    out = []
    for p in sys.path:
        if p and os.path.isdir(p) and os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages"):
            out.append(os.path.realpath(p))
    return out


def stdlib_dirs():
    import sysconfig
    out = []
    for key in ("stdlib", "platstdlib"):
        try:
            p = sysconfig.get_paths()[key]
        except Exception:
            continue
        if p and os.path.isdir(p):
            out.append(os.path.realpath(p))
    return out


def info():
    return {"executable": sys.executable, "real_executable": os.path.realpath(sys.executable),
            "version": "%d.%d.%d" % sys.version_info[:3], "prefix": sys.prefix,
            "base_prefix": getattr(sys, "base_prefix", sys.prefix), "path": [p for p in sys.path if p],
            "site": site_dirs(), "stdlib": stdlib_dirs(), "cwd": os.getcwd()}


def tops_of(files, toplevel_text):
    tops = set()
    if toplevel_text:
        for line in toplevel_text.splitlines():
            line = line.strip().replace("/", ".")
            if line:
                tops.add(line.split(".")[0])
        return tops
    for f in files or []:
        parts = str(f).replace("\\", "/").split("/")
        first = parts[0]
        if not first or first in ("..", "__pycache__", "bin") or first.endswith((".dist-info", ".egg-info", ".data")):
            continue
        if len(parts) == 1:
            if first.endswith(".py"):
                tops.add(first[:-3])
            elif first.endswith((".so", ".pyd")):
                tops.add(first.split(".")[0])
        else:
            tops.add(first)
    return tops


def dists():
    found = {}
    order = []
    try:
        import importlib.metadata as md
        for d in md.distributions():
            try:
                name = d.metadata["Name"]
            except Exception:
                name = None
            if not name:
                continue
            key = norm(name)
            if key in found:
                continue
            try:
                files = d.files
            except Exception:
                files = None
            try:
                tl = d.read_text("top_level.txt")
            except Exception:
                tl = None
            loc = getattr(d, "_path", None)
            found[key] = {"name": name, "version": d.version, "top": sorted(tops_of(files, tl)),
                          "location": str(loc.parent) if loc is not None else None}
            order.append(key)
    except ImportError:
        import pkg_resources
        for d in pkg_resources.working_set:
            key = norm(d.project_name)
            if key in found:
                continue
            tl = None
            try:
                if d.has_metadata("top_level.txt"):
                    tl = d.get_metadata("top_level.txt")
            except Exception:
                pass
            found[key] = {"name": d.project_name, "version": d.version, "top": sorted(tops_of([], tl)),
                          "location": d.location}
    return found


CHILD = r"""
import importlib, json, os, sys, time
for p in reversed([p for p in os.environ.get("SLIMML_IMPORT_PATHS", "").split(os.pathsep) if p]):
    if p not in sys.path:
        sys.path.insert(0, p)
out = sys.stdout
sys.stdout = sys.stderr
for m in sys.argv[1:]:
    out.write("SLIMML-IMPORT-START " + m + "\n"); out.flush()
    t = time.time()
    try:
        importlib.import_module(m)
        r = {"module": m, "ok": True}
    except BaseException as e:
        r = {"module": m, "ok": False, "error": ("%s: %s" % (type(e).__name__, e))[:400]}
    r["seconds"] = round(time.time() - t, 3)
    out.write("SLIMML-IMPORT " + json.dumps(r) + "\n"); out.flush()
"""


def imports(modules, per_module, paths=()):
    import threading
    if paths:
        os.environ["SLIMML_IMPORT_PATHS"] = os.pathsep.join(paths)
    results = {}
    todo = list(modules)
    while todo and time.time() < DEADLINE:
        proc = subprocess.Popen([sys.executable, "-c", CHILD] + todo, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
        state = {"current": None, "since": time.time()}
        lines = []

        def reader():
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("SLIMML-IMPORT-START "):
                    state["current"] = line.split(" ", 1)[1].strip()
                    state["since"] = time.time()
                elif line.startswith("SLIMML-IMPORT "):
                    r = json.loads(line.split(" ", 1)[1])
                    results[r["module"]] = r
                    state["current"] = None

        errs = []
        t = threading.Thread(target=reader)
        t.daemon = True
        t.start()
        te = threading.Thread(target=lambda: errs.append(proc.stderr.read()))
        te.daemon = True
        te.start()
        killed = None
        while t.is_alive():
            t.join(0.2)
            now = time.time()
            if state["current"] and now - state["since"] > per_module:
                killed = "timeout"
            elif now > DEADLINE:
                killed = "budget"
            if killed:
                proc.kill()
                break
        t.join(5)
        proc.wait()
        te.join(2)
        cur = state["current"]
        if cur and cur not in results:
            if killed == "timeout":
                results[cur] = {"module": cur, "ok": False, "error": "import did not finish in %ss" % per_module}
            elif killed == "budget":
                results[cur] = {"module": cur, "ok": None, "error": "not checked (time budget)"}
            else:
                tail = (errs[0] if errs else "").strip().splitlines()[-3:]
                results[cur] = {"module": cur, "ok": False,
                                "error": "interpreter died (exit %s) %s" % (proc.returncode, " | ".join(tail))[:400]}
        todo = [m for m in todo if m not in results]
        if killed == "budget":
            break
    for m in todo:
        results.setdefault(m, {"module": m, "ok": None, "error": "not checked (time budget)"})
    return results


def walk_files(roots, skip_site=True):
    """(path, lstat) of regular files and symlinks under roots (each root a folder or a file)."""
    seen = set()
    for root in roots:
        if not os.path.lexists(root):
            continue
        if not os.path.isdir(root) or os.path.islink(root):
            if root not in seen:
                seen.add(root)
                yield root, os.lstat(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            keep = []
            for d in dirnames:
                full = os.path.join(dirpath, d)
                if full in SKIP_DIRS or d == "__pycache__":
                    continue
                if skip_site and d in ("site-packages", "dist-packages"):
                    continue
                if os.path.islink(full):
                    filenames.append(d)
                    continue
                keep.append(d)
            dirnames[:] = sorted(keep)
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                if full in seen:
                    continue
                seen.add(full)
                try:
                    yield full, os.lstat(full)
                except OSError:
                    continue


def is_elf(path):
    """An ELF executable or shared object (relocatable .o files and core dumps are never loaded)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(18)
    except OSError:
        return False
    if len(head) < 18 or head[:4] != b"\x7fELF":
        return False
    e_type = int.from_bytes(head[16:18], "big" if head[5:6] == b"\x02" else "little")
    return e_type in (2, 3)


def find_loader():
    import glob
    for pat in ("/lib64/ld-linux-*.so*", "/lib/ld-linux*.so*", "/lib/*/ld-linux*.so*", "/lib/ld-musl-*.so*",
                "/usr/lib64/ld-linux-*.so*", "/usr/lib/*/ld-linux*.so*"):
        hits = sorted(glob.glob(pat))
        if hits:
            return hits[0]
    return None


def which(name):
    for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":"):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def parse_ldd(text, files):
    out = {}
    cur = files[0] if len(files) == 1 else None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(("\t", " ")) and line.endswith(":") and line[:-1] in files:
            cur = line[:-1]
            out.setdefault(cur, {"missing": [], "dynamic": True})
            continue
        if cur is None:
            continue
        entry = out.setdefault(cur, {"missing": [], "dynamic": True})
        s = line.strip()
        if "not a dynamic executable" in s or "statically linked" in s:
            entry["dynamic"] = False
        elif s.endswith("=> not found"):
            entry["missing"].append(s.split("=>")[0].strip())
    return out


def elf(roots):
    inf = info()
    py_roots = []
    for p in (inf["prefix"], inf["base_prefix"]):
        if p and os.path.realpath(p) not in ("/", "/usr"):
            py_roots.append(os.path.realpath(p))
    py_roots += inf["site"] + inf["stdlib"]
    py_roots.append(inf["real_executable"])
    files, truncated = [], False
    real_seen = set()
    for path, st in walk_files(py_roots + list(roots), skip_site=False):
        if time.time() > DEADLINE - 15:
            truncated = True
            break
        if not stat.S_ISREG(st.st_mode):
            continue
        real = os.path.realpath(path)
        if real in real_seen:
            continue
        real_seen.add(real)
        if st.st_size >= 64 and is_elf(path):
            files.append(path)
    tool = which("ldd")
    loader = None if tool else find_loader()
    result = {"tool": "ldd" if tool else (loader and loader + " --list"), "files": {}, "truncated": truncated,
              "python": inf}
    if not tool and not loader:
        result["error"] = "neither ldd nor a dynamic loader found in the image"
        return result
    batch = 40 if tool else 1
    for i in range(0, len(files), batch):
        if time.time() > DEADLINE - 5:
            result["truncated"] = True
            break
        chunk = files[i:i + batch]
        argv = [tool] + chunk if tool else [loader, "--list"] + chunk
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                               timeout=60, errors="replace")
            text = p.stdout
        except Exception as e:
            text = ""
        parsed = parse_ldd(text, chunk)
        for f in chunk:
            result["files"][f] = parsed.get(f, {"missing": [], "dynamic": False})
    return result


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def files(roots, excludes):
    out, truncated = {}, False
    rx = [re.compile(x) for x in excludes]
    for path, st in walk_files(roots):
        if time.time() > DEADLINE - 5:
            truncated = True
            break
        if any(r.search(path) for r in rx):
            continue
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            out[path] = ["link", mode, st.st_uid, st.st_gid, 0, target]
        elif stat.S_ISREG(st.st_mode):
            try:
                digest = sha256(path)
            except OSError as e:
                digest = "unreadable: %s" % e.strerror
            out[path] = ["file", mode, st.st_uid, st.st_gid, st.st_size, digest]
    return {"files": out, "truncated": truncated, "roots": [r for r in roots if os.path.lexists(r)]}


def sources(roots, extra, exts, max_file, max_total):
    out, total, truncated = {}, 0, False
    exts = tuple(exts)
    # Symlinks are followed (an entrypoint script is often a link); only regular files are read.
    for path in [p for p, _ in walk_files(roots)] + [p for p in extra if os.path.isfile(p)]:
        if time.time() > DEADLINE - 5 or total > max_total:
            truncated = True
            break
        try:
            st = os.stat(path)
        except OSError:
            continue
        if path in out or not stat.S_ISREG(st.st_mode) or st.st_size > max_file:
            continue
        try:
            with open(path, "rb") as fh:
                data = fh.read(max_file + 1)
        except OSError:
            continue
        if not (path.lower().endswith(exts) or data.startswith(b"#!")) or b"\0" in data[:4096]:
            continue
        out[path] = data.decode("utf-8", "replace")
        total += len(data)
    return {"sources": out, "truncated": truncated}


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "dists"
    if mode == "dists":
        emit({"info": info(), "dists": dists(), "exists": dict((p, os.path.exists(p)) for p in ARGS.get("exists", []))})
    elif mode == "imports":
        emit({"info": info(), "imports": imports(ARGS.get("modules", []), float(ARGS.get("per_module", 60)),
                                                 ARGS.get("paths", []))})
    elif mode == "sources":
        emit(sources(ARGS.get("roots", []), ARGS.get("extra", []), ARGS.get("exts", []),
                     int(ARGS.get("max_file", 524288)), int(ARGS.get("max_total", 16777216))))
    elif mode == "elf":
        emit(elf(ARGS.get("roots", [])))
    elif mode == "files":
        emit(files(ARGS.get("roots", []), ARGS.get("excludes", [])))
    else:
        emit({"error": "unknown mode %s" % mode})


main()
'''


NETWATCH_PY = r"""
import http.client, json, os, socket, sys, time

ARGS = json.loads(os.environ.get("SLIMML_PROBE_ARGS") or "{}")


def addr4(h):
    return ".".join(str(int(h[i:i + 2], 16)) for i in (6, 4, 2, 0))


def addr6(h):
    words = []
    for i in range(0, 32, 8):
        w = h[i:i + 8]
        words.append(w[6:8] + w[4:6] + w[2:4] + w[0:2])
    full = "".join(words)
    groups = [full[i:i + 4].lstrip("0") or "0" for i in range(0, 32, 4)]
    text = ":".join(groups)
    if text == "0:0:0:0:0:0:0:0":
        return "::"
    if text == "0:0:0:0:0:0:0:1":
        return "::1"
    return text


def listening():
    only = set(str(p) for p in ARGS.get("only") or ())
    out = {}
    for fam, name in (("tcp", "/proc/net/tcp"), ("tcp6", "/proc/net/tcp6")):
        try:
            with open(name) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":
                continue
            addr, port = parts[1].split(":")
            if only and str(int(port, 16)) not in only:
                continue
            a = addr4(addr) if fam == "tcp" else addr6(addr)
            out.setdefault(str(int(port, 16)), [])
            if a not in out[str(int(port, 16))]:
                out[str(int(port, 16))].append(a)
    return out


def shape(v, depth=0):
    if depth > 4:
        return "..."
    if isinstance(v, dict):
        return dict((str(k), shape(v[k], depth + 1)) for k in sorted(v)[:50])
    if isinstance(v, list):
        return [shape(v[0], depth + 1)] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "null" if v is None else type(v).__name__


def request(port, addrs, timeout):
    host = "127.0.0.1" if any(":" not in a for a in addrs) else "::1"
    for a in addrs:
        if a not in ("0.0.0.0", "::") and not a.startswith("127.") and a != "::1":
            host = a
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        c.request("GET", "/", headers={"User-Agent": "slimml-measure", "Accept": "*/*"})
        r = c.getresponse()
        body = r.read(262144)
        c.close()
    except socket.timeout:
        return {"kind": "timeout"}
    except ConnectionRefusedError:
        return {"kind": "refused"}
    except (http.client.HTTPException, OSError) as e:
        return {"kind": "not-http", "error": type(e).__name__}
    ctype = (r.getheader("Content-Type") or "").split(";")[0].strip().lower()
    res = {"kind": "http", "status": r.status, "ctype": ctype, "length": len(body)}
    text = body.decode("utf-8", "replace")
    try:
        res["shape"] = shape(json.loads(text))
        res["body"] = "json"
    except ValueError:
        res["body"] = "empty" if not text.strip() else ("html" if text.lstrip().startswith("<") else "text")
    res["sample"] = text[:200]
    return res


def main():
    start = time.time()
    deadline = start + float(ARGS.get("budget", 60))
    expected = ARGS.get("expected")
    settle = float(ARGS.get("settle", 2.0))
    give_up = ARGS.get("give_up_after")
    last, since = None, start
    while True:
        now = time.time()
        ports = listening()
        key = sorted(ports)
        if key != last:
            last, since = key, now
        stable = now - since
        if expected is None:
            if key and stable >= settle:
                break
        else:
            if set(expected) <= set(key) and stable >= 0.5:
                break
            if give_up is not None and key and now - start >= float(give_up) and stable >= settle:
                break
        if now >= deadline:
            break
        time.sleep(0.2)
    responses = {}
    for port in sorted(ports, key=int)[:8]:
        responses[port] = request(port, ports[port], float(ARGS.get("request_timeout", 15)))
    sys.stdout.write("SLIMML-PROBE " + json.dumps({"ports": ports, "listen_seconds": round(since - start, 2),
                                                   "waited": round(time.time() - start, 2),
                                                   "responses": responses}) + "\n")
    sys.stdout.flush()


main()
"""


def parse_output(stdout: str) -> dict | None:
    """The probe's result line (the last one), or None."""
    import json

    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER) :])
            except ValueError:
                return None
    return None


def parse_resolve(stdout: str) -> dict[str, tuple[str, str]]:
    """word -> (resolved path or "", first line of the file or "")."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 4 and parts[0] == "SLIMML-RESOLVE":
            out.setdefault(parts[1], (parts[2], "\t".join(parts[3:])))
    return out
