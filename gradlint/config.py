"""Settings from `[tool.gradlint]` in pyproject.toml, or a gradlint.toml, and the command line."""

from __future__ import annotations

import difflib
import fnmatch
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gradlint.registry import SelectionError, expand

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "per-file-ignores", "max-file-size")
# Larger files are reported as not checked (exit status 2) rather than read and parsed: time
# grows with the file (a few seconds per 10,000 lines); memory does not (large files are parsed
# in pieces).
DEFAULT_MAX_FILE_SIZE = 16 * 1024 * 1024
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB)?\s*$", re.I)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
CONFIG_FILES = ("gradlint.toml", "pyproject.toml")


class ConfigError(Exception):
    """A configuration problem; the command line prints it and exits with 2."""


@dataclass
class Settings:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None  # the file the settings came from

    def ignored_for(self, path: str) -> set[str]:
        """The codes that per-file-ignores switch off for this file (entries are read as
        `select` reads them: codes, prefixes, rule names or ALL)."""
        relative = relative_posix(path, self.root)
        name = relative.rsplit("/", 1)[-1]
        codes: set[str] = set()
        for pattern, listed in self.per_file_ignores.items():
            if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern):
                codes |= expand(listed)
        return codes

    def is_excluded(self, path: str | Path, patterns: list[str] | None = None) -> bool:
        return bool(self.matching_excludes(path, self.exclude if patterns is None else patterns))

    def matching_excludes(self, path: str | Path, patterns: list[str] | None = None) -> list[str]:
        """The exclude patterns that match a path (a bare name matches any part of it)."""
        relative = relative_posix(str(path), self.root)
        parts = relative.split("/")
        matched = []
        for pattern in self.exclude if patterns is None else patterns:
            bare = pattern.rstrip("/")
            if (
                fnmatch.fnmatch(relative, bare)
                or relative.startswith(bare + "/")
                or ("/" not in bare and any(fnmatch.fnmatch(part, bare) for part in parts))
            ):
                matched.append(pattern)
        return matched


def relative_posix(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def find_config(start: Path) -> Path | None:
    """The nearest gradlint.toml, or pyproject.toml with a [tool.gradlint] table, upward from start."""
    start = start.resolve()
    for directory in [start, *start.parents] if start.is_dir() else start.parents:
        for name in CONFIG_FILES:
            candidate = directory / name
            if candidate.is_file() and (name == "gradlint.toml" or _has_tool_table(candidate)):
                return candidate
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        return b"[tool.gradlint" in pyproject.read_bytes()
    except OSError:
        return False


def load_settings(config: Path | None) -> Settings:
    if config is None:
        return Settings()
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {config}: {error.strerror or error}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{config} is not valid TOML: {error}") from error
    table = data if config.name == "gradlint.toml" else data.get("tool", {}).get("gradlint", {})
    if config.name == "gradlint.toml" and "tool" in table:
        table = table["tool"].get("gradlint", table)
    return settings_from_table(table, config)


def settings_from_table(table: dict, config: Path) -> Settings:
    where = f"{config}" + ("" if config.name == "gradlint.toml" else " [tool.gradlint]")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    for key in table:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(KNOWN_KEYS)}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    settings = Settings(root=config.parent, source=config)
    if "select" in table:
        settings.select = _strings(table, "select", where)
    settings.ignore = _strings(table, "ignore", where)
    settings.extend_select = _strings(table, "extend-select", where)
    settings.exclude = _strings(table, "exclude", where) + _strings(table, "extend-exclude", where)
    ignores = table.get("per-file-ignores", {})
    if not isinstance(ignores, dict):
        raise ConfigError(f"{where}: 'per-file-ignores' must be a table of glob = [codes]")
    for pattern in ignores:
        settings.per_file_ignores[pattern] = _strings(ignores, pattern, f"{where} per-file-ignores")
        try:
            expand(settings.per_file_ignores[pattern])
        except SelectionError as error:
            raise ConfigError(f"{where}: per-file-ignores {pattern!r}: {error}") from None
    if "max-file-size" in table:
        settings.max_file_size = _size(table["max-file-size"], where)
    return settings


def _size(value: object, where: str) -> int:
    """A size in bytes: a number of bytes, or a string such as "16MB" or "512KB"."""
    match = _SIZE.match(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if match and int(match.group(1)) > 0:
        return int(match.group(1)) * _UNITS[(match.group(2) or "B").upper()]
    raise ConfigError(f"{where}: 'max-file-size' must be a size such as 16MB, 512KB or a number of bytes")


def size_text(size: int) -> str:
    for unit in ("GB", "MB", "KB"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.1f} {unit}"
    return f"{size} bytes"


def _strings(table: dict, key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: {key!r} must be a list of strings")
    return value
