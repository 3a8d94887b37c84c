"""Files BuildKit refuses are refused (DockerfileError -> one line, exit 2, nothing written), and files it
builds are not: every case is judged statically and, in the Docker tier, by the engine itself."""

from __future__ import annotations

import shutil

import pytest

from slimml.cli import main as cli_main
from slimml.dockerfile import DockerfileError, parse

from .dockerutil import docker

BASE = "FROM python:3.11-slim\n"

# (name, body after FROM, message part). Each is refused by BuildKit's parser or instruction parser.
REJECTED = [
    ("env-no-value", "ENV PATH\n", "must have two arguments"),
    ("env-empty", "ENV\n", "at least one argument"),
    ("env-word-without-eq", "ENV A=1 B\n", "can't find ="),
    ("env-blank-name", "ENV =x\n", "names can not be blank"),
    ("label-no-value", "LABEL a\n", "must have two arguments"),
    ("arg-empty", "ARG\n", "at least one argument"),
    ("arg-blank-name", "ARG =x\n", "names can not be blank"),
    ("cmd-nested-json", 'CMD ["a", ["b"]]\n', "strings only"),
    ("cmd-number-json", 'CMD ["a", 1]\n', "strings only"),
    ("entrypoint-object-json", 'ENTRYPOINT ["a", {"b": 1}]\n', "strings only"),
    ("run-nested-json", 'RUN ["a", ["b"]]\n', "strings only"),
    ("volume-nested-json", 'VOLUME ["/a", 1]\n', "strings only"),
    ("healthcheck-nested-json", 'HEALTHCHECK CMD ["true", 1]\n', "strings only"),
    ("onbuild-nested-json", 'ONBUILD CMD ["a", 1]\n', "strings only"),
    ("shell-not-json", "SHELL /bin/bash -c\n", "JSON form"),
    ("shell-empty", "SHELL []\n", "at least one argument"),
    ("from-as-without-name", "FROM python:3.11-slim AS\n", "one or three arguments"),
    ("from-not-as", "FROM python:3.11-slim AX b\n", "one or three arguments"),
    ("from-bad-stage-name", "FROM python:3.11-slim AS 1bad!\n", "invalid name for build stage"),
    ("from-var-stage-name", "ARG N=b\nFROM python:3.11-slim AS ${N}\n", "invalid name for build stage"),
    ("from-unknown-flag", "FROM --bogus python:3.11-slim\n", "unknown flag: bogus"),
    ("from-flag-case", "FROM --PLATFORM=linux/amd64 python:3.11-slim\n", "unknown flag: PLATFORM"),
    ("copy-one-arg", "COPY .\n", "at least two arguments"),
    ("copy-json-one-arg", 'COPY ["a"]\n', "at least two arguments"),
    ("copy-unknown-flag", "COPY --bogus=1 . /x\n", "unknown flag"),
    ("copy-from-without-value", "COPY --from . /x\n", "missing a value"),
    ("copy-duplicate-flag", "COPY --chown=1 --chown=2 . /x\n", "duplicate flag"),
    ("copy-bool-flag-value", "COPY --link=maybe . /x\n", ""),  # old engines: unknown flag; new: not a boolean
    ("add-unknown-flag", "ADD --bogus . /x\n", "unknown flag"),
    ("run-unknown-flag", "RUN --bogus true\n", "unknown flag"),
    ("run-mount-type", "RUN --mount=type=nope true\n", "unsupported mount type"),
    ("run-mount-key", "RUN --mount=type=cache,target=/x,bogus=1 true\n", "unexpected key"),
    ("run-mount-no-target", "RUN --mount=type=cache true\n", "needs a target"),
    ("run-mount-no-value", "RUN --mount true\n", "missing a value"),
    ("cmd-flag", "CMD --foo echo\n", "unknown flag"),
    ("env-flag", "ENV --x=1 A=1\n", "unknown flag"),
    ("healthcheck-type", "HEALTHCHECK foo\n", "unknown type"),
    ("healthcheck-none-args", "HEALTHCHECK NONE x\n", "takes no arguments"),
    ("healthcheck-cmd-empty", "HEALTHCHECK CMD\n", "missing command"),
    ("healthcheck-duration", "HEALTHCHECK --interval=abc CMD true\n", "not a duration"),
    ("healthcheck-too-short", "HEALTHCHECK --interval=1ns CMD true\n", "less than 1ms"),
    ("healthcheck-retries", "HEALTHCHECK --retries=-1 CMD true\n", "negative"),
    ("healthcheck-unknown-flag", "HEALTHCHECK --bogus=1 CMD true\n", "unknown flag"),
    ("onbuild-from", "ONBUILD FROM x\n", "isn't allowed as an ONBUILD trigger"),
    ("onbuild-onbuild", "ONBUILD ONBUILD RUN x\n", "isn't allowed as an ONBUILD trigger"),
    ("onbuild-maintainer", "ONBUILD MAINTAINER x\n", "isn't allowed as an ONBUILD trigger"),
    ("onbuild-flag", "ONBUILD --x RUN true\n", "unknown flag"),
    ("onbuild-empty", "ONBUILD\n", "at least one argument"),
    ("maintainer-empty", "MAINTAINER\n", "at least one argument"),
    ("expose-empty", "EXPOSE\n", "at least one argument"),
    ("expose-not-a-port", "EXPOSE abc\n", "invalid containerPort"),
    ("expose-too-big", "EXPOSE 70000\n", "invalid containerPort"),
    ("expose-proto", "EXPOSE 80/xyz\n", "invalid proto"),
    ("workdir-empty", "WORKDIR\n", "at least one argument"),
    ("user-empty", "USER\n", "at least one argument"),
    ("volume-empty", "VOLUME\n", "at least one argument"),
    ("volume-empty-path", 'VOLUME [""]\n', "empty string"),
    ("stopsignal-empty", "STOPSIGNAL\n", "at least one argument"),
    ("stopsignal-unknown", "STOPSIGNAL NOPE\n", "invalid signal"),
    ("stopsignal-zero", "STOPSIGNAL 0\n", "invalid signal"),
]

