"""A single-stage build that ships its compilers, headers and full base image.

What it does
    For a Dockerfile with one build stage (global ARGs before it are fine) that installs
    Python dependencies with pip and/or build-only apt packages (compilers, ``-dev`` headers,
    git, cmake, ...), rewrites the stage into two:

    - a **builder** stage on the original base (``AS builder``) with everything the installs
      need, in the original order: the apt installs, ``WORKDIR``, the COPYs before the
      installs, ``ENV``/``ARG``/``SHELL``, and the install RUNs -- now installing into a
      virtualenv (``RUN python -m venv /opt/venv`` + ``ENV PATH="/opt/venv/bin:$PATH"``, added
      right before the first pip install);

    - a **runtime** stage on the smaller base (``python:3.11`` -> ``python:3.11-slim``, CUDA and
      PyTorch ``devel`` -> ``runtime``; an unknown base stays as it is, the stage still drops the
      build-only packages) with the apt install reduced to what runs (``libpq-dev`` ->
      ``libpq5``, ``libssl-dev`` -> ``libssl3`` or ``libssl1.1`` depending on the release, gcc
      and friends dropped), ``COPY --from=builder /opt/venv /opt/venv``, and the application's
      instructions in their original order (``WORKDIR``, the source ``COPY``, ``ENV``, ``USER``,
      ``EXPOSE``, ``HEALTHCHECK``, ``CMD``, and the RUNs that are not installs) -- except that its apt
      installs come first, before the application's ``COPY``, so a code edit never re-runs apt. An install
      stays after an ``ENV``, ``ARG``, ``USER``, ``RUN`` or a ``COPY`` into a system directory that comes
      before it (it may depend on them), and after a ``COPY`` or ``WORKDIR`` its own paths depend on; the
      reason then says a code edit re-runs it.

    Files the build produces are copied from the builder: the output of a compiler's ``-o``
    (``nvcc ... -o /app/kernels.so``), and the whole directory of an in-place build
    (``python setup.py build_ext --inplace``, ``cythonize -i``, ``pip install -e .``) in place of
    the source COPYs into it. ``pip install --user`` loses ``--user`` (an error inside a
    virtualenv). Kept instructions keep their text, comments, keyword case, escape character and
    line endings. On a PyTorch image or a Python installed with apt (CUDA, Ubuntu, Debian bases)
    the virtualenv is made with ``--system-site-packages``, so the packages of the base stay
    visible, and the builder installs ``python3-venv`` when the file does not.

    A tool the runtime stage still runs (in a ``RUN``, ``CMD``, ``ENTRYPOINT``, ``HEALTHCHECK``
    or a script they start) keeps its package: a build-only package it comes from is not
    dropped, and one the full ``python`` image had (curl, wget, git, procps ...) is installed in
    the runtime stage. pip packages that link a library of the full ``python`` image
    (``psycopg2`` -> ``libpq5``, ``mysqlclient``, ``python-magic``, ``opencv-python`` ->
    ``libglib2.0-0`` ...) get that library in the runtime stage.

    Installers, one strategy each (``installers/``): pip, ``uv pip`` (pointed at the virtualenv with
    ``--python /opt/venv/bin/python``: ``--system`` skips virtualenvs), poetry and pipenv (``VIRTUAL_ENV`` set in
    both stages, so ``poetry run`` / ``pipenv run`` find the packages) install into the planner's virtualenv. An
    environment the file makes itself is copied as it is, at its own path: a virtualenv (``python -m venv P``,
    ``virtualenv P``, ``uv venv P``; every install must land in it -- P's pip, P activated, or P/bin first on
    PATH), a uv project environment (``uv sync``: ``UV_PROJECT_ENVIRONMENT`` or ``<project>/.venv``, only when
    uv cannot download its own Python), a pdm project's ``.venv``, a conda environment (``-n NAME``, ``-p
    PREFIX``, the ``name:`` of environment.yml) on the same conda base, leaving the package cache behind. The
    copy comes after a COPY that filled the environment's directory first. A runtime stage that runs an
    installer (``uv run``, ``poetry run``) needs it in the copied environment or from a COPY it keeps.

    A CUDA split's runtime stage goes down the image ladder as far as the installs prove
    (``semantics.cuda_stack``): ``-base`` when every CUDA library they need comes from pip wheels (torch's
    ``nvidia-*`` wheels), ``runtime`` (with cuDNN) otherwise or when an install cannot be read.

    An install RUN that clones or downloads what it installs (``git clone``, ``curl -o``, ``wget -O``) keeps
    those in the builder unless the runtime stage names them (an editable install of a clone copies the clone);
    a literal ``ln -s`` in it is re-made in the runtime stage. An app that compiles native code when it runs
    (``torch.compile``, ``cpp_extension.load``, Triton, DeepSpeed ops, CuPy raw kernels, ``numba.cuda``, read
    from the context's Python files) keeps the compilers and the devel image: not split.

    Not split (reported with the reason): installs into conda's base environment, ``pip install
    --target/--prefix``, ``sudo pip`` or an absolute interpreter path outside the copied environment, an install
    that lands outside it, ``make``/``cmake``/``npm`` builds (their outputs cannot be told), install RUNs that
    also run other programs (what they write would stay in the builder), ``-dev`` packages whose runtime
    library is unknown, bases whose Python cannot be told. A file that is already multi-stage is never split;
    its final stage installing build-only packages is reported without a fix.

Why
    Compilers, headers and VCS clients are needed to build wheels, not to run them: gcc, g++,
    and the -dev packages weigh 200-400 MB, and the full ``python`` image (~1 GB) carries all of
    them while ``-slim`` is ~130 MB. CUDA ``devel`` images are several GB larger than
    ``runtime``. With a builder stage those stay out of the image that ships.

    The fix is unsafe: the runtime stage has only the packages listed. A library loaded at run
    time that the old base happened to have, a script calling a tool the slim image lacks, or
    JIT compilation at run time (``torch.compile``, triton, ``cpp_extension.load``) needs a
    package added by hand: build and run the app (or ``slimml measure``) to verify.

Example
    FROM python:3.11
    RUN apt-get update && apt-get install -y gcc libpq-dev && rm -rf /var/lib/apt/lists/*
    WORKDIR /app
    COPY requirements.txt .
    RUN pip install --no-cache-dir -r requirements.txt
    COPY . .
    CMD ["python", "app.py"]

Use instead
    FROM python:3.11 AS builder
    RUN apt-get update && apt-get install -y gcc libpq-dev && rm -rf /var/lib/apt/lists/*
    RUN python -m venv /opt/venv
    ENV PATH="/opt/venv/bin:$PATH"
    WORKDIR /app
    COPY requirements.txt .
    RUN pip install --no-cache-dir -r requirements.txt

    FROM python:3.11-slim
    RUN apt-get update && apt-get install -y libpq5 && rm -rf /var/lib/apt/lists/*
    COPY --from=builder /opt/venv /opt/venv
    ENV PATH="/opt/venv/bin:$PATH"
    WORKDIR /app
    COPY . .
    CMD ["python", "app.py"]
"""

