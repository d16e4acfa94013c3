"""How well a plain question finds its procedure: top-1 and top-3 hit rates over 50 questions.

    .venv/bin/python -m bench.search            # the rates, then every question not answered first
    .venv/bin/python -m bench.search --all      # every question with its top three

The questions and the 35 competing procedures are in tests/unit/data/search/ (tests/search_eval.py reads them),
ranked by app.procedures.search exactly as the catalogue and GET /api/v1/procedures/search rank them. Nothing is
asserted here; tests/unit/test_search_quality.py holds the floor.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.search_eval import evaluate, hit_rate, index, manifests  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="show every question, not only those missed at first")
    args = parser.parse_args()
    started = time.perf_counter()
    search = index()
    built = time.perf_counter() - started
    started = time.perf_counter()
    outcomes = evaluate(search)
    asked = time.perf_counter() - started
    print(f"{len(manifests())} procedures, {len(outcomes)} questions "
          f"(index built in {built * 1000:.1f} ms, {asked / len(outcomes) * 1000:.2f} ms a question)")
    print(f"top-1 hit rate: {hit_rate(outcomes, 1):.2f}")
    print(f"top-3 hit rate: {hit_rate(outcomes, 3):.2f}")
    for o in outcomes:
        if args.all or o.rank != 1:
            top = ", ".join(f"{a.code} {a.name[:40]} ({a.score:.1f})" for a in o.answers[:3])
            print(f"  [{o.rank or '-'}] {o.question.q!r} → expected {o.question.expected}; top: {top}")


if __name__ == "__main__":
    main()
