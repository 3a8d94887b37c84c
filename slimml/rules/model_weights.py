"""Model weights baked into the image: moved out, fetched at container start by an init script.

What it does
    Finds the steps of the image's stages (the final stage and the stages it is built FROM) that
    put model weights into a layer:

    - ``COPY``/``ADD`` of weight files (``.safetensors .bin .pt .pth .ckpt .onnx .gguf .ggml .h5
      .keras .pb .tflite .pkl .joblib .msgpack .npz .engine .plan .mar .model``) or of a folder
      of them from the build context -- confirmed by looking at the context, sizes measured
      (files under ``min-bytes``, 10 MB by default, are left alone) -- including what a
      ``COPY . .`` takes along;

    - downloads at build time: ``ADD https://.../model.safetensors``, ``wget``/``curl`` of weight
      URLs, ``huggingface-cli download``/``hf download``, ``git clone`` of a Hugging Face repo,
      ``aws s3 cp|sync``, ``gsutil``/``gcloud storage cp``, ``az storage blob download``,
      ``python -m nltk.downloader``, and Python run at build time (``python -c "..."``,
      ``python download.py`` read from the build context, ``python - <<EOF``) that calls
      ``from_pretrained``, ``snapshot_download``, ``hf_hub_download``, ``SentenceTransformer``,
      ``pipeline(model=...)``, ``torch.hub.load``, ``torchvision.models.*(weights=...)``,
      ``timm.create_model(pretrained=True)``, ``whisper.load_model``, ``nltk.download`` ... The
      Python is analysed with libcst: imports and aliases resolved, constants, simple variables,
      ``os.environ`` defaults (and the Dockerfile's ENV/ARG values), loops over literal lists and
      function parameters followed.

    - ``COPY --from=<stage>`` of what a download stage fetched (any of the downloads above, in a
      stage the image does not build on): the COPY becomes the init script's recipe, the targets
      moved to where the COPY put them; the download stage is dropped when nothing else uses it,
      loses only its downloads when other steps still copy other things from it, else stays.
      Offered only when what the COPY takes is exactly what the downloads wrote: its source is
      the download's folder (or a folder of downloads only), nothing else in the stage writes
      there (another COPY, a conversion or extraction step, a package installer's prefix, a
      redirect, an unknown command), and the stage starts from a base image known to hold
      nothing there;

    - archives: ``ADD model.tar.gz /models/`` of a local tar archive (plain, gzip, bzip2, xz --
      told by its content, as Docker does), which ADD unpacks: listed to confirm it holds weights
      and no code or links; and ``ADD https://.../model.tar.gz``, which Docker does *not* unpack
      (the script fetches the archive file itself; with ``--unpack=true`` it unpacks it); remote
      archives count as weights when their name says so (``model``, ``weights``, ``ckpt`` ...);
      ``wget``/``curl`` of one, unpacked whole with ``tar -x``/``unzip`` into a folder of its own
      and removed in the same RUN, becomes one archive download the script unpacks there;

    - ``git lfs clone`` and ``git clone`` completed by ``git lfs pull`` (also after
      ``GIT_LFS_SKIP_SMUDGE=1``) of a Hugging Face repository: one download of the repository.

    The fix (unsafe: opt in with ``--unsafe-fixes``) removes the baking step -- a whole
    instruction, one source of a COPY, or one command of a RUN (``a && download && b`` becomes
    ``a && b``) -- and writes ``docker-entrypoint-weights.sh`` next to the Dockerfile
    (``docker-entrypoint-weights-gpu.sh`` for ``gpu.Dockerfile``): a POSIX ``sh`` script that,
    for each weight source, fetches it when its target path is missing or empty -- from the same
    source (URL, Hugging Face repo and revision, bucket URI), into the same path -- and then
    ``exec "$@"``. Models loaded with ``from_pretrained`` are fetched with ``huggingface_hub`` into
    the same cache, taking what ``from_pretrained`` loads (configs, tokenizer files, one weight
    format) rather than every file of the repo; other loaders (``torch.hub``, ``timm``,
    ``whisper``, ``nltk``) are replayed as the build called them, guarded by their cache
    directory. Targets and sources are overridable by environment variables documented at the
    top of the script (``WEIGHTS_<NAME>_PATH``, ``_URI``, ``_REPO``, ``_REVISION``; ``HF_HOME``
    for the Hugging Face cache). Downloads use what the image has -- Python's standard library
    or ``huggingface_hub``, else curl, else wget -- and fail clearly when nothing can download.
    Weights that came from the build context have no URL: the script requires them mounted (or a
    ``WEIGHTS_<NAME>_URI`` to fetch from) and says so, naming the path. The Dockerfile gets
    ``COPY docker-entrypoint-weights.sh /usr/local/bin/`` (the file's executable bit comes from
    git: commit it with ``git add --chmod=+x``) and
    ``ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh", <the original ENTRYPOINT>...]``
    with CMD unchanged (a shell-form ENTRYPOINT becomes ``"/bin/sh", "-c", "..."`` -- or the
    stage's SHELL -- which ignores CMD as before; a CMD inherited from a parent stage is
    repeated, since a new ENTRYPOINT resets it); weights from the build context are excluded in
    ``.dockerignore`` (block ``# added by slimml (SLM010)``). The summary says how to run it
    (``docker run -v``, a compose ``volumes:`` entry, a Kubernetes PersistentVolumeClaim) and how
    many bytes left the image.

    With ``weights-delivery = "image"`` (``[rules.SLM010]`` in ``.slimml.toml``) the weights go into
    a weights image instead of an init script: ``weights.Dockerfile`` next to the Dockerfile
    (``FROM scratch`` plus the weights -- a COPY of the build-context path; for downloads, a
    download stage that runs the init script's recipe, ``weights-fetch.sh``, at build time),
    ``weights.Dockerfile.dockerignore`` (only the weights are sent to its build), and deployment
    snippets: ``weights.k8s.yaml`` (a Deployment that mounts the image read-only as an image volume
    where the application reads the weights -- Kubernetes >= 1.31 with the ImageVolume feature
    gate -- and a KServe InferenceService with the modelcar ``oci://`` storage URI) and
    ``weights.compose.yaml`` (an image mount, Docker Engine >= 28; older engines run the service
    ``--volumes-from`` a container of the ``docker-volume`` target). The service Dockerfile loses
    the weights and gets no init script. Downloads replayed with the service's own libraries
    (``torch.hub`` ...) or bucket CLIs keep the init-script form. See docs/weights-image.md.

    What the image can download with at start is read from the final stage (packages it
    installs, commands it runs, a download stage's packages do not count) and its base image:
    ``vllm/vllm-openai``, ``ghcr.io/huggingface/text-generation-inference`` and
    ``huggingface/transformers-*`` ship Python with huggingface_hub; ``pytorch/pytorch`` ships
    Python without it. Where the base image's ENTRYPOINT is the server, it runs after the script:
    TGI's ``text-generation-launcher`` (with its CMD ``--json-output`` when the Dockerfile has no
    CMD); vLLM's depends on the image's version, so the Dockerfile must state it.

    No fix (a note says why) when what is downloaded cannot be determined statically (a model
    name from an environment variable without default, computed paths), when the download is
    entangled with other commands (``||``, pipes, loops) or a later step uses the files (a
    conversion, a warm-up naming the path), when the image has no way to download at start (no
    Python, curl or wget), when the command comes from the base image (no ENTRYPOINT/CMD in the
    Dockerfile), when the base image has no shell, when a ``COPY --from`` takes part of a
    download, more than the downloads (see above) or a path from a build argument without
    default, when an archive also holds code, links or paths outside it, or unpacks next to other
    files, when a ``git lfs pull`` fetches only some files (``--include``), or when the build
    context cannot be inferred from the COPY sources (the init script and the ``.dockerignore``
    lines would have no certain place: pass ``--context``).

Why
    Weights are usually the largest part of an ML image (a 7B model in FP16 is ~14 GB): every
    pull, push and node start moves them again, every new model version is a new image, and a
    rebuild of the code re-uploads them. Kept outside -- in a volume, fetched once -- the image
    stays small and the weights can change without a rebuild.

    Some deployments *want* the weights inside (air-gapped production): keep them with
    ``# slimml: ignore[SLM010]``, or bake them into a separate weights image or stage that the
    service image copies from, or ship them on a mounted volume.

Example
    FROM python:3.11-slim
    RUN pip install --no-cache-dir transformers torch
    RUN python -c "from transformers import AutoModel; AutoModel.from_pretrained('bert-base-uncased')"
    COPY serve.py .
    CMD ["python", "serve.py"]

    or, with a download stage:

    FROM python:3.11-slim AS models
    RUN pip install --no-cache-dir huggingface_hub
    RUN huggingface-cli download sentence-transformers/all-MiniLM-L6-v2 --local-dir /models/embed
    FROM python:3.11-slim
    RUN pip install --no-cache-dir sentence-transformers
    COPY --from=models /models /models
    COPY serve.py .
    CMD ["python", "serve.py"]

Use instead
    FROM python:3.11-slim
    RUN pip install --no-cache-dir transformers torch
    COPY serve.py .
    COPY docker-entrypoint-weights.sh /usr/local/bin/
    ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh"]
    CMD ["python", "serve.py"]

    and run it with a volume on the Hugging Face cache, so the model is downloaded once:
    ``docker run -v hf-cache:/root/.cache/huggingface IMAGE``.

    For the download stage: the stage goes, and the script fetches
    ``sentence-transformers/all-MiniLM-L6-v2`` into ``/models/embed`` at start (``docker run -v
    model-weights:/models/embed IMAGE``):

    FROM python:3.11-slim
    RUN pip install --no-cache-dir sentence-transformers
    COPY serve.py .
    COPY docker-entrypoint-weights.sh /usr/local/bin/
    ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh"]
    CMD ["python", "serve.py"]
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path

from .. import dockerignore as DI
from ..dockerfile import Document, Instruction
from ..dockerfile.shell import stage_shell
from ..engine import Edit, Fix, suppressions
from ..knowledge import weights as K
from . import _helpers as H

CODE = "SLM010"
NAME = "model-weights"
SUMMARY = "Model weights baked into the image (COPY/ADD or downloaded at build time); fetch them at start"
FIX = "unsafe"
OPTIONS = {
    "min-bytes": (
        K.DEFAULT_MIN_BYTES,
        "weight files in the build context smaller than this many bytes stay in the image",
    ),
    "weights-delivery": (
        "init-script",
        'how the weights reach the container: "init-script" (fetched at '
        'start) or "image" (a weights image mounted read-only: Kubernetes '
        "image volume, KServe modelcar, Docker image mount)",
    ),
}

_RULE = H.rule_of(__name__)


def check(doc: Document, ctx):
    min_bytes = _min_bytes(ctx)
    delivery = _delivery(ctx)
    ignore_rel = H.ignore_file(ctx)
    ignore_text = ctx.read_context_file(ignore_rel) if ignore_rel else None
    script_rel = _script_rel(ctx)
    script_text = ctx.read_context_file(script_rel) if isinstance(script_rel, str) else None
    key = ("slm010", doc.text, min_bytes, ignore_text, script_text, delivery, _artifact_texts(ctx, delivery))
    found = ctx.cache.get(key)
    if found is None:
        found = ctx.cache[key] = list(
            _check(doc, ctx, min_bytes, ignore_rel, ignore_text, script_rel, script_text, delivery)
        )
    yield from found


def _check(doc, ctx, min_bytes, ignore_rel, ignore_text, script_rel, script_text, delivery="init-script"):
    from ..weights import detect

    if not any(i.keyword in ("COPY", "ADD", "RUN") for i in doc.instructions):
        return
    bakes = detect.find_bakes(doc, ctx, min_bytes, ignore_text)
    if not bakes:
        return
    _, per = suppressions(doc)
    # (a COPY --from bake is suppressed on its own line or on the download step in its stage)
    bakes = [b for b in bakes if not any(_suppressed(x.instr.index, per) for x in [b, *b.inner])]
    if not bakes:
        return
    rt = _runtime(doc, ctx, bakes)
    for b in bakes:
        if not b.problem and delivery == "init-script":
            b.problem = (
                f"the base image {rt.base} has no /bin/sh to run an init script"
                if not rt.shell
                else _capability_problem(b, rt)
            )
        elif not b.problem:  # the image form runs nothing at start: what matters is its download stage
            from ..weights.artifact import source_problem

            b.problem = source_problem(b.sources)
    fixable = [b for b in bakes if not b.problem]
    fix, note = None, ""
    if fixable and delivery == "image":
        fix, note = _plan_image(doc, ctx, fixable, rt, ignore_rel, ignore_text)
    elif fixable:
        fix, note = _plan(doc, ctx, fixable, rt, ignore_rel, ignore_text, script_rel, script_text)
    estimate_given = False
    for b in bakes:
        kw = {}
        if b.problem:
            kw["note"] = b.problem
        elif fix is None:
            kw["note"] = note
        else:
            kw["fix"] = fix
            if not estimate_given:
                total = sum(x.size for x in fixable if x.size)
                if total and all(x.size for x in fixable if x.kind in ("context", "whole", "archive")):
                    kw["estimate"] = (total, total)
                    kw["estimate_basis"] = (
                        "size of the weight files in the build context that no longer go into the image"
                    )
                    if any(not x.size for x in fixable):
                        kw["estimate_basis"] += (
                            " (the downloads moved out are not counted: their size is unknown offline)"
                        )
                estimate_given = True
        yield H.finding(_RULE, _message(b), b.start, b.end, **kw)


def _runtime(doc, ctx, bakes):
    """What the image can download with -- without the download stages whose COPY the fix removes
    (their packages do not reach the image), and with what known base images ship."""
    from ..dockerfile import parse
    from ..weights import runtime

    gone = sorted(
        {b.instr.index for b in bakes if b.kind == "stage" and b.remove_instr and not b.problem}, reverse=True
    )
    text = doc.text
    for i in gone:
        ins = doc.instructions[i]
        text = text[: ins.line_start] + text[ins.line_end :]
    rt = runtime.analyse(parse(text) if gone else doc, ctx)
    repo = rt.base.split("@", 1)[0]
    if any(repo.startswith(p) and (p.endswith("-") or repo[len(p) :][:1] in ("", ":")) for p in K.HF_HUB_BASES):
        rt.have |= {"python", "hf_hub"}
    return rt


def _suppressed(index: int, per) -> bool:
    if index not in per:
        return False
    codes = per[index]
    return codes is None or any(CODE.startswith(c) for c in codes)


def _message(b) -> str:
    from ..weights.detect import human

    label = b.label if len(b.label) <= 90 else b.label[:87] + "..."
    if b.kind == "archive":
        size = f"{human(b.size)} of " if b.size else ""
        return f"`{label}` unpacks {size}model weights from an archive in the build context into the image"
    if b.kind in ("context", "mixed"):
        size = f"{human(b.size)} of " if b.size else ""
        return f"`{label}` bakes {size}model weights from the build context into the image"
    if b.kind == "stage":
        srcs = list(
            dict.fromkeys(s.repo if s.kind == "hf" else s.uri or s.context_path or s.target for s in b.sources)
        )[:2]
        what = f" ({', '.join(srcs)})" if srcs else ""
        return f"`{label}` copies model weights{what} that a download stage fetched at build time into the image"
    if b.kind == "whole":
        what = ", ".join(b.ignore[:3]) + (", ..." if len(b.ignore) > 3 else "")
        return f"`{label}` copies {human(b.size or 0)} of model weights ({what}) into the image"
    srcs = []
    for s in b.sources[:2]:
        srcs.append(s.repo if s.kind == "hf" else s.uri or s.what or s.target)
    what = f" ({', '.join(srcs)})" if srcs else ""
    return f"`{label}` downloads model weights{what} into the image at build time"


def _capability_problem(b, rt) -> str:
    for s in b.sources:
        if s.kind == "uri" and s.uri.startswith(("http://", "https://")) and not rt.can_http():
            return (
                "the image has no python3, curl or wget to download the weights at start: install one "
                "(e.g. curl) in the final stage first"
            )
        if s.kind == "uri" and s.uri.startswith("s3://") and "aws" not in rt.have:
            return "the image has no aws CLI to download the weights at start"
        if s.kind == "hf" and not rt.can_hf() and not (s.mode == "files" and s.target and rt.can_http()):
            return (
                "the image has no Python with huggingface_hub to download the model at start: install "
                "huggingface_hub in the final stage first"
            )
        prog = s.argv[0] if s.kind == "cmd" and s.argv else ""
        if prog and {"gcloud": "gsutil"}.get(prog, prog) not in rt.have:  # e.g. a download stage's aws CLI
            return f"the image has no {prog} CLI to download the weights at start: install it in the final stage first"
    return ""


# -- where things go ---------------------------------------------------------------------------------------
def script_name(dockerfile) -> str:
    """The init script's file name for a Dockerfile (``gpu.Dockerfile`` -> ``...-gpu.sh``)."""
    if dockerfile is None:
        return K.INIT_SCRIPT_NAME
    name = Path(dockerfile).name
    tag = re.sub(r"(?i)dockerfile", "", name)
    tag = re.sub(r"[^A-Za-z0-9_-]+", "-", tag).strip("-_").lower()
    return f"{K.INIT_SCRIPT_STEM}-{tag}.sh" if tag else K.INIT_SCRIPT_NAME


