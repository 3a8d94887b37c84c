"""libcst analysis of build-time Python: names through imports, values through simple code."""

from __future__ import annotations

import textwrap

from slimml.knowledge import weights as K
from slimml.weights.pyscan import Ref, Unknown, may_download, render_call, scan


def _scan(code: str, env=None, argv=None):
    return scan(textwrap.dedent(code), env or {}, argv)


def _one(code: str, **kw):
    res = _scan(code, **kw)
    assert not res.error
    assert len(res.downloads) == 1, res.downloads
    return res.downloads[0]


def test_alias_imports_are_resolved():
    dl = _one("""
        from transformers import AutoModelForCausalLM as LM
        LM.from_pretrained("mistralai/Mistral-7B-v0.1")
    """)
    assert dl.qualname == "transformers.AutoModelForCausalLM.from_pretrained"
    assert dl.category == "hf-model"
    assert [b.args for b in dl.bindings] == [["mistralai/Mistral-7B-v0.1"]]

    dl = _one("""
        import huggingface_hub as hh
        hh.snapshot_download(repo_id="org/x", allow_patterns=["*.json", "*.safetensors"])
    """)
    assert dl.qualname == "huggingface_hub.snapshot_download" and dl.category == "hf-snapshot"
    assert dl.bindings[0].kwargs == {"repo_id": "org/x", "allow_patterns": ["*.json", "*.safetensors"]}


def test_a_local_function_with_a_download_name_is_not_a_download():
    res = _scan("""
        def pipeline(task):
            return task
        pipeline("sentiment-analysis")
        class SentenceTransformer: ...
        SentenceTransformer("all-MiniLM-L6-v2")
    """)
    assert res.downloads == []


def test_environment_defaults_and_dockerfile_env():
    code = """
        import os
        MODEL = os.environ.get("MODEL_ID", "bert-base-uncased")
        REV = os.getenv("MODEL_REV") or "main"
        from transformers import AutoModel
        AutoModel.from_pretrained(MODEL, revision=REV)
    """
    dl = _one(code)
    assert dl.bindings[0].args == ["bert-base-uncased"] and dl.bindings[0].kwargs == {"revision": "main"}
    dl = _one(code, env={"MODEL_ID": "roberta-base", "MODEL_REV": "v2"})
    assert dl.bindings[0].args == ["roberta-base"] and dl.bindings[0].kwargs == {"revision": "v2"}


def test_environment_without_default_is_unknown_not_guessed():
    dl = _one("""
        import os
        from sentence_transformers import SentenceTransformer
        SentenceTransformer(os.environ["EMBED_MODEL"])
    """)
    (value,) = dl.bindings[0].args
    assert isinstance(value, Unknown) and "$EMBED_MODEL" in value.why


def test_paths_fstrings_and_argv():
    dl = _one(
        """
        import os, sys
        from pathlib import Path
        from huggingface_hub import hf_hub_download
        ROOT = Path(os.environ.get("ROOT", "/srv"))
        name = sys.argv[1]
        hf_hub_download(f"org/{name}-GGUF", f"{name}.Q4_K_M.gguf", local_dir=ROOT / "models" / name)
    """,
        argv=["dl.py", "llama"],
    )
    b = dl.bindings[0]
    assert b.args == ["org/llama-GGUF", "llama.Q4_K_M.gguf"]
    assert b.kwargs == {"local_dir": "/srv/models/llama"}


def test_loops_give_one_binding_per_element():
    dl = _one("""
        from huggingface_hub import snapshot_download
        MODELS = ["org/a", "org/b", "org/c"]
        for m in MODELS:
            snapshot_download(m, local_dir="/models/" + m.split("/")[-1] if False else "/models")
    """)
    # The local_dir expression is computed (a conditional): unknown, but the repo ids are known.
    assert [b.args for b in dl.bindings] == [["org/a"], ["org/b"], ["org/c"]]
    assert all(isinstance(b.kwargs["local_dir"], Unknown) for b in dl.bindings)


def test_function_parameters_stay_together_per_call_site():
    dl = _one("""
        from huggingface_hub import hf_hub_download
        def fetch(repo, filename, rev="main"):
            hf_hub_download(repo_id=repo, filename=filename, revision=rev)
        def main():
            fetch("org/a", "a.gguf")
            fetch("org/b", "b.gguf", rev="v2")
        if __name__ == "__main__":
            main()
    """)
    got = sorted((b.kwargs["repo_id"], b.kwargs["filename"], b.kwargs["revision"]) for b in dl.bindings)
    assert got == [("org/a", "a.gguf", "main"), ("org/b", "b.gguf", "v2")]  # not the 4 cross combinations


