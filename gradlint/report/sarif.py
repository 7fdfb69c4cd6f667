"""SARIF 2.1.0, as GitHub code scanning reads it: rules with their help text, then results.

`tests/test_sarif.py` validates the output against the official schema.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from gradlint import __version__
from gradlint.api import RunResult
from gradlint.baseline import fingerprint, read_source_lines
from gradlint.dev.docs import docstring, page_uri, rule_page, summary
from gradlint.registry import all_rules
from gradlint.report.text import verdict_line

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# The key under which results carry the baseline's fingerprint (code scanning matches alerts by it).
FINGERPRINT = "gradlint/v1"


def _uri(path: str) -> str:
    """A URI reference: relative to the current directory when the file is below it, percent-encoded."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(Path.cwd())
        except ValueError:
            return candidate.as_uri()
    return quote(candidate.as_posix())


def _description(rule) -> str:
    """The "What it does" section, whole (its first sentence may introduce a list)."""
    match = re.search(r"## What it does\n(.+?)(?:\n## |\Z)", docstring(rule), re.S)
    return match.group(1).strip() if match else summary(rule)


def _descriptor(rule) -> dict:
    descriptor = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": summary(rule)},
        "fullDescription": {"text": _description(rule), "markdown": _description(rule)},
        "help": {"text": rule_page(rule), "markdown": rule_page(rule)},
        "defaultConfiguration": {"level": _LEVEL[rule.severity.value], "enabled": rule.default_enabled},
        "properties": {"tags": list(rule.frameworks)},
    }
    if (help_uri := page_uri(rule)) is not None:
        descriptor["helpUri"] = help_uri
    return descriptor


def render(result: RunResult, read_lines: Callable[[str], list | dict] = read_source_lines, **_: object) -> str:
    rules = all_rules()
    index = {rule.code: i for i, rule in enumerate(rules)}
    fingerprints = _fingerprints(result, read_lines)
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL.get(f.severity, "warning"),
            "message": {"text": _in_cell(f) + f.message + (f"\n{verdict_line(f.confirmation)}" if f.confirmation else "")},
            **({"properties": {"confirmation": f.confirmation}} if f.confirmation else {}),
            "locations": [{"physicalLocation": _physical_location(f)}],
            "partialFingerprints": {FINGERPRINT: print_},
        }
        for f, print_ in zip(result.findings, fingerprints)
    ]
    notifications = [
        {"level": "error", "message": {"text": e["message"]},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(e["path"])}}}]}
        for e in result.errors
    ]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gradlint",
                        "version": __version__,
                        "rules": [_descriptor(rule) for rule in rules],
                    }
                },
                "results": results,
                "invocations": [
                    {"executionSuccessful": not result.errors, "toolExecutionNotifications": notifications}
                ],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _fingerprints(result: RunResult, read_lines) -> list[str]:
    """The baseline's fingerprint of each finding (rule and offending code, not the line number),
    numbered per file so that two identical findings stay two alerts."""
    lines: dict[str, list | dict] = {}
    seen: Counter = Counter()
    prints = []
    for finding in result.findings:
        if finding.path not in lines:
            lines[finding.path] = read_lines(finding.path)
        print_ = fingerprint(finding, lines[finding.path])
        seen[finding.path, print_] += 1
        prints.append(f"{print_}:{seen[finding.path, print_]}")
    return prints


def _in_cell(finding) -> str:
    return f"cell {finding.cell}, line {finding.line}: " if finding.cell is not None else ""


def _physical_location(finding) -> dict:
    """The file and region; in a notebook the region is in the cell's terms (its lines are the
    cell's, not the file's), the cell named in the region's properties and in the message."""
    region = {"startLine": finding.line, "startColumn": finding.column,
              "endLine": finding.end_line, "endColumn": finding.end_column}
    if finding.cell is not None:
        region["properties"] = {"cell": finding.cell}
    return {"artifactLocation": {"uri": _uri(finding.path)}, "region": region}
