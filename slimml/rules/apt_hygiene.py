CODE = "SLM002"
NAME = "apt-hygiene"
SUMMARY = "placeholder"
OPTIONS = {}


def check(doc, ctx):
    return []