# Built by BuildKit: never refused (the legacy forms, odd-but-valid spellings, values known only at build time).
ACCEPTED = [
    ("env-legacy", "ENV A b c\n"),
    ("label-legacy", "LABEL a b\n"),
    ("arg-two-names", "ARG A B\n"),
    ("arg-many", "ARG A=1 B=2\n"),
    ("cmd-json-then-text", 'CMD ["echo"] hi\n'),
    ("cmd-nan-is-shell-form", 'CMD ["a", NaN]\n'),
    ("cmd-single-quotes", "CMD ['a']\n"),
    ("cmd-empty", "CMD\n"),
    ("from-as-mixed-case", "FROM python:3.11-slim As Builder\n"),
    ("from-platform", "FROM --platform=linux/amd64 python:3.11-slim\n"),
    ("copy-chown-chmod", "COPY --chown=1:1 --chmod=755 a /x\n"),
    ("copy-from-empty-value", "COPY --from= a /x\n"),
    ("run-mount-cache", "RUN --mount=type=cache,target=/root/.cache true\n"),
    ("run-mount-secret", "RUN --mount=type=secret,id=x true\n"),
    ("healthcheck-lower", "HEALTHCHECK --interval=5s cmd true\n"),
    ("healthcheck-none-flag", "HEALTHCHECK --interval=5s NONE\n"),
    ("expose-range-upper", "EXPOSE 80-81/TCP\n"),
    ("expose-var", "ARG P=80\nEXPOSE $P\n"),
    ("expose-host-port", "EXPOSE 8080:80\n"),
    ("stopsignal-forms", "STOPSIGNAL sigterm\n"),
    ("stopsignal-rt", "STOPSIGNAL RTMIN+3\n"),
    ("stopsignal-var", "ARG S=TERM\nSTOPSIGNAL $S\n"),
    ("maintainer-words", "MAINTAINER a b\n"),
    ("workdir-words", "WORKDIR a b\n"),
    ("user-var", "ARG U\nUSER $U\n"),
    ("onbuild-trigger-flags-later", "ONBUILD COPY --bogus . /x\n"),
    ("duplicate-stage-name", "FROM python:3.11-slim AS a\nFROM python:3.11-slim AS a\n"),
]

# Accepted by current BuildKit although this engine's older frontend refuses them: never refused here.
NEWER_FRONTEND = [
    "COPY --link a /x\n",
    "ADD --checksum=sha256:abc https://example.com/x /x\n",
    "RUN --network=none true\n",
    "RUN --security=insecure true\n",
    "COPY --parents a /x\n",
    "COPY <<EOF /x\nhi\nEOF\n",
]


def _text(body: str) -> str:
    return body if body.startswith(("FROM", "ARG N")) else BASE + body


@pytest.mark.parametrize("name,body,msg", REJECTED, ids=[r[0] for r in REJECTED])
def test_refused_statically(name, body, msg):
    with pytest.raises(DockerfileError, match="BuildKit refuses") as e:
        parse(_text(body))
    assert msg in str(e.value) and str(e.value).startswith("line ")


@pytest.mark.parametrize("name,body", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted_statically(name, body):
    parse(_text(body))


@pytest.mark.parametrize("body", NEWER_FRONTEND)
def test_newer_frontend_features_are_not_refused(body):
    parse(BASE + body)


def test_cli_refuses_with_exit_2_and_writes_nothing(tmp_path, capsys):
    df = tmp_path / "Dockerfile"
    original = "FROM python:3.11\nRUN apt-get update\nRUN apt-get install -y curl\nENV PATH\n"
    df.write_text(original)
    with pytest.raises(SystemExit) as e:
        cli_main(["fix", "--write", str(df)], standalone_mode=True)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "line 4" in err and "BuildKit refuses" in err and len(err.strip().splitlines()) == 1
    assert df.read_text() == original and sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile"]


# -- the engine's verdicts -------------------------------------------------------------------------------
def _engine_builds(tmp_path, text: str) -> tuple[bool, str]:
    ctx = tmp_path / "ctx"
    if ctx.exists():
        shutil.rmtree(ctx)
    ctx.mkdir()
    (ctx / "a").write_text("x")
    r = docker("build", "-q", "-f", "-", str(ctx), input=text, check=False, timeout=300)
    if r.returncode == 0 and r.stdout.strip():
        docker("rmi", "-f", r.stdout.strip(), check=False)
    return r.returncode == 0, r.stderr


@pytest.mark.docker
@pytest.mark.parametrize("name,body,msg", REJECTED, ids=[r[0] for r in REJECTED])
def test_engine_refuses_what_slimml_refuses(tmp_path, name, body, msg):
    ok, err = _engine_builds(tmp_path, _text(body))
    assert not ok, f"the engine built {name!r}, which slimml refuses"


@pytest.mark.docker
@pytest.mark.parametrize("name,body", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_engine_builds_what_slimml_accepts(tmp_path, name, body):
    ok, err = _engine_builds(tmp_path, _text(body))
    assert ok, f"the engine refused {name!r}, which slimml accepts:\n{err[-800:]}"