def _script_rel(ctx) -> str | None:
    """Path of the init script relative to the build context (None: cannot be placed)."""
    if ctx.context_dir is None:
        return None
    name = script_name(ctx.dockerfile)
    if ctx.dockerfile is None:
        return name
    # Next to the Dockerfile as the build names it (a symlinked one: next to the link); relative()
    # resolves the folder.
    rel = ctx.relative(os.path.dirname(os.fspath(ctx.dockerfile)))
    if rel is None:
        return None
    return name if rel in ("", ".") else f"{rel}/{name}"


# -- the fix --------------------------------------------------------------------------------------------------
def _plan(doc, ctx, bakes, rt, ignore_rel, ignore_text, script_rel, script_text):
    from ..weights import initscript

    if ctx.context_note:  # the context folder is a guess: a script placed there may never be sent
        return None, f"the init script has nowhere certain to go: {ctx.side_files_problem()}"
    if script_rel is None:
        if ctx.context_dir is None:
            return None, "the build context is unknown: the init script has nowhere to go"
        return None, "the Dockerfile is outside the build context: the init script next to it could not be COPY'd"
    old_sources: list = []
    if script_text is not None:
        parsed = initscript.manifest(script_text)
        if parsed is None:
            return None, f"{script_rel} exists and was not written by slimml"
        old_sources = parsed
    entry = _entrypoint_edits(doc, script_rel, rt)
    if isinstance(entry, str):
        return None, entry
    entry_edits, caveats = entry
    out = _take_out(doc, ctx, bakes, ignore_rel, ignore_text, script_rel)
    if isinstance(out, str):
        return None, out
    removal, ignore_caveats = out
    new_sources = []
    for b in bakes:
        new_sources.extend(b.sources)
    sources = initscript.merge(old_sources, _dedupe(new_sources))
    text = initscript.generate(sources, posixpath.basename(script_rel))
    edits = removal + list(entry_edits)
    if text != script_text:
        edits.append(Edit(0, len(script_text or ""), text, path=script_rel))
    for b in bakes:
        caveats.extend(b.caveats)
    caveats.extend(ignore_caveats)
    caveats.extend(_stage_caveats(doc, bakes))
    reason = _reason(
        doc,
        bakes,
        sources[len(old_sources) :] or sources,
        script_rel,
        list(dict.fromkeys(caveats)),
        script_text is not None,
    )
    n = len(bakes)
    desc = (
        f"move {'the model weights' if n == 1 else f'{n} weight sources'} out of the image: fetched at start "
        f"by {script_rel}"
    )
    return Fix.unsafe(*edits, reason=reason, description=desc), ""


