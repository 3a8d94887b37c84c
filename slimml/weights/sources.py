"""A weight source: where weights come from and where the container expects them.

Plain data: the rule builds them from the Dockerfile, ``initscript`` renders them as ``sh``, and
the script keeps them as JSON comment lines (its manifest) so a later run can add sources to it
without losing the old ones.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

KINDS = ("uri", "hf", "python", "cmd")


@dataclass
class Source:
    kind: str  # "uri" | "hf" | "python" | "cmd"
    name: str = ""  # environment-variable stem (WEIGHTS_<name>_PATH ...); assigned by the generator
    target: str = ""  # absolute file or directory in the container ("" for a Hugging Face cache)
    is_dir: bool = False
    uri: str = ""  # uri/cmd: the source (http(s)://, s3://, gs://); "" = must be mounted
    context_path: str = ""  # uri: the build-context path it was copied from (for messages)
    origin: str = ""  # "RUN wget ... (line 7)" -- for the script's comments
    # hf: a Hugging Face repository
    repo: str = ""
    revision: str = ""
    repo_type: str = "model"
    mode: str = "snapshot"  # "files" (exact files) | "snapshot" (include/exclude) | "model" (from_pretrained)
    files: list[str] = field(default_factory=list)  # mode files: names; mode model: extra names (gguf_file)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    variant: str = ""
    cache_env: list[str] = field(default_factory=list)  # hub-cache variables, most specific first
    # python: a call replayed at start
    python: str = ""  # the interpreter the build used
    code: str = ""
    guard: dict = field(default_factory=dict)  # {"env": [...], "default": "~cache/x" | "/abs", "suffix": "x"}
    what: str = ""  # "torch hub" ...
    # cmd: a CLI download replayed (aws, gsutil, gcloud, az) -- argv with "{URI}"/"{PATH}" tokens
    argv: list[str] = field(default_factory=list)
    scheme: str = ""  # the URI scheme the replayed command handles ("s3://")

    def key(self) -> tuple:
        """Identity for de-duplication (the same weights baked twice are fetched once)."""
        return (
            self.kind,
            self.target,
            self.uri,
            self.repo,
            self.revision,
            self.repo_type,
            tuple(self.files),
            self.code,
            tuple(self.argv),
        )

    def to_json(self) -> str:
        d = {k: v for k, v in asdict(self).items() if v not in ("", [], {}, None) or k in ("kind",)}
        if not self.is_dir:
            d.pop("is_dir", None)
        if self.repo_type == "model":
            d.pop("repo_type", None)
        if self.mode == "snapshot":
            d.pop("mode", None)
        return json.dumps(d, sort_keys=True, ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str) -> Source | None:
        try:
            d = json.loads(text)
        except ValueError:
            return None
        if not isinstance(d, dict) or d.get("kind") not in KINDS:
            return None
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except TypeError:
            return None
