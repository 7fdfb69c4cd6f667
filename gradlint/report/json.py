"""One JSON object: the contract other tools rely on (see README, "JSON output")."""

from __future__ import annotations

import json

from gradlint import __version__
from gradlint.api import RunResult
from gradlint.report.text import statistics as rule_counts


def render(result: RunResult, statistics: bool = False, unsafe_fixes: bool = False, **_: object) -> str:
    if statistics:  # as ruff's `--statistics --output-format json`: the counts alone
        return json.dumps(rule_counts(result, unsafe_fixes), indent=2) + "\n"
    payload = {
        "version": __version__,
        "findings": [f.to_dict() for f in result.findings],
        "files_checked": result.files_checked,
        "files_skipped": result.files_skipped,
        "errors": result.errors,
        "fixes_applied": result.fixes_applied,
    }
    if result.dynamic is not None:
        payload["dynamic"] = result.dynamic
    return json.dumps(payload, indent=2) + "\n"
