"""What linting one file produced: light enough to import, pickle and cache without libcst."""

from __future__ import annotations

from dataclasses import dataclass, field

from gradlint.rule import Finding

# The engine's own code for a file it could not check (read, decode or parse).
SYNTAX_ERROR = "GL000"
# The engine's code for a suppression comment that suppressed nothing; like GL000 it has no visitor.
UNUSED_NOQA = "GL900"
ENGINE_CODES = frozenset({SYNTAX_ERROR, UNUSED_NOQA})
# Why a file was not parsed (FileResult.skipped), as the summary line says it.
SKIP_NO_FRAMEWORK = "no framework imported"
SKIP_COMMENT = "`# gradlint: skip-file`"
SKIP_NOT_PYTHON = "notebook not in Python"
# The `kind` of an error entry for a file too large to check (see `max-file-size`).
NOT_CHECKED = "not-checked"


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    skipped: str = ""  # why the file was not parsed (a SKIP_* reason), or empty
    # Set when fixes were applied: how many, and the file's new content (in its own encoding).
    fixes_applied: int = 0
    fixed: bytes | None = None
    fixed_rules: dict = field(default_factory=dict)  # (code, name) -> fixes applied
    warnings: list[str] = field(default_factory=list)  # worth telling, not an error (fixes not written)
    # Other modules of the project the findings depend on: path -> [size, mtime_ns] when read.
    dependencies: dict[str, list[int]] = field(default_factory=dict)
    # When the dynamic mode will run: its plan of the module, built from this pass's parse.
    plan: object | None = None

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "findings": [f.to_dict() for f in self.findings],
            "errors": self.errors,
            "skipped": self.skipped,
            "dependencies": self.dependencies,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FileResult:
        return cls(
            data["path"], [Finding.from_dict(f) for f in data["findings"]], data["errors"], data["skipped"],
            dependencies=data.get("dependencies", {}),
        )