from __future__ import annotations

from ...dockerfile import Document
from ...knowledge import apt_packages as A
from .. import _helpers as H
from .planner import Planner
from .programs import runtime_commands
from .runs import RunReader, _pip_option

CODE = "SLM008"
NAME = "multi-stage"
SUMMARY = "Single-stage build: compilers, headers and the full base image stay in the runtime image"
OPTIONS: dict = {}
FIX = "unsafe"

_RULE = H.rule_of(__name__)
__all__ = ["CODE", "NAME", "SUMMARY", "OPTIONS", "FIX", "check", "_pip_option"]  # _pip_option: for the tests

# The parts: runs.py reads the RUNs, programs.py what the runtime stage still runs, planner.py decides the split,
# packages.py the runtime stage's apt installs, layout.py the text of both stages.


# -- the rule ---------------------------------------------------------------------------------------------
def check(doc: Document, ctx):
    if len(doc.stages) > 1:
        yield from check_final_stage(doc, ctx)
        return
    if len(doc.stages) != 1:
        return
    yield from Planner(doc, ctx).run()


# -- multi-stage files -------------------------------------------------------------------------------------
def check_final_stage(doc: Document, ctx):
    stage = doc.final_stage
    infos = {i.index: RunReader(doc, i).read() for i in stage.instructions if i.keyword == "RUN"}
    copies = [i for i in stage.instructions if i.keyword in ("COPY", "ADD")]
    notes: list[str] = []
    used = runtime_commands(doc, ctx, stage.instructions, infos, copies, notes)
    found = sorted(
        {
            n
            for i in infos.values()
            if i.kind in ("apt", "build")
            for n in i.apt_names
            if A.is_build_only(n) and not set(A.package_commands(n)) & used
        }
    )
    if not found:
        return
    fi = stage.from_instruction
    shown = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "")
    yield H.finding(
        _RULE,
        f"the final stage installs build-only packages ({shown})",
        fi.start,
        fi.end,
        note="install them in a builder stage and copy what they build into this one; slimml does not "
        "rearrange stages of a multi-stage file",
    )
