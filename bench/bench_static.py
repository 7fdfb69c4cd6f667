"""Static-mode benchmark: gradlint against the parse floors, on real installed code.

    python bench/bench_static.py [DIR ...] [--repeat N] [--jobs 1 2]

Default corpus: the installed keras package's `src/` (about 300,000 lines with its tests).
Prints, per measurement and number of processes, seconds (median of the runs), lines per
second and the ratio to the floor: libcst's parse plus one walk with no rules, in as many
processes. Then the warm-cache run, the --jobs speed-up, start-up times and the peak memory of
a linting process. Framework-only figures show what the prefilter saves without hiding a
slow engine behind it.
Nothing here is a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
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


def _parse_chunk(chunk: list[bytes], with_walk: bool) -> None:
    for data in chunk:
        try:
            module = cst.parse_module(data)
        except Exception:
            continue
        if with_walk:
            walk(module, {}, {})


def parse_floor(sources: list[bytes], jobs: int, with_walk: bool) -> None:
    """libcst's parse (and our walk with no rules) over `sources` in `jobs` processes: the floor
    that gradlint with the same number of processes is measured against."""
    if jobs == 1:
        _parse_chunk(sources, with_walk)
        return
    chunks = [sources[i::jobs * 8] for i in range(jobs * 8)]
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        list(pool.map(_parse_chunk, chunks, [with_walk] * len(chunks)))


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
    wanted_lines = sum(1 for data in wanted for line in data.splitlines() if line.strip())
    print(f"corpus: {len(files)} files, {lines} non-blank lines; {len(wanted)} files "
          f"({wanted_lines} lines) import a framework; rules: {', '.join(r.code for r in rules)}")

    def parse_ast():
        for data in sources:
            try:
                ast.parse(data)
            except SyntaxError:
                pass

    rows = [("ast.parse, all files", 1, lines, timed(parse_ast, args.repeat))]
    floors: dict[int, float] = {}
    for jobs in args.jobs:
        parse = timed(lambda: parse_floor(sources, jobs, False), args.repeat)
        floors[jobs] = timed(lambda: parse_floor(sources, jobs, True), args.repeat)
        framework_floor = timed(lambda: parse_floor(wanted, jobs, True), args.repeat)
        cold = timed(lambda: lint_paths([str(r) for r in roots], Settings(), rules, jobs=jobs), args.repeat)
        rows += [
            ("libcst parse, all files", jobs, lines, parse),
            ("libcst parse + walk, all files (the floor)", jobs, lines, floors[jobs]),
            ("libcst parse + walk, framework files only", jobs, wanted_lines, framework_floor),
            ("gradlint, all default rules, cold", jobs, lines, cold),
        ]
    with tempfile.TemporaryDirectory() as cache:
        command = [sys.executable, "-m", "gradlint", "--isolated", "--exit-zero", "--cache-dir", cache,
                   *map(str, roots)]
        subprocess.run(command, capture_output=True)  # fills the cache
        warm = timed(lambda: subprocess.run(command, capture_output=True), max(args.repeat, 3))
        rows.append(("gradlint warm cache, nothing changed (process)", max(args.jobs), lines, warm))
    print(f"\n{'measurement':<50} {'jobs':>4} {'seconds':>8} {'lines/s':>9} {'x floor':>8}")
    for name, jobs, counted, seconds in rows:
        floor = floors.get(jobs, floors[max(floors)])
        print(f"{name:<50} {jobs:>4} {seconds:8.2f} {counted / seconds:9.0f} {seconds / floor:8.2f}")
    if len(floors) > 1:
        colds = {jobs: seconds for name, jobs, _, seconds in rows if name.startswith("gradlint, all")}
        low, high = min(colds), max(colds)
        print(f"speed-up of gradlint --jobs {high} over --jobs {low}: {colds[low] / colds[high]:.2f}x")

    small = Path(__file__).resolve().parents[1] / "fixtures" / "GL050" / "bad.py"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for label, command in (
        ("gradlint --version", [sys.executable, "-m", "gradlint", "--version"]),
        ("gradlint on one small file", [sys.executable, "-m", "gradlint", "--isolated", "--no-cache", str(small)]),
    ):
        seconds = timed(lambda: subprocess.run(command, capture_output=True, env=env), 5)
        print(f"start-up, {label:<34} {seconds:8.3f} s (median of 5)")
    process = subprocess.Popen(
        [sys.executable, "-m", "gradlint", "--isolated", "--no-cache", "-j", "1", "--exit-zero", *map(str, roots)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    _, _, usage = os.wait4(process.pid, 0)  # this child's own peak, not the benchmark's
    print(f"peak memory of one linting process (--jobs 1): {usage.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