def _take_out(doc, ctx, bakes, ignore_rel, ignore_text, keep_rel):
    """(edits, caveats) that take the weights out of the service -- the baking steps, the
    ``.dockerignore`` lines (``keep_rel``: a side file the build must still see) -- or why not."""
    from ..weights import detect

    removal = detect.removal_edits(doc, bakes)
    if isinstance(removal, str):
        return removal
    ignore = _ignore_edits(doc, ctx, bakes, ignore_rel, ignore_text, keep_rel)
    if isinstance(ignore, str):
        return ignore
    return list(removal) + list(ignore[0]), ignore[1]


def _dedupe(sources):
    seen, out = set(), []
    for s in sources:
        if s.key() not in seen:
            seen.add(s.key())
            out.append(s)
    return out


# -- ENTRYPOINT / CMD -------------------------------------------------------------------------------------------
def _entrypoint_edits(doc: Document, script_rel: str, rt):
    """Edits that COPY the script and run it as the ENTRYPOINT, keeping what the image runs."""
    from ..weights.detect import image_stages

    chain = image_stages(doc)
    final = doc.final_stage
    BASE = "base"
    ep, cmd = BASE, BASE
    for si in chain:
        cmd_set = False
        for ins in doc.stages[si].instructions:
            if ins.keyword == "ENTRYPOINT":
                ep = ins
                if not cmd_set:
                    cmd = None
            elif ins.keyword == "CMD":
                cmd, cmd_set = ins, True
    dest = K.INIT_SCRIPT_DIR + posixpath.basename(script_rel)
    if isinstance(ep, Instruction) and ep.json and ep.json[0].startswith(K.INIT_SCRIPT_DIR + K.INIT_SCRIPT_STEM):
        return [], []  # already wrapped by an earlier run: the script is regenerated only
    if ep == BASE and cmd == BASE and not K.SERVICE_ENTRYPOINTS.get(rt.base.split(":", 1)[0].split("@", 1)[0]):
        return "the image's command comes from the base image (no ENTRYPOINT or CMD here): add the init script by hand"
    nl = doc.newline
    lower = _lowercase_style(doc)
    kw = (lambda k: k.lower()) if lower else (lambda k: k)
    caveats: list[str] = []
    copy_line = f"{kw('COPY')} {_copy_args(script_rel)}"
    edits: list[Edit] = []
    if isinstance(ep, Instruction) and ep.stage == final.index:
        at = _before_comments(doc, ep)
        indent = doc.line_indent(ep.start)
        edits.append(Edit(at, at, indent + copy_line + nl))
        edits.append(_wrap_in_place(doc, ep, dest))
        return edits, caveats
    words = [dest]
    cmd_words: list[str] = []
    if isinstance(ep, Instruction):
        words += _entry_words(doc, ep)
    elif ep == BASE:
        known = next((v for p, v in K.BASE_ENTRYPOINTS.items() if rt.base.startswith(p)), None)
        repo = rt.base.split(":", 1)[0].split("@", 1)[0]
        none = any(
            repo == p.rstrip("/") or (p.endswith("/") and repo.startswith(p)) for p in K.BASES_WITHOUT_ENTRYPOINT
        )
        service = K.SERVICE_ENTRYPOINTS.get(repo, False)
        if service is None:
            return (
                f"the base image {rt.base} starts its server from its own ENTRYPOINT, which depends on the "
                f"image's version: write that ENTRYPOINT in the Dockerfile first"
            )
        if service:
            words += service[0]  # the server runs after the script, with the CMD as before
            if cmd == BASE:  # a new ENTRYPOINT resets the base image's CMD: repeat it
                cmd_words = service[1]
        elif known:
            caveats.append(
                f"the base image {rt.base} has ENTRYPOINT {known}: the new ENTRYPOINT replaces it "
                f"-- add it after the script if the image needs it"
            )
        elif not none:
            caveats.append("if the base image defines an ENTRYPOINT, add it after the script in the new ENTRYPOINT")
    lines = [copy_line, f"{kw('ENTRYPOINT')} {json.dumps(words)}"]
    if cmd_words:
        lines.append(f"{kw('CMD')} {json.dumps(cmd_words)}")
    if isinstance(cmd, Instruction) and cmd.stage != final.index:
        # Setting ENTRYPOINT in this stage resets the CMD inherited from the parent stage: repeat it.
        # Exec form with the shell the parent stage used: exactly what the image ran before.
        lines.append(f"{kw('CMD')} {json.dumps(_entry_words(doc, cmd))}")
    anchor = next((i for i in final.instructions if i.keyword == "CMD"), None)
    if anchor is not None:
        at = _before_comments(doc, anchor)
        indent = doc.line_indent(anchor.start)
        edits.append(Edit(at, at, "".join(indent + ln + nl for ln in lines)))
    else:
        last = final.instructions[-1]
        at = last.line_end
        lead = "" if doc.text[:at].endswith(("\n", "\r")) else nl
        indent = doc.line_indent(last.start)
        edits.append(Edit(at, at, lead + "".join(indent + ln + nl for ln in lines)))
    return edits, caveats


