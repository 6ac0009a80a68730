"""``caseflow`` with a smaller part of the book: ``python bench/in_parts.py CASES run ...``.

Bench only (``bench/night.py --part-cases CASES``): it sets ``pipeline.parts.PART_CASES`` in
this process and runs the command line as ``caseflow`` would, so a 3M world can be cut into 10
parts of 300k cases and show how a stage grows with the number of parts, without a 10M night
of a quarter of an hour. The product has no such setting: its part is a million cases.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cli  # noqa: E402
from pipeline import parts  # noqa: E402


def main() -> None:
    if len(sys.argv) < 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        raise SystemExit("usage: python bench/in_parts.py CASES_PER_PART caseflow-arguments...")
    parts.PART_CASES = int(sys.argv[1])
    sys.argv = ["caseflow", *sys.argv[2:]]
    cli.app()


if __name__ == "__main__":
    main()
