CODE = "SLM006"
NAME = "dockerignore"
SUMMARY = "placeholder"
OPTIONS = {}


def check(doc, ctx):
    return []
