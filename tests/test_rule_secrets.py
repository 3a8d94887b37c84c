"""SLM009 secrets: what counts as a secret, how pairs are cut out of ENV/ARG, how RUNs get a
secret mount, which cases are left alone, and that no value ever reaches the output."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.dockerfile.shell import run_scripts
from slimml.engine import fix_text
from slimml.rules import secrets_out as S

from .oracle import assert_agrees


def _fix(text: str, context_dir=None, unsafe: bool = True):
    ctx = Context(
        settings=Settings(select=("SLM009",), unsafe_fixes=unsafe),
        context_dir=context_dir,
        dockerfile=(context_dir / "Dockerfile") if context_dir else None,
    )
    result = fix_text(text, ctx)
    assert not result.reverted and not result.nonconverged
    assert_agrees(result.output)
    return result


def _env(text: str) -> dict[str, str]:
    doc = parse(text)
    return {p.name: p.value for i in doc.instructions for p in S.pairs(i)}


# -- names and values --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "OPENAI_API_KEY",
        "WANDB_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "DB_PASSWORD",
        "PGPASSWORD",
        "DJANGO_SECRET_KEY",
        "CLIENT_SECRET",
        "SMTP_PASSWD",
    ],
)
def test_secret_names(name):
    assert S.is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "TOKENIZERS_PARALLELISM",
        "MAX_NEW_TOKENS",
        "GPG_KEY",
        "HF_TOKEN_FILE",
        "SSH_KEY_PATH",
        "KMS_KEY_ID",
        "PIP_INDEX_URL",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN",
        "PYTHONUNBUFFERED",
        "SECRETS_DIR",
        "PUBLIC_KEY",
    ],
)
def test_not_secret_names(name):
    assert not S.is_secret_name(name)


def test_value_shapes_flag_any_name_and_references_do_not():
    assert S.value_kind("hf_" + "a1B2" * 8) == "Hugging Face token"
    assert S.value_kind("https://user:s3cr3tpw@pypi.example.com/simple") == "password in a URL"
    assert S.value_kind("https://user:${PIP_PASSWORD}@pypi.example.com/simple") is None
    out = _fix("FROM python:3.11\nENV MODEL_REPO=org/model CFG=ghp_" + "x" * 36 + "\n").output
    assert _env(out) == {"MODEL_REPO": "org/model"}


# -- removing one pair -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "src, expected",
    [
        ("ENV A=1 HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012 B=2\n", "ENV A=1 B=2\n"),
        ("ENV A=1 HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\n", "ENV A=1\n"),
        ("ENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012 A=1\n", "ENV A=1\n"),
        ("ENV A=1 \\\n    HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012 \\\n    B=2\n", "ENV A=1 \\\n    B=2\n"),
        ("ENV A=1 \\\n    HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\n", "ENV A=1\n"),
        ("ENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012 \\\n    B=2\n", "ENV B=2\n"),
        # a comment line inside the continuation stays
        ("ENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012 \\\n    # cache\n    B=2\n", "ENV \\\n    # cache\n    B=2\n"),
        ("ARG X=1 GH_TOKEN=ghp_FAKEfakeFAKEfakeFAKEfake0123\n", "ARG X=1\n"),
    ],
)
def test_pair_removal_keeps_the_rest(src, expected):
    out = _fix("FROM python:3.11\n" + src + 'CMD ["x"]\n').output
    assert out == "FROM python:3.11\n" + expected + 'CMD ["x"]\n'


def test_escape_backtick_and_crlf():
    text = (
        "# escape=`\r\nFROM mcr.microsoft.com/python:3.11\r\nENV A=1 `\r\n    API_TOKEN=abcdef123456 `\r\n    B=2\r\n"
    )
    out = _fix(text).output
    assert out == "# escape=`\r\nFROM mcr.microsoft.com/python:3.11\r\nENV A=1 `\r\n    B=2\r\n"


# -- RUN conversion ----------------------------------------------------------------------------------------
def _shell_ok(text: str) -> None:
    doc = parse(text)
    for ins in doc.instructions:
        for s in run_scripts(doc, ins):
            assert not s.has_error, ins.text(text)


@pytest.mark.parametrize(
    "run, expected",
    [
        # && chain and a pipeline: one export in front of everything
        (
            "RUN huggingface-cli download m | tee log && echo ok",
            (
                'RUN --mount=type=secret,id=hf_token,required=true export HF_TOKEN="$(cat /run/secrets/hf_token)" && '
                "huggingface-cli download m | tee log && echo ok"
            ),
        ),
        # a background job at top level: `;` so the export is not run in the background subshell
        (
            "RUN huggingface-cli download m & wait",
            (
                'RUN --mount=type=secret,id=hf_token,required=true export HF_TOKEN="$(cat /run/secrets/hf_token)"; '
                "huggingface-cli download m & wait"
            ),
        ),
        # already mounted, not read: only the export is added, with the mount's target
        (
            "RUN --mount=type=secret,id=hf_token,target=/tok python -c 'import os'",
            "RUN --mount=type=secret,id=hf_token,target=/tok export HF_TOKEN=\"$(cat /tok)\" && python -c 'import os'",
        ),
    ],
)
def test_run_conversion(run, expected):
    text = "FROM python:3.11\nARG HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\n" + run + "\n"
    out = _fix(text).output
    assert out == "FROM python:3.11\n" + expected + "\n"
    _shell_ok(out)


def test_runs_that_do_not_read_it_are_untouched_and_env_reaches_child_stages():
    text = (
        "FROM python:3.11 AS base\nENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\n"
        "RUN apt-get update && apt-get install -y git\n"
        "RUN python -m pip install --no-cache-dir torch\n"
        "FROM base\nRUN ./fetch_weights.sh\n"
    )
    out = _fix(text).output
    lines = out.splitlines()
    assert lines[1] == "RUN apt-get update && apt-get install -y git"
    assert lines[2] == "RUN python -m pip install --no-cache-dir torch"
    assert lines[4].startswith("RUN --mount=type=secret,id=hf_token,required=true export HF_TOKEN=")
    assert "HF_TOKEN=hf_" not in out


def test_pip_index_url_with_credentials_moves_to_a_secret_for_pip():
    text = (
        "FROM python:3.11\nENV PIP_EXTRA_INDEX_URL=https://build:FAKEpassw0rd@pypi.acme.dev/simple\n"
        "RUN pip install --no-cache-dir acme-models\n"
    )
    out = _fix(text).output
    assert out == (
        "FROM python:3.11\nRUN --mount=type=secret,id=pip_extra_index_url,required=true export "
        'PIP_EXTRA_INDEX_URL="$(cat /run/secrets/pip_extra_index_url)" && pip install --no-cache-dir acme-models\n'
    )


def test_global_arg_default_and_stage_redeclaration():
    text = (
        "ARG HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\nFROM python:3.11\nARG HF_TOKEN\n"
        "RUN huggingface-cli download org/m\n"
    )
    out = _fix(text).output
    assert out == (
        "FROM python:3.11\nRUN --mount=type=secret,id=hf_token,required=true export "
        'HF_TOKEN="$(cat /run/secrets/hf_token)" && huggingface-cli download org/m\n'
    )


def test_arg_without_default_used_nowhere_is_reported_not_changed():
    text = 'FROM python:3.11\nRUN pip install --no-cache-dir flask\nARG HF_TOKEN\nCMD ["flask"]\n'
    r = _fix(text)
    assert r.output == text
    [f] = r.findings
    assert f.fix is None and "no RUN follows it" in f.message


def test_arg_without_default_before_runs_is_dropped_even_when_not_read():
    # Every RUN after an ARG records `|1 HF_TOKEN=<value>` in the history when it is passed.
    text = "FROM python:3.11\nARG HF_TOKEN\nRUN pip install --no-cache-dir flask\n"
    assert _fix(text).output == "FROM python:3.11\nRUN pip install --no-cache-dir flask\n"


def test_env_reference_copies_the_build_arg_into_the_config():
    text = 'FROM python:3.11\nARG WANDB_API_KEY\nENV WANDB_API_KEY=$WANDB_API_KEY\nCMD ["python", "t.py"]\n'
    r = _fix(text)
    assert r.output == 'FROM python:3.11\nARG WANDB_API_KEY\nCMD ["python", "t.py"]\n'
    assert any("image config" in f.message for f in r.findings)


# -- left alone or reported without a fix -------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, why",
    [
        ('FROM python:3.11\nENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\nRUN ["python", "download.py"]\n', "exec-form"),
        ("FROM python:3.11\nENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\nLABEL tok=$HF_TOKEN\n", "LABEL"),
        (
            (
                "FROM python:3.11\nENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\nRUN <<EOF\n#!/usr/bin/env python3\n"
                "import os\nEOF\n"
            ),
            "another interpreter",
        ),
    ],
)
def test_reported_without_fix(text, why):
    r = _fix(text)
    assert r.output == text
    assert [f for f in r.findings if f.fix is None and why in f.note], [f.note for f in r.findings]


def test_multiword_legacy_value_is_masked_and_removed():
    # slimml.secrets.mask hides the whole rest of a legacy `ENV NAME value...` line, so the rule
    # can offer its fix (it withholds one when a value would survive masking).
    r = _fix("FROM python:3.11\nENV DB_PASSWORD my secret pass\n")
    assert "DB_PASSWORD" not in r.output


def test_literal_token_in_run_and_login_are_reported():
    text = "FROM python:3.11\nRUN huggingface-cli login --token hf_FAKEfakeFAKEfakeFAKEfake012\n"
    r = _fix(text)
    assert r.output == text
    msgs = [f.message for f in r.findings]
    assert any("Hugging Face token is written literally in RUN" in m for m in msgs)
    assert any("huggingface-cli login" in m and "stores the credential" in m for m in msgs)


# -- files ------------------------------------------------------------------------------------------------------
def test_certificate_pem_is_not_a_secret_but_a_private_key_is(tmp_path):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "tls.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\nFAKE\n-----END RSA PRIVATE KEY-----\n")
    text = "FROM python:3.11\nCOPY ca.pem /usr/local/share/ca-certificates/\nCOPY tls.pem /etc/tls/\n"
    r = _fix(text, tmp_path)
    assert r.output == "FROM python:3.11\nCOPY ca.pem /usr/local/share/ca-certificates/\n"
    assert (tmp_path / ".dockerignore").exists() is False  # the engine does not write; the result carries it
    [(before, after)] = r.side_files.values()
    assert before is None and after == "# added by slimml (SLM009)\ntls.pem\n"


def test_copied_file_read_by_a_later_run_is_not_removed(tmp_path):
    (tmp_path / ".npmrc").write_text("//registry.npmjs.org/:_authToken=npm_" + "F" * 36 + "\n")
    text = "FROM node:20\nWORKDIR /app\nCOPY .npmrc package.json ./\nRUN npm ci\n"
    r = _fix(text, tmp_path)
    assert r.output == text and not r.side_files
    [f] = r.findings
    assert f.fix is None and "--mount=type=secret,id=npmrc" in f.note


def test_npmrc_without_token_is_fine(tmp_path):
    (tmp_path / ".npmrc").write_text("registry=https://registry.npmjs.org/\n")
    text = "FROM node:20\nCOPY .npmrc ./\n"
    assert _fix(text, tmp_path).findings == []


def test_dotenv_example_next_to_dotenv_is_kept_by_the_ignore_lines(tmp_path):
    (tmp_path / ".env").write_text("HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\n")
    (tmp_path / ".env.example").write_text("HF_TOKEN=\n")
    r = _fix("FROM python:3.11\nCOPY . /app\n", tmp_path)
    [(_, after)] = r.side_files.values()
    assert after == "# added by slimml (SLM009)\n.env\n"  # no `.env.*`: it would drop .env.example


def test_whole_context_fix_is_unsafe_only(tmp_path):
    (tmp_path / ".env").write_text("X=1\n")
    r = _fix("FROM python:3.11\nCOPY . /app\n", tmp_path, unsafe=False)
    assert not r.side_files and r.unsafe_available


# -- nothing secret in the output ----------------------------------------------------------------------------
SECRETS = {
    "hf": "hf_FAKEleakLEAKleakLEAKleak0123456789",
    "sk": "sk-FAKEleakLEAKleakLEAKleak01",
    "akia": "AKIAFAKELEAK01234567",
    "aws": "wJalrFAKEleakLEAK/K7MDENG/bPxRfiCYLEAKKEY",
    "ghp": "ghp_FAKEleakLEAKleakLEAKleak012345678",
    "glpat": "glpat-FAKEleakLEAKleakLEAK01",
    "xox": "xoxb-1234-FAKEleakLEAK",
    "urlpw": "FAKEleakPassw0rd",
    "named": "FAKEnamedLEAKvalue",
}


@pytest.fixture
def leaky(tmp_path):
    s = SECRETS
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE=python:3.11-slim\n"
        f"ARG GH_TOKEN={s['ghp']}\n"
        "FROM ${BASE} AS build\n"
        "ARG GH_TOKEN\n"
        f"ENV AWS_ACCESS_KEY_ID={s['akia']} \\\n    AWS_DEFAULT_REGION=eu-west-1\n"
        f"ENV AWS_SECRET_ACCESS_KEY {s['aws']}\n"
        f"ENV PIP_EXTRA_INDEX_URL=https://ci:{s['urlpw']}@pypi.acme.dev/simple GITLAB_TOKEN={s['glpat']}\n"
        "RUN pip install --no-cache-dir git+https://x:${GH_TOKEN}@github.com/acme/lib.git\n"
        "RUN aws s3 cp s3://acme/model.onnx /models/\n"
        "FROM python:3.11-slim\n"
        f'ENV HF_TOKEN={s["hf"]} OPENAI_API_KEY="{s["sk"]}" SLACK_BOT_TOKEN={s["xox"]}\n'
        f"ENV SERVICE_PASSWORD={s['named']}\n"
        "COPY --from=build /models /models\n"
        "COPY .env id_rsa ./\n"
        "COPY . /app\n"
        "RUN python /app/warmup.py\n"
        'CMD ["python", "/app/serve.py"]\n'
    )
    (tmp_path / ".env").write_text(f"HF_TOKEN={s['hf']}\n")
    (tmp_path / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE\n-----END OPENSSH PRIVATE KEY-----\n")
    (tmp_path / ".env.production").write_text(f"OPENAI_API_KEY={s['sk']}\n")
    (tmp_path / "serve.py").write_text("print(1)\n")
    return tmp_path


def _invoke(args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.mark.parametrize("fmt", [[], ["--format", "json"], ["--diff"]])
def test_no_secret_value_in_cli_output(leaky, fmt):
    r = _invoke(["fix", leaky / "Dockerfile", "--unsafe-fixes", "--select", "SLM009", *fmt], leaky)
    out = r.stdout + r.stderr
    assert "SLM009" in out or "--- a/" in out  # the run did report and change things
    for label, value in SECRETS.items():
        assert value not in out, f"{label} leaked"
    if fmt == ["--format", "json"]:
        data = json.loads(r.stdout)
        assert data["files"][0]["applied"].get("SLM009", 0) >= 5


def test_no_secret_value_in_cli_output_with_all_rules(leaky):
    r = _invoke(["fix", leaky / "Dockerfile", "--unsafe-fixes"], leaky)
    out = r.stdout + r.stderr
    for label, value in SECRETS.items():
        assert value not in out, f"{label} leaked"


def test_written_output_has_no_secret_values(leaky):
    r = _invoke(["fix", leaky / "Dockerfile", "--unsafe-fixes", "--select", "SLM009", "--write"], leaky)
    assert r.exit_code == 0
    text = (leaky / "Dockerfile").read_text()
    for label, value in SECRETS.items():
        assert value not in text, f"{label} still in the Dockerfile"
    ignore = (leaky / ".dockerignore").read_text()
    assert ignore.startswith("# added by slimml (SLM009)\n") and ".env" in ignore.splitlines()
    assert "id_rsa" in ignore.splitlines()


def test_messages_carry_no_value_and_survive_masking(leaky):
    """Messages name variables and files only, and are worded so `mask` leaves them readable."""
    from slimml.secrets import mask

    ctx = Context(
        settings=Settings(select=("SLM009",), unsafe_fixes=True), context_dir=leaky, dockerfile=leaky / "Dockerfile"
    )
    result = fix_text((leaky / "Dockerfile").read_text(), ctx)
    texts = [
        t
        for f in result.findings
        for t in (f.message, f.note, f.fix.reason if f.fix else "", f.fix.description if f.fix else "")
    ]
    assert len(result.findings) >= 8
    for t in texts:
        assert mask(t) == t, t
        for value in SECRETS.values():
            assert value not in t


def test_file_kind_by_name_and_folder():
    """A public key is never a secret, even inside .ssh; other files there are; a private key
    is recognised by its content, an unknown name is not a secret."""
    from slimml.rules.secrets_out import file_kind

    assert file_kind(None, ".ssh/id_ed25519.pub") == (None, True)
    kind, certain = file_kind(None, ".ssh/known_hosts")
    assert kind is not None and kind.label == "SSH directory" and certain
    assert file_kind(None, "deploy/.env.example") == (None, True)
    kind, _ = file_kind(None, "deploy/.env")
    assert kind is not None
    assert file_kind(None, "app/main.py") == (None, True)


# -- a secret mount is required where the build always had the value -------------------------------------------
_INDEX = "https://build:FAKEpassw0rd@pypi.acme.dev/simple"


_PIP = "RUN python -m pip install --no-cache-dir acme-models"
_HF = "RUN huggingface-cli download org/private-model --local-dir /models"


@pytest.mark.parametrize(
    "head,sid,run,required",
    [
        (f"ENV PIP_INDEX_URL={_INDEX}", "pip_index_url", _PIP, True),  # a literal value: every build had it
        (f"ARG PIP_INDEX_URL={_INDEX}", "pip_index_url", _PIP, True),  # a default: every build had one
        ("ARG HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\nENV HF_TOKEN=${HF_TOKEN}", "hf_token", _HF, True),
        ("ARG HF_TOKEN\nENV HF_TOKEN=${HF_TOKEN}", "hf_token", _HF, False),  # optional: builds ran without it
    ],
)
def test_mount_is_required_where_the_build_always_had_the_secret(head, sid, run, required):
    text = (
        f"FROM python:3.11-slim\n{head}\n{run}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends libgomp1\n"
        'RUN echo done > /done\nCMD ["acme-serve"]\n'
    )
    r = _fix(text)
    runs = [line for line in r.output.splitlines() if line.startswith("RUN")]
    # (`python -m pip` reads PIP_* like pip: it gets the secret -- before, it silently lost the index.)
    assert runs[0].startswith(f"RUN --mount=type=secret,id={sid}" + (",required=true" if required else "") + " ")
    assert f'="$(cat /run/secrets/{sid})" && {run[4:]}' in runs[0]
    assert runs[1:] == [
        "RUN apt-get update && apt-get install -y --no-install-recommends libgomp1",
        "RUN echo done > /done",
    ]  # they never read it: no mount
    fixes = [f for f in r.applied if f.code == "SLM009" and "BuildKit secret" in f.fix.reason]
    assert fixes and all(("required=true" in f.fix.reason) is required for f in fixes)
    assert all(("was optional" in f.fix.reason) is not required for f in fixes)
    assert "FAKE" not in r.output


def test_a_secrets_file_the_app_names_is_never_taken_out(tmp_path):
    (tmp_path / ".env").write_text("DB_PASSWORD=FAKEpass\n")
    (tmp_path / "app.py").write_text("from dotenv import load_dotenv\nload_dotenv('.env')\n")
    text = 'FROM python:3.11-slim\nWORKDIR /app\nCOPY .env app.py ./\nCMD ["python", "app.py"]\n'
    r = _fix(text, tmp_path)
    assert r.output == text and not r.side_files
    (f,) = r.findings
    assert f.fix is None and "`app.py` names `.env`" in f.note
    # The whole-context form: reported, not excluded.
    text = 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "app.py"]\n'
    r = _fix(text, tmp_path)
    assert not r.side_files and "`app.py` names it" in r.findings[0].note
    # Named by nothing: the usual unsafe fix.
    (tmp_path / "app.py").write_text("import os\nprint(os.environ.get('DB_PASSWORD'))\n")
    r = _fix(text, tmp_path)
    assert r.side_files
