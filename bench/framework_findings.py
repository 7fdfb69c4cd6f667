"""Findings per rule over installed framework source: the precision check behind every rule.

    python bench/framework_findings.py [PACKAGE ...] [--json FILE] [--jobs N]

Default packages: keras, torch, jax (those installed). Framework source is nearly free of these
bugs, so every finding there should be read: most are false alarms to fix in the matcher.
Prints, per rule, the findings and the findings per 10,000 lines of checked code, then each
finding; exits 1 on an internal error (a rule that crashed), which CI treats as a failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

from gradlint.api import lint_paths
from gradlint.config import Settings
from gradlint.registry import select_rules

DEFAULT_PACKAGES = ("keras", "torch", "jax")


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def count_lines(paths: list[str]) -> int:
    total = 0
    for path in paths:
        try:
            total += Path(path).read_bytes().count(b"\n")
        except OSError:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--json", metavar="FILE", help="also write the findings and counts as JSON")
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()
    roots = [(name, package_dir(name)) for name in args.packages]
    missing = [name for name, root in roots if root is None]
    if missing:
        print(f"not installed, skipped: {', '.join(missing)}", file=sys.stderr)
    dirs = [str(root) for _, root in roots if root is not None]
    if not dirs:
        return 2
    rules = select_rules()
    result, _ = lint_paths(dirs, Settings(), rules, jobs=args.jobs or None)
    files = [str(p) for d in dirs for p in Path(d).rglob("*.py")]
    lines = count_lines(files)
    per_rule = Counter(f.rule for f in result.findings)
    print(f"{', '.join(n for n, r in roots if r)}: {result.files_checked} files checked "
          f"({result.files_skipped} skipped), {lines:,} lines, {len(result.findings)} findings, "
          f"{len(result.errors)} internal errors")
    print(f"{'rule':<7} {'findings':>8} {'per 10k lines':>14}")
    for rule in rules:
        if rule.code == "GL000":
            continue
        n = per_rule.get(rule.code, 0)
        print(f"{rule.code:<7} {n:>8} {n * 10_000 / max(lines, 1):>14.3f}")
    for finding in result.findings:
        print(f"  {finding.path}:{finding.line}: {finding.rule} {finding.message}")
    for error in result.errors:
        print(f"  internal error: {error['message']} ({error['path']})")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "lines": lines, "files_checked": result.files_checked, "per_rule": dict(per_rule),
            "findings": [f.to_dict() for f in result.findings], "errors": result.errors,
        }, indent=2))
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
