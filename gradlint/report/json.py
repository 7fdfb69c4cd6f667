"""One JSON object: the contract other tools rely on (see README, "JSON output")."""

from __future__ import annotations

import json

from gradlint import __version__
from gradlint.api import RunResult


def render(result: RunResult, **_: object) -> str:
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
