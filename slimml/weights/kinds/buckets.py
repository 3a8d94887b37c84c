"""Weights copied from object stores: ``aws s3 cp|sync``, ``gsutil``/``gcloud storage``, ``az
storage blob download``. The init script replays the same command (argv with ``{URI}``/``{PATH}``)."""

from __future__ import annotations

import posixpath

from ...knowledge import weights as K
from ..bake import Bake, abspath, new_bake, url_basename
from ..sources import Source


def object_store(ins, cmd, prog, argv, cwd) -> Bake:
    b = new_bake(ins, cmd)
    if prog == "aws":
        subs, with_value = (("s3", "cp"), ("s3", "sync")), K.AWS_OPTS_WITH_VALUE
        scheme = "s3://"
    elif prog == "gsutil":
        subs, with_value = (("cp",), ("rsync",)), K.GSUTIL_GLOBAL_OPTS_WITH_VALUE
        scheme = "gs://"
    else:
        subs, with_value = (("storage", "cp"), ("storage", "rsync")), frozenset({"--project", "--billing-project"})
        scheme = "gs://"
    # positions of positionals
    pos_idx = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in with_value:
            i += 2
            continue
        if not a.startswith("-"):
            pos_idx.append(i)
        i += 1
    pos = [argv[k] for k in pos_idx]
    for sub in subs:
        for s in range(len(pos) - len(sub) + 1):
            if tuple(pos[s : s + len(sub)]) == sub:
                rest = pos_idx[s + len(sub) :]
                if len(rest) != 2 or not argv[rest[0]].startswith(scheme) or "://" in argv[rest[1]]:
                    b.problem = "not a single download from the bucket to a local path"
                    return b
                src_i, dst_i = rest
                if argv[dst_i] == "-":
                    b.problem = "the object is written to standard output (a pipe): the data is processed, not stored"
                    return b
                recursive = sub[-1] in ("sync", "rsync") or any(x in argv for x in ("--recursive", "-r", "-R"))
                uri, dst = argv[src_i], argv[dst_i]
                if cwd is None:
                    b.problem = "the working directory is not known (cd to a computed path)"
                    return b
                dst_abs = abspath(dst, cwd)
                if not recursive and (dst.endswith("/") or dst in (".", "./")):
                    dst_abs = posixpath.join(dst_abs, url_basename(uri))
                template = ["{URI}" if k == src_i else "{PATH}" if k == dst_i else a for k, a in enumerate(argv)]
                template[0] = prog
                b.sources.append(
                    Source(
                        "cmd",
                        target=dst_abs,
                        is_dir=recursive,
                        uri=uri,
                        argv=template,
                        scheme=scheme,
                        origin=f"{b.label} (line {ins.start_line})",
                    )
                )
                b.targets.append(dst_abs)
                b.caveats.append(
                    f"the container needs the {prog} credentials the build had (e.g. from the "
                    f"orchestrator's environment or a workload identity)"
                )
                return b
    b.problem = "not a download from a bucket"
    return b


def az(ins, cmd, argv, cwd) -> Bake:
    b = new_bake(ins, cmd)
    opts: dict[str, tuple[int, str]] = {}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            opts[a] = (i + 1, argv[i + 1])
            i += 2
            continue
        i += 1
    if "download-batch" in argv:
        dest = opts.get("--destination") or opts.get("-d")
        is_dir = True
    else:
        dest = opts.get("--file") or opts.get("-f")
        is_dir = False
    if dest is None or cwd is None:
        b.problem = "the download's destination is not a plain path"
        return b
    account = (opts.get("--account-name") or ("", ""))[1]
    container = (opts.get("--container-name") or opts.get("-c") or opts.get("--source") or opts.get("-s") or ("", ""))[
        1
    ]
    name = (opts.get("--name") or opts.get("-n") or ("", ""))[1]
    uri = f"https://{account}.blob.core.windows.net/{container}/{name}" if account and container and name else ""
    target = abspath(dest[1], cwd)
    template = ["{PATH}" if k == dest[0] else a for k, a in enumerate(argv)]
    template[0] = "az"
    b.sources.append(
        Source(
            "cmd",
            target=target,
            is_dir=is_dir,
            uri=uri,
            argv=template,
            scheme="https://",
            origin=f"{b.label} (line {ins.start_line})",
        )
    )
    b.targets.append(target)
    b.caveats.append("the container needs the Azure credentials the build had")
    return b
