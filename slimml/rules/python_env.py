CODE = "SLM005"
NAME = "python-env"
SUMMARY = "placeholder"
OPTIONS = {}


def check(doc, ctx):
    return []
