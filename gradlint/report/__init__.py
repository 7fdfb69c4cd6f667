"""Output formats; each renders the same RunResult."""

from __future__ import annotations

from collections.abc import Callable

from gradlint.api import RunResult

FORMATS = ("text", "json", "sarif", "github")


def renderer(name: str) -> Callable[..., str]:
    if name == "text":
        from gradlint.report.text import render
    elif name == "json":
        from gradlint.report.json import render
    elif name == "sarif":
        from gradlint.report.sarif import render
    elif name == "github":
        from gradlint.report.github import render
    else:
        raise ValueError(f"unknown format {name!r}")
    return render


__all__ = ["FORMATS", "RunResult", "renderer"]
