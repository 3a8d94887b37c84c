"""Per-rule options in the config are checked like rule codes: an option the rule does not have (a typo such as
`resolv`), or a switch that is not true or false, or a value the rule refuses, is a one-line error naming the file and the key -- exit 2, nothing written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from slimml.cli import main

DOCKERFILE = "FROM python:3.11-slim\nRUN pip install flask\n"


@pytest.mark.parametrize(
    "config, says",
    [
        ("[rules.SLM012]\nresolv = true\n", "[rules.SLM012] has no option 'resolv' (options of SLM012: resolve)"),
        (
            "[rules.SLM013]\ncpu-index-url = 5\n",
            "[rules.SLM013] cpu-index-url must be an index URL: http://, https:// or file:// (got 5)",
        ),
        ('[rules.SLM013]\ncpu-index-url = "download.pytorch.org/whl/cpu"\n', "cpu-index-url must be an index URL"),
        ('[rules.SLM001]\ncache-mounts = "yes"\n', "[rules.SLM001] 'cache-mounts' must be true or false"),
        ("[rules.SLM002]\nfoo = 1\n", "[rules.SLM002] has no option 'foo' (options of SLM002: none)"),
        ('resolve = "yes"\n', "'resolve' must be true or false"),
    ],
)
@pytest.mark.parametrize("command", ["check", "fix"])
def test_bad_rule_options_are_a_one_line_error(tmp_path, config, says, command):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".slimml.toml").write_text(config)
    extra = ["--write"] if command == "fix" else []
    r = CliRunner().invoke(main, [command, "--no-cache", *extra, str(tmp_path / "Dockerfile")])
    assert r.exit_code == 2, r.output
    assert says in r.output, r.output
    assert (tmp_path / "Dockerfile").read_text() == DOCKERFILE
    assert not (tmp_path / ".dockerignore").exists()


def test_good_rule_options_by_code_or_name(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".slimml.toml").write_text(
        '[rules.cuda-wheels-on-cpu]\ncpu-index-url = "https://mirror.example/simple"\n'
        "[rules.SLM012]\nresolve = false\n[rules.pip-no-cache]\ncache-mounts = true\n"
    )
    r = CliRunner().invoke(main, ["check", "--no-cache", str(tmp_path / "Dockerfile")])
    assert r.exit_code == 1 and "SLM012" in r.output, r.output
