CODE = "SLM004"
NAME = "deps-before-source"
SUMMARY = "placeholder"
OPTIONS = {}


def check(doc, ctx):
    return []
