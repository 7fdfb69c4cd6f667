"""gradlint: find differentiability pitfalls in machine-learning code."""

from __future__ import annotations

__version__ = "0.1.0"

# The public API, imported lazily so that `gradlint --version` stays instant.
__all__ = ["Finding", "Rule", "Severity", "__version__", "example", "fix_source", "lint_paths", "lint_source"]


def __getattr__(name: str):
    if name in ("fix_source", "lint_source", "lint_paths"):
        from gradlint import api

        return getattr(api, name)
    if name == "example":
        from gradlint.examples import example

        return example
    if name in ("Finding", "Rule", "Severity"):
        from gradlint import rule

        return getattr(rule, name)
    raise AttributeError(f"module 'gradlint' has no attribute {name!r}")
