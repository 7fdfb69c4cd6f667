"""What a dynamic run costs: import time per framework, time per finding after the imports, and
peak memory, over the findings of every fixture (static bad fixtures and dynamic fixtures).

    python bench/bench_dynamic.py [--jobs N] [--timeout S] [--repeat K] [--json FILE]

`--repeat K` checks each finding K times (as K copies) to reach a larger sample. The issue's goal:
100 findings in under 60 s on 2 cores. A measurement, not a test: nothing here fails on time.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradlint.api import lint_source  # noqa: E402
from gradlint.dynamic import DynamicOptions, confirm, confirmable  # noqa: E402
from gradlint.registry import default_codes  # noqa: E402


def fixture_findings() -> list:
    findings = []
    paths = sorted((ROOT / "fixtures").glob("GL*/bad_*.py")) + sorted((ROOT / "fixtures" / "dynamic").rglob("*.py"))
    codes = default_codes(dynamic=True)
    for path in paths:
        try:
            found = lint_source(path.read_bytes(), str(path), select=codes)
        except RuntimeError:
            continue  # an undecodable fixture (GL000)
        findings.extend(f for f in found if confirmable(f.rule))
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    findings = [copy.deepcopy(f) for f in fixture_findings() for _ in range(args.repeat)]
    results: list[dict] = []
    started = time.perf_counter()
    stats = confirm(findings, DynamicOptions(jobs=args.jobs, timeout=args.timeout), on_result=results.append)
    wall = time.perf_counter() - started

    by_framework: dict[str, list[float]] = defaultdict(list)
    for result in results:
        by_framework[result["framework"].split(" ")[0] or "(not run)"].append(result["seconds"])
    imports = {name: round(statistics.median(times), 2) for name, times in stats.import_seconds.items()}
    per_finding = [r["seconds"] for r in results if r["framework"]]
    report = {
        "findings": len(findings),
        "jobs": args.jobs,
        "wall_seconds": round(wall, 2),
        "verdicts": dict(Counter(r["verdict"] for r in results)),
        "workers_started": {name: len(times) for name, times in stats.import_seconds.items()},
        "import_seconds_median": imports,
        "seconds_per_finding_after_imports": {
            "mean": round(statistics.mean(per_finding), 4) if per_finding else None,
            "median": round(statistics.median(per_finding), 4) if per_finding else None,
            "max": round(max(per_finding), 3) if per_finding else None,
        },
        "findings_per_framework": {name: len(times) for name, times in sorted(by_framework.items())},
        "peak_rss_mb": {
            "parent": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
