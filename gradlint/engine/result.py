"""What linting one file produced: light enough to import, pickle and cache without libcst."""

from __future__ import annotations

from dataclasses import dataclass, field

from gradlint.rule import Finding

# The engine's own code for a file it could not check (read, decode or parse).
SYNTAX_ERROR = "GL000"
# The `kind` of an error entry for a file too large to check (see `max-file-size`).
NOT_CHECKED = "not-checked"


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    skipped: bool = False
    # Set when fixes were applied: how many, and the file's new content (in its own encoding).
    fixes_applied: int = 0
    fixed: bytes | None = None
    # When the dynamic mode will run: its plan of the module, built from this pass's parse.
    plan: object | None = None

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "findings": [f.to_dict() for f in self.findings],
            "errors": self.errors,
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FileResult:
        return cls(data["path"], [Finding.from_dict(f) for f in data["findings"]], data["errors"], data["skipped"])