def _copy_args(script_rel: str) -> str:
    if any(c.isspace() for c in script_rel) or any(c in script_rel for c in "$\"'\\"):
        return json.dumps([script_rel, K.INIT_SCRIPT_DIR])
    return f"{script_rel} {K.INIT_SCRIPT_DIR}"


def _lowercase_style(doc: Document) -> bool:
    raws = [i.keyword_raw for i in doc.instructions]
    return sum(1 for r in raws if r.islower()) > len(raws) / 2


def _before_comments(doc: Document, ins: Instruction) -> int:
    trivia = doc.preceding_trivia(ins)
    if trivia and not any("slimml:" in t.content(doc.text) for t in trivia):
        return trivia[0].line_start
    return ins.line_start


def _entry_words(doc: Document, ep: Instruction) -> list[str]:
    if ep.json is not None:
        return list(ep.json)
    shell = stage_shell(doc, ep) or ["/bin/sh", "-c"]
    return list(shell) + [ep.args.strip()]


def _wrap_in_place(doc: Document, ep: Instruction, dest: str) -> Edit:
    if ep.json is not None:
        args = ep.args
        lb = args.index("[")
        q = args.find('"', lb)
        if ep.json and q >= 0:
            at = ep.args_offset(q)
            return Edit(at, at, json.dumps(dest) + ", ")
        at = ep.args_offset(lb + 1)
        return Edit(at, at, json.dumps(dest))
    words = [dest] + _entry_words(doc, ep)
    s, e = ep.args_span(0, len(ep.args.rstrip()))
    return Edit(s, e, json.dumps(words))