def test_a_function_never_called_did_not_download():
    res = _scan("""
        import torch
        def unused():
            torch.hub.load("pytorch/vision", "resnet50", weights="DEFAULT")
    """)
    assert res.downloads == []


def test_cli_decorated_functions_are_unknown():
    dl = _one("""
        import click
        from transformers import AutoModel
        @click.command()
        @click.option("--model")
        def main(model):
            AutoModel.from_pretrained(model)
        main()
    """)
    assert dl.problem and "decorated" in dl.problem and not dl.bindings


def test_names_assigned_twice_are_unknown():
    dl = _one("""
        from transformers import AutoModel
        name = "a"
        name = name.upper()
        AutoModel.from_pretrained(name)
    """)
    assert isinstance(dl.bindings[0].args[0], Unknown)


def test_save_pretrained_targets_are_followed():
    dl_tok, dl_model = _scan("""
        from transformers import AutoModel, AutoTokenizer
        MODEL = "bert-base-uncased"
        tok = AutoTokenizer.from_pretrained(MODEL)
        tok.save_pretrained("/models/bert")
        AutoModel.from_pretrained(MODEL).save_pretrained(save_directory="/models/bert")
    """).downloads
    assert dl_tok.saved_to == ["/models/bert"] and dl_model.saved_to == ["/models/bert"]


def test_replay_calls_render_back_to_python():
    dl = _one("""
        import torchvision
        from torchvision.models import ResNet50_Weights
        torchvision.models.resnet50(weights=ResNet50_Weights.IMAGENET1K_V2, progress=False)
    """)
    assert dl.category == "replay"
    assert dl.bindings[0].kwargs["weights"] == Ref("torchvision.models.ResNet50_Weights.IMAGENET1K_V2")
    code = render_call(dl.qualname, dl.bindings[0])
    assert code == (
        "import torchvision\n"
        "torchvision.models.resnet50(weights=torchvision.models.ResNet50_Weights.IMAGENET1K_V2, "
        "progress=False)"
    )
    assert "'" not in code  # fits in a single-quoted sh word
    compile(code, "<replay>", "exec")


def test_render_call_refuses_unknown_arguments_but_drops_irrelevant_ones():
    dl = _one(
        """
        import whisper, sys
        whisper.load_model("base", device=sys.argv[9])
    """,
        argv=["x.py"],
    )
    assert isinstance(render_call(dl.qualname, dl.bindings[0]), Unknown)
    assert (
        render_call(dl.qualname, dl.bindings[0], drop=frozenset({"device"}))
        == 'import whisper\nwhisper.load_model("base")'
    )


def test_spacy_downloads_are_reported_as_packages():
    dl = _one("""
        import spacy.cli
        spacy.cli.download("en_core_web_sm")
    """)
    assert dl.category == "package" and "package" in dl.problem


def test_code_that_does_not_parse():
    res = scan("def (:\n", {}, None)
    assert res.error and res.downloads == []


def test_prefilter_never_hides_a_known_download():
    """``may_download`` skips libcst only for code that cannot name a known call: every known
    call, imported under an alias, still passes it and is found by ``scan``."""
    names = [
        *K.HF_HUB_CALLS,
        *K.HF_CONSTRUCTORS,
        *K.HF_PIPELINE_CALLS,
        *K.PY_URL_CALLS,
        *K.PY_PACKAGE_DOWNLOADS,
        *(k for k in K.PY_REPLAY_CALLS if not k.endswith(".")),
    ]
    names += [f"{root}.AutoModel.from_pretrained" for root in K.HF_FROM_PRETRAINED_ROOTS]
    for qn in names:
        mod, _, attr = qn.rpartition(".")
        code = f"from {mod} import {attr} as z\nz('org/model', 'out')\n"
        assert may_download(code), qn
        assert scan(code, {}, None).downloads, qn


def test_prefilter_skips_plain_code():
    assert not may_download("import app; app.main()")
    assert not may_download("print('ready')")
    assert may_download("import transformers as t\nt.pipeline('x')")
