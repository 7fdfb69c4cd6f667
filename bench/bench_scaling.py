"""Scaling benchmark: time per line and peak memory as one file grows.

    python bench/bench_scaling.py [--lines 1000 10000 100000] [--ten-megabytes] [--functions 200]

Generated files of each size, with no findings ("plain": the stable spellings) and dense with
findings and fixes ("dense": every few lines a `log(softmax)` and an unguarded root, each with a
fix), the file of `--functions` small loss functions that used to take minutes, and the largest
real file of the installed keras (`src/ops/numpy_test.py`). With `--ten-megabytes`, a 10 MB dense
file too (several minutes). Each is linted by `python -m gradlint --no-cache --isolated` in its
own process; the table gives seconds, seconds per 1,000 lines (less the start-up, measured on a
one-line file), the process's CPU seconds (less disturbed than the wall time on a busy machine)
and its peak memory, and the last line whether the time per line stays flat within 2x from the
smallest dense file to the largest. Nothing here is a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "import torch\n"
DENSE = """
def loss_{i}(x, a, b):
    logp = torch.log(torch.softmax(x, -1))
    dist = torch.sqrt(((a - b) ** 2).sum(-1))
    return logp.mean() + dist.mean()
"""
PLAIN = """
def loss_{i}(x, a, b):
    logp = torch.log_softmax(x, -1)
    dist = ((a - b) ** 2).sum(-1)
    return logp.mean() + dist.mean()
"""
LINES_PER_FUNCTION = DENSE.count("\n")


def generated(template: str, lines: int) -> str:
    return HEADER + "".join(template.format(i=i) for i in range(max(1, lines // LINES_PER_FUNCTION)))


def keras_largest() -> Path | None:
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "src" / "ops" / "numpy_test.py"
    return path if path.is_file() else None


def measure(path: Path) -> tuple[float, float, float, str]:
    """Seconds, CPU seconds, peak memory (MB) and the summary line of one gradlint process on `path`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "gradlint", "--no-cache", "--isolated", "--jobs", "1", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not the benchmark's
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"gradlint failed on {path}:\n{output}")
    summary = next((line for line in output.splitlines() if line.startswith(("Found", "No findings"))), "")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--functions", type=int, default=200, help="loss functions in the dense file that used to be quadratic")
    parser.add_argument("--ten-megabytes", action="store_true", help="also a 10 MB dense file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        cases: list[tuple[str, Path]] = []

        def write(name: str, text: str) -> Path:
            path = Path(folder) / name
            path.write_text(text)
            return path

        cases.append((f"{args.functions} loss functions", write("functions.py", generated(DENSE, args.functions * LINES_PER_FUNCTION))))
        for lines in args.lines:
            cases.append((f"plain {lines:,} lines", write(f"plain_{lines}.py", generated(PLAIN, lines))))
            cases.append((f"dense {lines:,} lines", write(f"dense_{lines}.py", generated(DENSE, lines))))
        if args.ten_megabytes:
            per_function = len(DENSE.format(i=99_999))
            lines = 10 * 1024 * 1024 // per_function * LINES_PER_FUNCTION
            cases.append(("dense 10 MB", write("dense_10mb.py", generated(DENSE, lines))))
        keras = keras_largest()
        if keras is not None:
            cases.append(("keras src/ops/numpy_test.py", keras))
        else:
            print("keras is not installed: its largest file is left out", file=sys.stderr)

        startup, _, _, _ = measure(write("empty.py", HEADER))
        print(f"start-up (a one-line file): {startup:.2f} s")
        print(f"{'file':<30} {'lines':>8} {'KB':>7} {'seconds':>8} {'s/1k lines':>10} {'CPU s':>7} {'peak MB':>8}  result")
        per_line: dict[str, float] = {}
        for label, path in cases:
            text = path.read_bytes()
            lines = text.count(b"\n")
            seconds, cpu, peak, summary = measure(path)
            rate = max(0.0, seconds - startup) / lines * 1000
            per_line[label] = rate
            print(f"{label:<30} {lines:>8,} {len(text) / 1024:>7.0f} {seconds:>8.2f} {rate:>10.3f} {cpu:>7.2f} {peak:>8.0f}  {summary}", flush=True)
        dense = [label for label, _ in cases if label.startswith("dense")]
        if len(dense) > 1:
            ratio = per_line[dense[-1]] / per_line[dense[0]]
            verdict = "flat within 2x" if ratio <= 2 else "NOT flat within 2x"
            print(f"time per line, {dense[-1]} against {dense[0]}: {ratio:.2f}x ({verdict})")


if __name__ == "__main__":
    main()