# -- .dockerignore ----------------------------------------------------------------------------------------------
def _ignore_edits(doc, ctx, bakes, ignore_rel, ignore_text, script_rel):
    from ..weights.detect import copy_words

    wanted = [
        p for b in bakes if b.kind in ("context", "whole", "archive") or b.drop or b.inner_remove for p in b.ignore
    ]
    if not wanted:
        return [], []
    if ignore_rel is None:
        if any(b.kind == "whole" for b in bakes):
            return "the build uses an ignore file outside the build context: the weights cannot be excluded here"
        return [], ["the build uses an ignore file outside the build context: exclude the weights there by hand"]
    text = ignore_text or ""
    try:
        pats = DI.parse_patterns(text)
    except DI.PatternError as e:
        return f"{ignore_rel} has a pattern Docker rejects ({e})"
    removed_idx = (
        {b.instr.index for b in bakes if b.remove_instr}
        | {i for b in bakes for i in b.gone}
        | {x.instr.index for b in bakes if b.inner_remove for x in b.inner if x.remove_instr}
    )
    removed_words = {(b.instr.index, w) for b in bakes for w in b.remove_words}
    used: list[str] = []  # context paths other build steps name explicitly
    for ins in doc.instructions:
        if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None and ins.index not in removed_idx:
            for k, (w, _, _) in enumerate(copy_words(ins)[:-1]):
                if (ins.index, k) not in removed_words and not w.startswith("<<") and "://" not in w:
                    used.append(DI.context_source(w))
        if ins.keyword == "RUN":
            for m in H.mounts(ins):
                if m.get("type") == "bind" and "from" not in m:
                    used.append(DI.context_source(m.get("source") or m.get("src") or "."))
    for path, other in ctx.sibling_dockerfiles():
        if ignore_rel != ".dockerignore" and not str(path).endswith(ignore_rel[: -len(".dockerignore")]):
            continue
        if ignore_rel == ".dockerignore" and os.path.exists(f"{path}.dockerignore"):
            continue  # it reads its own ignore file (a weights image's Dockerfile does)
        for ins in other.instructions:
            if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
                for w, _, _ in copy_words(ins)[:-1]:
                    if not w.startswith("<<") and "://" not in w:
                        used.append(DI.context_source(w))
    lines, caveats = [], []
    whole = {p for b in bakes if b.kind == "whole" for p in b.ignore}
    for p in dict.fromkeys(wanted):
        bare = p.rstrip("/")
        if any(u != "." and (u == bare or u.startswith(bare + "/") or bare.startswith(u + "/")) for u in used):
            if p in whole:
                return f"{p} cannot be excluded from the build context: another build step copies it by name"
            caveats.append(f"{p} stays in the build context: another build step copies it")
            continue
        probe = bare if "*" not in bare else bare.replace("*", "x")
        if DI.is_excluded(probe, pats):
            continue
        lines.append(p)
    if script_rel and DI.is_excluded(
        script_rel, pats + [DI.Pattern.make(DI.normalize_line(x)) for x in lines if DI.normalize_line(x)]
    ):
        lines.append("!" + script_rel)
    if not lines:
        return [], caveats
    return [Edit(len(text), len(text), H.ignore_block(text, lines, K.DOCKERIGNORE_HEADER), path=ignore_rel)], caveats


