"""Lossless Dockerfile model: instructions, stages, heredocs and the shell inside RUN."""

from .model import DockerfileError, Document, Flag, Heredoc, Instruction, Stage, Trivia
from .parser import parse, require_stages, shell_words

__all__ = [
    "Document",
    "DockerfileError",
    "Flag",
    "Heredoc",
    "Instruction",
    "Stage",
    "Trivia",
    "parse",
    "require_stages",
    "shell_words",
]
