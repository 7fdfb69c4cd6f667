"""What gradlint knows about framework APIs, read from the TOML files here (data, not code).

`apis.toml` holds the namespaces (canonical prefixes, frameworks); each other file holds the
tables of one family of rules. Tables are keyed by the canonical names that
`gradlint.engine.names` produces, so a rule asks `self.callee(node, SQRT)` and never spells
`tf.math.sqrt` itself. A table may record `verified` framework versions; rule pages show them.
"""

from __future__ import annotations

import functools
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ApiTable(frozenset):
    """Canonical API names, plus Tensor-method spellings and per-name facts."""

    key: str
    methods: frozenset[str]
    info: dict
    about: str

    def __new__(cls, key: str, section: dict) -> ApiTable:
        table = super().__new__(cls, section.get("names", ()))
        table.key = key
        table.methods = frozenset(section.get("methods", ()))
        table.info = section.get("info", {})
        table.about = section.get("about", "")
        return table

    def __repr__(self) -> str:
        return f"ApiTable({self.key!r}, {len(self)} names)"


@functools.cache
def _data() -> dict:
    merged: dict = {}
    files = sorted(f for f in resources.files(__package__).iterdir() if f.name.endswith(".toml"))
    for file in files:
        for key, section in tomllib.loads(file.read_text("utf-8")).items():
            if key in merged:
                raise ValueError(f"gradlint data: table {key!r} is defined twice ({file.name})")
            merged[key] = section
    return merged


@functools.cache
def api_table(key: str) -> ApiTable:
    section = _data().get(key)
    if section is None or "names" not in section:
        raise KeyError(f"no API table {key!r} in gradlint/data/apis.toml")
    return ApiTable(key, section)


@functools.cache
def _prefixes() -> tuple[tuple[str, str], ...]:
    # Longest prefix first, so `tensorflow.keras.ops` wins over `tensorflow.keras`.
    table = _data()["canonical_prefixes"]
    return tuple(sorted(table.items(), key=lambda item: -len(item[0])))


@functools.cache
def canonical_name(name: str) -> str:
    """`tensorflow.keras.backend.sqrt` -> `keras.backend.sqrt`, repeatedly until stable."""
    for _ in range(4):
        for prefix, replacement in _prefixes():
            if name == prefix or name.startswith(prefix + "."):
                name = replacement + name[len(prefix):]
                break
        else:
            return name
    return name


def framework_modules() -> tuple[str, ...]:
    """Top-level packages gradlint knows; a file importing none of them is skipped."""
    return tuple(_data()["frameworks"]["modules"])


def section(key: str) -> dict:
    """One table of the data files, by its key (`[key]`)."""
    return _data()[key]