# -- the summary -------------------------------------------------------------------------------------------------
def _stage_caveats(doc, bakes) -> list[str]:
    out = []
    final = doc.final_stage
    user = None
    for ins in final.instructions:
        if ins.keyword == "USER" and ins.args.strip():
            user = ins.args.strip().split(":")[0]
    if user not in (None, "root", "0"):
        out.append(
            f"the image runs as USER {user}: the target directories must be writable by {user} (or be mounted volumes)"
        )
    for x in [x for b in bakes for x in [b, *b.inner]]:  # a download stage's steps too
        if any(m.get("type") == "secret" for m in H.mounts(x.instr)):
            out.append(
                f"line {x.instr.start_line} used a build secret: give the container the same credential "
                f"at run time (e.g. HF_TOKEN, AWS_* from the orchestrator)"
            )
    return out


def _home(doc) -> str:
    user = None
    for ins in doc.final_stage.instructions:
        if ins.keyword == "USER" and ins.args.strip():
            user = ins.args.strip().split(":")[0]
    if user in (None, "root", "0"):
        return "/root"
    return f"/home/{user}" if not user.isdigit() and "$" not in user else "$HOME"


def _hf_mount_path(s, env: dict, home: str) -> str:
    """Where a Hugging Face source without a target lives: its HF_HOME (or its hub cache)."""
    from ..weights.detect import hf_cache_dir

    if s.guard.get("default"):
        return s.guard["default"]
    hf_home = env.get("HF_HOME") or posixpath.join(env.get("XDG_CACHE_HOME") or home + "/.cache", "huggingface")
    cache = hf_cache_dir(env, tuple(s.cache_env), home)
    return hf_home if _inside(cache, hf_home) else cache


def _mount_points(doc, sources, bakes) -> list[tuple[str, str, str]]:
    """(kind, container path, extra) for each place weights go. kind: "volume", "bind" (weights
    from the build context: extra is their context path), or "shared" (the directory holds other
    files of the image, a volume would hide them: extra is the source's variable stem)."""
    from ..weights.detect import build_env

    env = build_env(doc, doc.final_stage.instructions[-1]) if doc.final_stage.instructions else {}
    home = _home(doc)
    taken = _image_dirs(doc, bakes)
    out = []
    for s in sources:
        if s.kind in ("uri", "cmd") and not s.uri and s.context_path:
            if any(b.kind == "archive" and s.context_path in b.ignore for b in bakes):
                out.append(("volume", s.target, ""))  # an unpacked archive: mounted once unpacked (caveat)
                continue
            out.append(("bind", s.target, s.context_path))  # a bind mount of the host's file or folder
            continue
        if s.kind in ("uri", "cmd"):
            path = s.target if s.is_dir else posixpath.dirname(s.target)
            kind, extra = "volume", ""
        elif s.kind == "hf" and s.target:
            path, kind, extra = s.target, "volume", ""
        elif s.kind == "hf":
            kind, extra = "volume", "hf"
            path = _hf_mount_path(s, env, home)
        else:
            d = s.guard.get("default", "")
            val = next((env[n] for n in s.guard.get("env", []) if env.get(n)), None)
            extra = ""
            if val:
                d = posixpath.join(val, s.guard.get("suffix", "")) if s.guard.get("suffix") else val
            elif d.startswith("~hf"):
                d = env.get("HF_HOME") or posixpath.join(env.get("XDG_CACHE_HOME") or home + "/.cache", "huggingface")
                extra = "hf"
            else:
                d = d.replace("~cache", env.get("XDG_CACHE_HOME") or home + "/.cache").replace("~home", home)
            path, kind = d, "volume"
        if path == "/" or any(t == path or _inside(t, path) for t in taken):
            kind, extra = "shared", s.name
        out.append((kind, path, extra))
    # a mount point inside another one is covered by it
    paths = [p for k, p, _ in out if k == "volume"]
    res, seen = [], set()
    for kind, p, extra in out:
        if (kind == "volume" and any(q != p and _inside(p, q) for q in paths)) or (kind, p) in seen:
            continue
        seen.add((kind, p))
        res.append((kind, p, extra))
    return res


