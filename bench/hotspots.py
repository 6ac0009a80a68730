"""Where a night's time goes, from a py-spy recording: the project's functions by seconds.

    py-spy record --idle -r 10 -f raw -o night.txt -- .venv/bin/python .venv/bin/caseflow run ...
    .venv/bin/python bench/hotspots.py night.txt --rate 10 [--top 25]

py-spy's raw format is one line per distinct stack, ``frame;frame;...;frame count``, each frame
``function (file:line)``. Every sample is charged to the deepest frame of the project (pipeline/,
models/, cli.py) on its stack: the project function responsible for the time, whether it spends
it itself or in polars, DuckDB, pandera or xlsxwriter below it (``own``); ``total`` counts every
sample with the function anywhere on the stack. Seconds are samples / rate. Record with ``--idle``:
without it py-spy drops the samples where the main thread waits for polars' or DuckDB's worker
threads, which is most of a night. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")
PROJECT = re.compile(r"(?:^|/)((?:pipeline|models)/[^/]+\.py|cli\.py)$")


def frames(stack: str) -> list[tuple[str, str]]:
    """(file, function) per frame, outermost first."""
    found = []
    for frame in stack.split(";"):
        match = FRAME.match(frame.strip())
        if match:
            found.append((match["file"], match["function"]))
        else:
            found.append(("?", frame.strip()))
    return found


def short(path: str) -> str:
    """``pipeline/validate.py`` for the project's files, else the package (``polars``)."""
    match = PROJECT.search(path)
    if match:
        return match[1]
    tail = path.split("site-packages/", 1)[-1]  # py-spy usually drops it already
    return tail.split("/", 1)[0] if "/" in tail else tail


def hotspots(lines: list[str], rate: float, top: int) -> dict[str, Any]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    library: Counter[str] = Counter()
    samples = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        path = frames(stack)
        project = [f"{short(file)}:{fn}" for file, fn in path if PROJECT.search(file)]
        for name in set(project):
            total[name] += count
        own[project[-1] if project else "(outside the project)"] += count
        library[short(path[-1][0]) if path else "?"] += count

    def table(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"where": name, "seconds": round(n / rate, 1), "share": round(n / samples, 3)}
            for name, n in counter.most_common(top)
        ]

    return {
        "seconds_sampled": round(samples / rate, 1),
        "own": table(own),
        "total": table(total),
        "leaf_package": table(library),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--rate", type=float, default=100.0, help="py-spy's -r (samples/s)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    lines = args.recording.read_text(encoding="utf-8", errors="replace").splitlines()
    print(json.dumps(hotspots(lines, args.rate, args.top), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
