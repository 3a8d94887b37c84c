"""slimml.secrets.mask: every output goes through it."""

import pytest

from slimml.secrets import is_secret_name, mask


@pytest.mark.parametrize(
    "text,secret",
    [
        ("ENV HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz123", "abcdefghijklmnopqrstuvwxyz123"),
        ("ARG AWS_SECRET_ACCESS_KEY wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"),
        ('ENV A=1 DB_PASSWORD="hunter two" B=2', "hunter"),
        ("RUN curl https://user:pa55word@host/x", "pa55word"),
        ("x ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa y", "aaaaaaaaaaaaaaaaaaaa"),
        ("+ENV OPENAI_API_KEY=sk-abcdefabcdefabcdefabcd", "abcdefabcdef"),
        ("ENV AWS_ACCESS_KEY_ID=XYZ123", "XYZ123"),
        ("docker login --password s3cret", "s3cret"),
        ("-ENV DB_PASSWORD my secret pass", "secret pass"),
        ("ENV X=1 DB_PASS=pa\\ ss Y=2", "pa\\ ss"),
        ("HF_TOKEN: hf_zzzzzzzzzzzzzzzzzzzzzzzz", "zzzzzzzzzzzz"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA"),
    ],
)
def test_secrets_are_masked(text, secret):
    assert secret not in mask(text)
    assert "****" in mask(text)


@pytest.mark.parametrize(
    "text",
    [
        "ENV HF_TOKEN=${HF_TOKEN}",
        "ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TOKENIZERS_PARALLELISM=false MAX_NEW_TOKENS=512",
        "docker build --secret id=hf_token,env=HF_TOKEN .",
        "ENV HF_HUB_DISABLE_IMPLICIT_TOKEN=1",
        "ENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
        "ENV HF_TOKEN_FILE=/run/secrets/hf_token",
        "the secret: `docker run -e HF_TOKEN`",
    ],
)
def test_non_secrets_are_left_alone(text):
    assert mask(text) == text


def test_names():
    assert is_secret_name("HF_TOKEN") and is_secret_name("db_password") and is_secret_name("GITHUB_PAT")
    assert not is_secret_name("TOKENIZERS_PARALLELISM") and not is_secret_name("HF_TOKEN_PATH")