def _image_dirs(doc, bakes) -> list[str]:
    """Directories the image fills with other things: COPY/ADD destinations that stay, WORKDIRs."""
    from ..weights.detect import copy_words, dest_of, image_stages

    removed = {b.instr.index for b in bakes if b.remove_instr}
    chain = set(image_stages(doc))
    out = []
    for ins in doc.instructions:
        if ins.stage not in chain:
            continue
        if ins.keyword in ("COPY", "ADD") and ins.index not in removed:
            words = copy_words(ins)
            if len(words) >= 2:
                out.append(dest_of(ins, doc, words[-1][0])[0])
        elif ins.keyword == "WORKDIR" and ins.args.strip():
            out.append(posixpath.normpath(posixpath.join(H.workdir_at(doc, ins), ins.args.strip().strip("'\""))))
    return out


def _inside(p: str, root: str) -> bool:
    return p == root or p.startswith(root.rstrip("/") + "/")


def _stage_summary(b) -> str:
    """What happens to the download stage a ``COPY --from`` bake took its weights from."""
    if b.kind != "stage":
        return ""
    x = b.inner[0] if b.inner else None
    where = f"`{x.label if len(x.label) <= 70 else x.label[:67] + '...'}` (line {x.instr.start_line})" if x else ""
    if b.drop:
        return f" and the download stage it copied from (nothing else uses it); its {where} is the script's recipe"
    if b.inner_remove:
        return f" and, from the download stage (other steps still copy from it), {where}"
    return f"; the script's recipe is {where} of the download stage"


def _removal_summary(bakes) -> tuple[str, str]:
    """(what the fix takes out, how much smaller the image gets) for the summary."""
    from ..weights.detect import human

    parts = []
    for b in bakes:
        label = b.label if len(b.label) <= 70 else b.label[:67] + "..."
        if b.kind == "whole":
            parts.append(f"excludes {', '.join(b.ignore)} from `{label}` (line {b.instr.start_line}) in .dockerignore")
        else:
            parts.append(f"removes `{label}` (line {b.instr.start_line})" + _stage_summary(b))
    removed = "; ".join(parts)
    sizes = [b.size for b in bakes if b.size]
    unknown = [b for b in bakes if not b.size]
    if sizes and not unknown:
        size = f"The image gets {human(sum(sizes))} smaller (measured in the build context)."
    elif sizes:
        size = (
            f"The image gets {human(sum(sizes))} smaller from the build-context weights, plus the size of the "
            f"downloads (unknown offline; `slimml measure` tells)."
        )
    else:
        size = "The image gets smaller by the size of the downloads (unknown offline; `slimml measure` tells)."
    return removed, size


def _reason(doc, bakes, sources, script_rel, caveats, updated: bool) -> str:
    removed, size = _removal_summary(bakes)
    mounts = _mount_points(doc, sources, bakes)
    vols, binds, compose, shared = [], [], [], []
    n = 0
    for kind, path, extra in mounts:
        if kind == "shared":
            shared.append(
                f"{path} also holds other files of the image (a volume there would hide them): the "
                f"weights are fetched into each new container; to keep them, set "
                f"{K.ENV_PREFIX}{extra}_PATH to a path in a directory of their own, point the application there "
                f"and mount a volume on it"
            )
        elif kind == "bind":
            host = "./" + extra.rstrip("/")
            binds.append(f'-v "$PWD/{extra.rstrip("/")}:{path}:ro"')
            compose.append(f"{host}:{path}:ro")
        else:
            if extra != "hf":
                n += 1
            name = "hf-cache" if extra == "hf" else ("model-weights" if n == 1 else f"model-weights-{n}")
            vols.append(f"-v {name}:{path}")
            compose.append(f"{name}:{path}")
    run = " ".join(binds + vols)
    mounted = [p for k, p, _ in mounts if k != "shared"]
    caveats = shared + caveats
    lines = [
        f"Takes the weights out of the image: {removed}.",
        f"At start, {script_rel} ({'updated' if updated else 'new, next to the Dockerfile'}; commit it executable: "
        f"git add --chmod=+x {script_rel}) fetches what is missing -- same sources, same paths -- then runs the "
        f"original command; the first start takes as long as the download (allow for it in health checks "
        f"and start-up probes).",
        size,
    ]
    if mounted:
        lines.insert(
            2,
            f"Run: docker run {run} IMAGE; compose: volumes: [{', '.join(json.dumps(c) for c in compose)}]; "
            f"Kubernetes: mount a PersistentVolumeClaim at {', '.join(mounted)} (ReadWriteMany to share "
            f"it between replicas, or an init container that fills it).",
        )
    if caveats:
        lines.append("Check: " + "; ".join(caveats) + ".")
    lines.append(
        "To keep the weights in the image instead (air-gapped production): put `# slimml: ignore[SLM010]` "
        "above the line, or bake them into a separate weights image or stage the service image copies "
        "from, or ship them on a mounted volume."
    )
    return "\n    ".join(lines)


