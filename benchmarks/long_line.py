"""Analysis time of one long line: every rule, on Dockerfiles whose one line doubles in size.

Linear work doubles with the line; quadratic work quadruples. Prints, per shape, the time at each size and the
ratio of the last two (about 2 is linear, about 4 quadratic). Run: ``python benchmarks/long_line.py [max-size]``.

The shapes are the worst cases of the regular expressions fixed for issue 10 (the import check that took 57 s
on ``print(torch.cuda.get_device_properties(0))``, variable references, secret masking, requirement comments,
globs ...). Imports are done before timing; each size is the best of three runs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from slimml.context import Context, Settings
from slimml.dockerfile import DockerfileError
from slimml.engine import fix_text


def _shapes(n: int) -> dict[str, tuple[str, dict[str, str]]]:
    def rep(unit: str) -> str:
        return unit * max(1, n // len(unit))

    return {
        "python -c print(<name>(0))": (
            'FROM python:3.11\nRUN pip install x && python -c "import torch; print(' + rep("a") + '(0))"\n',
            {},
        ),
        "pip install <blanks> #": ("FROM python:3.11\nRUN pip install x" + rep(" ") + "#y\n", {}),
        "ENV ${A:-${A:-...": ("FROM python:3.11\nENV A=" + rep("${A:-") + "\n", {}),
        "ENV SECRET <blanks>x<blanks>\\": (
            "FROM python:3.11\nENV SECRET_TOKEN " + rep(" ") + "x" + rep(" ") + "\\y\n",
            {},
        ),
        "scheme chars then ://": ("FROM python:3.11\nRUN pip install --index-url " + rep("a1") + "://\n", {}),
        "pip install -e [[[...": ("FROM python:3.11\nRUN pip install -e " + rep("[") + "]\n", {}),
        "rm -rf */*/*/...": ("FROM python:3.11\nRUN apt-get update && rm -rf " + rep("*/") + "x/\n", {}),
        "apk apk apk ...": ("FROM alpine:3.19\nRUN " + rep("apk ") + "\n", {}),
        "# syntax=x<blanks>y": ("# syntax=x" + rep(" ") + "y\nFROM python:3.11\n", {}),
        "requirements line": (
            "FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n",
            {"requirements.txt": "flask" + rep(" ") + "x\n"},
        ),
    }


def _time(text: str, files: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(3):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            for rel, body in files.items():
                (root / rel).write_text(body)
            ctx = Context(settings=Settings(unsafe_fixes=True), dockerfile=root / "Dockerfile", context_dir=root)
            start = time.perf_counter()
            try:
                fix_text(text, ctx)
            except DockerfileError:
                pass
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 160_000
    sizes = []
    n = 10_000
    while n <= top:
        sizes.append(n)
        n *= 2
    _time(
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n", {"requirements.txt": "x\n"}
    )
    print(f"{'shape':34}" + "".join(f"{s:>10}" for s in sizes) + "   last ratio")
    for name in _shapes(10):
        times = [_time(*_shapes(s)[name]) for s in sizes]
        ratio = times[-1] / times[-2] if len(times) > 1 and times[-2] > 0 else float("nan")
        print(f"{name:34}" + "".join(f"{t:>9.3f}s" for t in times) + f"   {ratio:5.1f}", flush=True)


if __name__ == "__main__":
    main()
