"""The result cache: an unchanged file is never parsed twice.

An entry is keyed on the file's content, its path (rules look at file names), gradlint's
version and own code, and the rules that run on it; it stores the file's findings as JSON, and
the size and modification time of every other module of the project they depend on: an entry
whose dependencies changed is not used. Entries are written
to a temporary file and renamed into place, so two runs at once (two pre-commit hooks) never see
half an entry; an entry that cannot be read or parsed is ignored and rebuilt, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gradlint import __version__
from gradlint.engine.result import FileResult

CACHE_DIR_NAME = ".gradlint_cache"
# Written into the cache folder so that nobody commits or backs it up.
_MARKERS = {
    ".gitignore": "# Created by gradlint.\n*\n",
    "CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n# Created by gradlint.\n",
}


def _code_fingerprint() -> str:
    """gradlint's own files (size and modification time): an edited rule invalidates the
    cache even before the version number changes, as it does in a development checkout."""
    package = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".toml"):
            info = path.stat()
            digest.update(f"{path.relative_to(package)}:{info.st_size}:{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


def _unchanged(dependencies: dict[str, list[int]]) -> bool:
    for path, (size, mtime) in dependencies.items():
        try:
            info = os.stat(path)
        except OSError:
            return False
        if (info.st_size, info.st_mtime_ns) != (size, mtime):
            return False
    return True


class ResultCache:
    def __init__(self, directory: Path) -> None:
        self.root = directory
        self.directory = directory / __version__
        self.usable = True  # turned off after the first write that fails (read-only checkout)
        self.code = _code_fingerprint()

    def key(self, path: str, data: bytes, codes: Sequence[str]) -> str:
        digest = hashlib.sha256()
        for part in (self.code, os.path.abspath(path), ",".join(sorted(codes))):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(data)
        return digest.hexdigest()

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key[2:]}.json"

    def get(self, key: str) -> FileResult | None:
        try:
            payload = json.loads(self._entry(key).read_bytes())
            result = FileResult.from_dict(payload)
            return result if _unchanged(result.dependencies) else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing, truncated or from an incompatible writer: lint again

    def put(self, key: str, result: FileResult) -> None:
        if not self.usable or result.errors:
            return  # an internal error is worth seeing again on the next run
        entry = self._entry(key)
        try:
            self._mark()
            entry.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(result.to_dict(), stream, separators=(",", ":"))
            os.replace(temporary, entry)
        except OSError:
            self.usable = False

    def _mark(self) -> None:
        if (self.root / ".gitignore").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for name, text in _MARKERS.items():
            (self.root / name).write_text(text, encoding="utf-8")
