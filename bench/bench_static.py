"""Static-mode benchmark: gradlint against the parse floors, on real installed code.

    python bench/bench_static.py [DIR ...] [--repeat N] [--jobs 1 2]

Default corpus: the installed keras package's `src/` (about 300,000 lines with its tests).
Prints, per measurement, seconds (median of the runs), lines per second and the ratio to the
libcst parse floor; then start-up times and the peak memory of a linting process.
Nothing here is a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import libcst as cst

from gradlint.api import _Job, lint_paths
from gradlint.config import Settings
from gradlint.engine.walker import walk
from gradlint.registry import select_rules


def default_corpus() -> list[Path]:
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("keras is not installed: name a directory to benchmark")
    return [Path(next(iter(spec.submodule_search_locations))) / "src"]


def python_files(roots: list[Path]) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py"))


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    roots = args.dirs or default_corpus()
    files = python_files(roots)
    sources = [p.read_bytes() for p in files]
    lines = sum(1 for data in sources for line in data.splitlines() if line.strip())
    rules = select_rules()
    job = _Job([r.code for r in rules])
    wanted = [data for data in sources if job.prefilter is None or job.prefilter.search(data)]
    print(f"corpus: {len(files)} files, {lines} non-blank lines; "
          f"{len(wanted)} files import a framework; rules: {', '.join(r.code for r in rules)}")

    def parse_ast():
        for data in sources:
            try:
                ast.parse(data)
            except SyntaxError:
                pass

    def parse_cst(with_walk: bool = False):
        for data in sources:
            try:
                module = cst.parse_module(data)
            except Exception:
                continue
            if with_walk:
                walk(module, {}, {})

    rows = [
        ("ast.parse (all files)", timed(parse_ast, args.repeat)),
        ("libcst parse (all files)", timed(parse_cst, args.repeat)),
        ("libcst parse + gradlint walk, no rules", timed(lambda: parse_cst(True), args.repeat)),
    ]
    floor = rows[1][1]
    for jobs in args.jobs:
        run = lambda: lint_paths([str(r) for r in roots], Settings(), rules, jobs=jobs)  # noqa: E731
        rows.append((f"gradlint, default rules, --jobs {jobs}", timed(run, args.repeat)))
    print(f"\n{'measurement':<44} {'seconds':>8} {'lines/s':>9} {'x floor':>8}")
    for name, seconds in rows:
        print(f"{name:<44} {seconds:8.2f} {lines / seconds:9.0f} {seconds / floor:8.2f}")

    small = Path(__file__).resolve().parents[1] / "fixtures" / "GL050" / "bad.py"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for label, command in (
        ("gradlint --version", [sys.executable, "-m", "gradlint", "--version"]),
        ("gradlint on one small file", [sys.executable, "-m", "gradlint", "--isolated", str(small)]),
    ):
        seconds = timed(lambda: subprocess.run(command, capture_output=True, env=env), 5)
        print(f"start-up, {label:<34} {seconds:8.3f} s (median of 5)")
    process = subprocess.Popen(
        [sys.executable, "-m", "gradlint", "--isolated", "-j", "1", "--exit-zero", *map(str, roots)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    _, _, usage = os.wait4(process.pid, 0)  # this child's own peak, not the benchmark's
    print(f"peak memory of one linting process (--jobs 1): {usage.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
