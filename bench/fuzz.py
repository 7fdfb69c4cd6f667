"""Run the command-line properties of `tests/test_properties.py` on many generated programs.

    python bench/fuzz.py --examples 2000 [--source mutants|grammar|nodes|all] [--seed N]

Each round (a new seed) draws up to 100 programs, or fewer when one fails a property; hypothesis then shrinks it to a minimal
example, which is printed with the property it breaks, and the next round starts with a new
seed. At the end: the seed, how many programs were tried, and each distinct failure.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_properties as properties
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

SOURCES = {
    "mutants": properties.mutated_fixtures,
    "grammar": properties.grammar_programs,
    "nodes": properties.node_programs,
}
ROUND = 100  # programs per seed; the time limit is checked between rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="programs to try in all")
    parser.add_argument("--source", choices=[*SOURCES, "all"], default="all")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after about this long")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=SyntaxWarning)  # the generators compile what they make
    first_seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"seed {first_seed}", flush=True)
    strategy = (
        st.one_of(*(make() for make in SOURCES.values())) if args.source == "all" else SOURCES[args.source]()
    )
    tried = 0
    failures: dict[str, str] = {}  # the failing property's first line -> the minimal example
    started = time.perf_counter()
    round_seed = first_seed
    while tried < args.examples:
        if args.minutes is not None and time.perf_counter() - started > args.minutes * 60:
            break
        budget = min(ROUND, args.examples - tried)
        counted = {"n": 0}

        @seed(round_seed)
        @settings(max_examples=budget, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
        @given(strategy)
        def check(source: bytes) -> None:
            counted["n"] += 1  # noqa: B023  (called only within this round)
            with tempfile.TemporaryDirectory() as directory:
                properties.check_source(source, directory)

        try:
            check()
            tried += counted["n"]
        except Exception as error:  # noqa: BLE001  one property failed (or a generator broke): keep it, go on
            tried += counted["n"]
            summary = (str(error).strip().splitlines() or [type(error).__name__])[0]
            summary = re.sub(r"[^\s'\"]*/model\.py", "model.py", summary)[:200]  # temporary folders differ
            if not isinstance(error, AssertionError):
                summary = f"{type(error).__name__}: {summary}"
            example = "\n".join(getattr(error, "__notes__", []))
            if not isinstance(error, AssertionError):  # where it was raised: gradlint or the generator
                example += "\n" + "".join(traceback.format_exception(error, limit=-4))
            if summary not in failures:
                failures[summary] = example
                print(f"FAILED after {tried} programs: {summary}\n{example}\n", flush=True)
        round_seed += 1
    elapsed = time.perf_counter() - started
    print(f"seed {first_seed}: {tried} programs tried (shrinking included) in {elapsed:.0f} s, "
          f"{len(failures)} distinct failure{'s' if len(failures) != 1 else ''}")
    for summary in failures:
        print(f"  {summary}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
