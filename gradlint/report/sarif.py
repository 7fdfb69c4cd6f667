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
            "message": {"text": f.message + (f"\n{verdict_line(f.confirmation)}" if f.confirmation else "")},
            **({"properties": {"confirmation": f.confirmation}} if f.confirmation else {}),
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.path)},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        },
                    }
                }
            ],
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