# -- option checks ------------------------------------------------------------------------------------------------
def _min_bytes(ctx) -> int:
    from ..config import ConfigError

    value = ctx.settings.option(CODE, NAME, "min-bytes", K.DEFAULT_MIN_BYTES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"[rules.{CODE}] min-bytes must be a whole number of bytes (got {json.dumps(value)})")
    return value


def _delivery(ctx) -> str:
    from ..weights.artifact import delivery

    return delivery(ctx.settings.option(CODE, NAME, "weights-delivery", None))


# -- weights-delivery = "image": a weights image mounted read-only (weights/artifact.py) ----------------------------
def _artifact_names(ctx):
    """The weights image's side files next to the Dockerfile (None: no certain place)."""
    from ..weights import artifact

    script_rel = _script_rel(ctx)
    return None if script_rel is None else artifact.names(ctx.dockerfile, posixpath.dirname(script_rel))


def _artifact_texts(ctx, delivery: str) -> tuple:
    names = _artifact_names(ctx) if delivery == "image" else None
    return () if names is None else tuple(ctx.read_context_file(rel) for rel in names.all())


def _plan_image(doc, ctx, bakes, rt, ignore_rel, ignore_text):
    from ..weights import artifact, initscript
    from ..weights.detect import build_env
    from ..weights.runtime import base_capabilities

    if ctx.context_note:
        return None, f"the weights image has nowhere certain to go: {ctx.side_files_problem()}"
    names = _artifact_names(ctx)
    if names is None:
        if ctx.context_dir is None:
            return None, "the build context is unknown: the weights image's Dockerfile has nowhere to go"
        return None, "the Dockerfile is outside the build context: the weights image could not be built from it"
    texts = dict(zip(names.all(), _artifact_texts(ctx, "image")))
    for rel, text in texts.items():
        if text is not None and artifact.MARKER not in text and K.SCRIPT_MARKER not in text:
            return None, f"{rel} exists and was not written by slimml"
    old_sources = initscript.manifest(texts[names.dockerfile] or "", artifact.MARKER) or []
    out = _take_out(doc, ctx, bakes, ignore_rel, ignore_text, None)
    if isinstance(out, str):
        return None, out
    edits, caveats = out
    sources = initscript.merge(old_sources, _dedupe([s for b in bakes for s in b.sources]))
    initscript.assign_names(sources)
    env = build_env(doc, doc.final_stage.instructions[-1]) if doc.final_stage.instructions else {}
    home = _home(doc)
    folder = ctx.realpath(ctx.context_dir).rsplit(os.sep, 1)[-1].lower()
    project = re.sub(r"[^a-z0-9-]+", "-", folder)[:40].strip("-") or "app"  # a Kubernetes name
    plan = artifact.plan(
        sources,
        taken=_image_dirs(doc, bakes),
        env=env,
        home=home,
        hf_path=lambda s: _hf_mount_path(s, env, home),
        base=rt.base,
        base_has_python="python" in base_capabilities(rt.base),
        project=project,
        archive_top=lambda rel: artifact.archive_top(ctx.context_path(rel)),
    )
    if isinstance(plan, str):
        return None, plan
    downloads = [s for s in sources if not (s.kind == "uri" and not s.uri)]
    new = {
        names.dockerfile: artifact.dockerfile(
            plan, names, posixpath.basename(str(ctx.dockerfile or "Dockerfile")), [s.to_json() for s in sources]
        ),
        names.ignore: artifact.ignore_file(plan, names, ignore_text),
        names.k8s: artifact.k8s(plan, names),
        names.compose: artifact.compose(plan, names),
    }
    if downloads:
        new[names.fetch] = initscript.generate(
            downloads, posixpath.basename(names.fetch), build_stage=posixpath.basename(names.dockerfile)
        )
    for rel, text in new.items():
        if text != texts[rel]:
            edits.append(Edit(0, len(texts[rel] or ""), text, path=rel))
    for b in bakes:
        if b.kind != "archive":  # its caveat is how to mount the unpacked archive: the weights image does it
            caveats.extend(b.caveats)
        if b.instr.keyword in ("COPY", "ADD") and (b.instr.flag("chown") or b.instr.flag("chmod")):
            caveats.append(
                f"line {b.instr.start_line} set the files' owner or mode: in the weights image they "
                f"belong to root with the build context's modes -- check that the service's user can "
                f"read them"
            )
        if any(m.get("type") == "secret" for m in H.mounts(b.instr)):
            caveats.append(
                f"line {b.instr.start_line} used a build secret: give the download stage of "
                f"{names.dockerfile} the same credential (RUN --mount=type=secret)"
            )
    removed, size = _removal_summary(bakes)
    lines = [f"Takes the weights out of the image: {removed}.", *artifact.reason_lines(plan, names), size]
    caveats = list(dict.fromkeys(caveats))
    if caveats:
        lines.append("Check: " + "; ".join(caveats) + ".")
    n = len(bakes)
    desc = (
        f"move {'the model weights' if n == 1 else f'{n} weight sources'} out of the image into a weights "
        f"image ({names.dockerfile}) mounted read-only"
    )
    return Fix.unsafe(*edits, reason="\n    ".join(lines), description=desc), ""
