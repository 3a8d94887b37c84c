CODE = "SLM003"
NAME = "merge-runs"
SUMMARY = "placeholder"
OPTIONS = {}


def check(doc, ctx):
    return []
