from pathlib import Path

defaults = dict(l.split("=", 1) for l in Path(".env.defaults").read_text().split() if "=" in l)
print("log level", defaults["LOG_LEVEL"])
