"""SARIF 2.1.0, as GitHub code scanning reads it: rules with their help text, then results."""

from __future__ import annotations

import json
from pathlib import Path

from gradlint import __version__
from gradlint.api import RunResult
from gradlint.report.text import verdict_line
from gradlint.dev.docs import rule_page, summary
from gradlint.registry import all_rules

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(Path.cwd())
        except ValueError:
            return candidate.as_uri()
    return candidate.as_posix()


def render(result: RunResult, **_: object) -> str:
    rules = all_rules()
    index = {rule.code: i for i, rule in enumerate(rules)}
    descriptors = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": summary(rule)},
            "fullDescription": {"text": rule.message},
            "help": {"text": rule_page(rule), "markdown": rule_page(rule)},
            "defaultConfiguration": {"level": _LEVEL[rule.severity.value]},
            "properties": {"tags": list(rule.frameworks)},
        }
        for rule in rules
    ]
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL.get(f.severity, "warning"),
            "message": {"text": _in_cell(f) + f.message + (f"\n{verdict_line(f.confirmation)}" if f.confirmation else "")},
            **({"properties": {"confirmation": f.confirmation}} if f.confirmation else {}),
            "locations": [{"physicalLocation": _physical_location(f)}],
        }
        for f in result.findings
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
                        "rules": descriptors,
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


def _in_cell(finding) -> str:
    return f"cell {finding.cell}, line {finding.line}: " if finding.cell is not None else ""


def _physical_location(finding) -> dict:
    """The file and region; a notebook finding points at the notebook file (its lines are the
    cell's, not the file's), and its message names the cell and line."""
    location: dict = {"artifactLocation": {"uri": _uri(finding.path)}}
    if finding.cell is None:
        location["region"] = {"startLine": finding.line, "startColumn": finding.column,
                              "endLine": finding.end_line, "endColumn": finding.end_column}
    return location
