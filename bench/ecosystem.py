"""Ecosystem check: gradlint over installed framework source, compared with a recorded snapshot.

    python bench/ecosystem.py [PACKAGE ...] [--update] [--check] [--jobs N] [--json FILE]

Default packages: keras, torch, jax, tensorflow and transformers, as installed. Framework source is
nearly free of the bugs gradlint looks for, so every finding there is read and triaged in
`ecosystem/known_false_positives.toml`: a false positive (to drive down by fixing the rule) or a
real hazard. Each run prints, per rule, the findings (also per 10,000 lines), the known false
positives, the real ones and the untriaged ones, then the difference against
`ecosystem/snapshot.json`: findings that are new and findings that vanished.

A finding is recorded by package, path relative to the package root, rule, the flagged line's
text (stripped) and an occurrence index among identical keys, so that code moving to another
line is not a change. A package that is not installed is skipped and its part of the snapshot
kept; a package whose installed version differs from the snapshot's is reported, and its
difference, which then compares different code, does not count for `--check`.

Exit status: 1 on an internal error (a rule that crashed) and, with `--check`, when the findings
differ from the snapshot; 2 on bad input (an unreadable snapshot or triage file); else 0.
`--update` rewrites the snapshot for the packages checked (not after an internal error).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DEFAULT_PACKAGES = ("keras", "torch", "jax", "tensorflow", "transformers")
ECOSYSTEM = Path(__file__).resolve().parents[1] / "ecosystem"
SNAPSHOT_FORMAT = 1
VERDICTS = ("false_positive", "real")


class InputError(Exception):
    """A snapshot or triage file that cannot be used; the message says why."""


@dataclass(frozen=True, order=True)
class Key:
    """What identifies a finding across runs: no line number, so moved code is not a change."""

    package: str
    path: str
    rule: str
    text: str
    occurrence: int

    def describe(self) -> str:
        suffix = f" (occurrence {self.occurrence})" if self.occurrence else ""
        return f"{self.package}: {self.path}: {self.rule}: {self.text}{suffix}"


@dataclass(frozen=True)
class Entry:
    """One finding as the snapshot records it: its key plus the line and message, for reading."""

    key: Key
    line: int
    message: str


@dataclass
class PackagePart:
    """One package's findings and sizes, from a run or from the snapshot."""

    name: str
    distribution: str
    version: str
    files: int
    lines: int
    entries: list[Entry] = field(default_factory=list)
    seconds: float | None = None  # None: read from the snapshot


@dataclass
class Triage:
    verdicts: dict[Key, tuple[str, str]]  # key -> (verdict, reason)


# --- keys and differences --------------------------------------------------------------------


def split_lines(text: str) -> list[str]:
    """Lines as the parser numbers them: \\n, \\r\\n and \\r end a line, nothing else does."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def read_lines(path: str) -> list[str]:
    from gradlint.engine.runner import decode

    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    try:
        return split_lines(decode(data))
    except (SyntaxError, UnicodeDecodeError, LookupError):  # a bad coding cookie or bytes
        return split_lines(data.decode("utf-8", "replace"))


def keyed(
    package: str, root: Path, findings: Iterable, lines_of: Callable[[str], list[str]] = read_lines
) -> list[Entry]:
    """Snapshot entries for `findings` (gradlint Findings) of the package rooted at `root`."""
    cache: dict[str, list[str]] = {}
    seen: Counter = Counter()
    entries = []
    for finding in sorted(findings, key=lambda f: (f.path, f.line, f.column, f.rule)):
        if finding.path not in cache:
            cache[finding.path] = lines_of(finding.path)
        lines = cache[finding.path]
        text = lines[finding.line - 1].strip() if 0 < finding.line <= len(lines) else ""
        relative = Path(os.path.relpath(finding.path, root)).as_posix()
        base = (package, relative, finding.rule, text)
        entries.append(Entry(Key(*base, seen[base]), finding.line, finding.message))
        seen[base] += 1
    return entries


@dataclass
class Diff:
    new: list[Entry]
    vanished: list[Entry]

    def __bool__(self) -> bool:
        return bool(self.new or self.vanished)


def diff(old: Iterable[Entry], current: Iterable[Entry]) -> Diff:
    old_by_key = {entry.key: entry for entry in old}
    current_by_key = {entry.key: entry for entry in current}
    return Diff(
        new=sorted((e for k, e in current_by_key.items() if k not in old_by_key), key=_order),
        vanished=sorted((e for k, e in old_by_key.items() if k not in current_by_key), key=_order),
    )


def _order(entry: Entry) -> tuple:
    return (entry.key.rule, entry.key.package, entry.key.path, entry.line)


# --- snapshot and triage files ---------------------------------------------------------------


def load_snapshot(path: Path) -> dict[str, PackagePart]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read snapshot {path}: {error}") from None
    except ValueError as error:
        raise InputError(f"snapshot {path} is not JSON: {error}") from None
    try:
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"expected format {SNAPSHOT_FORMAT}, found {data.get('format')!r}")
        parts = {}
        for name, part in data["packages"].items():
            entries = [
                Entry(Key(name, e["path"], e["rule"], e["text"], int(e["occurrence"])), int(e["line"]), e["message"])
                for e in part["findings"]
            ]
            parts[name] = PackagePart(
                name, part["distribution"], part["version"], int(part["files"]), int(part["lines"]), entries
            )
        return parts
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"snapshot {path} is not valid: {type(error).__name__}: {error}") from None


def dump_snapshot(parts: dict[str, PackagePart]) -> str:
    packages = {}
    for name in sorted(parts):
        part = parts[name]
        packages[name] = {
            "distribution": part.distribution,
            "version": part.version,
            "files": part.files,
            "lines": part.lines,
            "findings": [
                {
                    "path": e.key.path, "rule": e.key.rule, "text": e.key.text,
                    "occurrence": e.key.occurrence, "line": e.line, "message": e.message,
                }
                for e in sorted(part.entries, key=lambda e: (e.key.path, e.line, e.key.rule, e.key.occurrence))
            ],
        }
    return json.dumps({"format": SNAPSHOT_FORMAT, "packages": packages}, indent=1, ensure_ascii=False) + "\n"


def load_triage(path: Path) -> Triage:
    """`[[false_positive]]` and `[[real]]` tables, each with the key's fields and a `reason`."""
    if not path.exists():
        return Triage({})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read triage file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"triage file {path} is not TOML: {error}") from None
    unknown = sorted(set(data) - set(VERDICTS))
    if unknown:
        raise InputError(f"triage file {path}: unknown table(s) {', '.join(unknown)}; expected {' or '.join(VERDICTS)}")
    verdicts: dict[Key, tuple[str, str]] = {}
    for verdict in VERDICTS:
        items = data.get(verdict, [])
        if not isinstance(items, list):
            raise InputError(f"triage file {path}: `{verdict}` must be an array of tables ([[{verdict}]])")
        for number, item in enumerate(items, 1):
            where = f"triage file {path}: [[{verdict}]] number {number}"
            if not isinstance(item, dict):
                raise InputError(f"{where} is not a table")
            expected = {"package": str, "path": str, "rule": str, "text": str, "occurrence": int, "reason": str}
            for name, kind in expected.items():
                if not isinstance(item.get(name), kind) or isinstance(item.get(name), bool):
                    raise InputError(f"{where}: `{name}` must be a {kind.__name__}")
            extra = sorted(set(item) - set(expected))
            if extra:
                raise InputError(f"{where}: unknown field(s) {', '.join(extra)}")
            if not item["reason"].strip():
                raise InputError(f"{where}: `reason` is empty")
            key = Key(item["package"], item["path"], item["rule"], item["text"], item["occurrence"])
            if key in verdicts:
                raise InputError(f"{where} repeats {key.describe()}")
            verdicts[key] = (verdict, item["reason"])
    return Triage(verdicts)


def toml_stub(entry: Entry) -> str:
    """A triage table to paste into the triage file for an untriaged finding."""
    key = entry.key
    return "\n".join([
        "[[false_positive]]  # or [[real]]",
        f"package = {json.dumps(key.package)}",
        f"path = {json.dumps(key.path)}",
        f"rule = {json.dumps(key.rule)}",
        f"text = {json.dumps(key.text, ensure_ascii=False)}",
        f"occurrence = {key.occurrence}",
        'reason = ""',
    ])


# --- linting installed packages --------------------------------------------------------------


def package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def distribution_of(name: str) -> tuple[str, str]:
    """The installed distribution that provides the import package `name`, and its version."""
    candidates = importlib.metadata.packages_distributions().get(name, [])
    # tensorflow's folder comes from tensorflow-cpu (or tensorflow, tensorflow-gpu...).
    candidates = sorted(set(candidates), key=lambda d: (not d.lower().replace("_", "-").startswith(name), d))
    for distribution in candidates:
        try:
            return distribution, importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return name, "unknown"


def lint_package(name: str, root: Path, jobs: int | None) -> tuple[PackagePart, list[dict]]:
    from gradlint.api import lint_paths
    from gradlint.config import Settings
    from gradlint.discovery import discover
    from gradlint.registry import select_rules

    settings = Settings()
    files = discover([str(root)], settings).files
    lines = 0
    for path in files:
        try:
            lines += path.read_bytes().count(b"\n")
        except OSError:
            pass  # linting reports it as GL000
    started = time.perf_counter()
    result, _ = lint_paths([str(root)], settings, select_rules(), jobs=jobs)
    seconds = time.perf_counter() - started
    distribution, version = distribution_of(name)
    part = PackagePart(name, distribution, version, len(files), lines, keyed(name, root, result.findings), seconds)
    return part, result.errors


# --- the report ------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Everything a run found, compared with the snapshot and the triage; nothing here prints."""

    requested: list[str]
    parts: dict[str, PackagePart]  # this run's parts, for the packages installed
    snapshot: dict[str, PackagePart]
    triage: Triage
    errors: list[dict] = field(default_factory=list)
    not_installed: list[str] = field(default_factory=list)

    def effective(self) -> dict[str, PackagePart]:
        """Per requested package: this run's part, else the snapshot's (for one not installed)."""
        out = {}
        for name in self.requested:
            if name in self.parts:
                out[name] = self.parts[name]
            elif name in self.snapshot:
                out[name] = self.snapshot[name]
        return out

    def version_mismatch(self, name: str) -> bool:
        old = self.snapshot.get(name)
        return name in self.parts and old is not None and old.version != self.parts[name].version

    def diffs(self) -> dict[str, Diff]:
        """Per package checked this run, its difference against the snapshot."""
        return {
            name: diff(self.snapshot[name].entries if name in self.snapshot else [], part.entries)
            for name, part in self.parts.items()
        }

    def differs(self) -> list[str]:
        """The packages whose findings differ from a snapshot of the same version (or that it lacks)."""
        return [
            name for name, change in self.diffs().items()
            if name not in self.snapshot or (change and not self.version_mismatch(name))
        ]

    def verdict(self, key: Key) -> str:
        return self.triage.verdicts.get(key, ("untriaged", ""))[0]

    def stale_triage(self) -> list[Key]:
        """Triage entries, for the packages checked, that match no finding."""
        keys = {e.key for part in self.effective().values() for e in part.entries}
        checked = set(self.effective())
        return sorted(k for k in self.triage.verdicts if k.package in checked and k not in keys)


def report(comparison: Comparison, rule_codes: list[str], out=None) -> None:
    def say(text: str = "") -> None:
        print(text, file=out or sys.stdout)

    effective = comparison.effective()
    diffs = comparison.diffs()
    for name in comparison.not_installed:
        kept = "its snapshot part is kept" if name in comparison.snapshot else "no snapshot part either"
        say(f"{name}: not installed, skipped ({kept})")

    say(f"{'package':<13} {'distribution':<24} {'files':>6} {'lines':>10} {'seconds':>8} {'findings':>8} {'new':>4} {'gone':>4}")
    for name, part in effective.items():
        seconds = f"{part.seconds:8.1f}" if part.seconds is not None else f"{'(snap)':>8}"
        change = diffs.get(name, Diff([], []))
        say(f"{name:<13} {part.distribution + ' ' + part.version:<24} {part.files:>6} {part.lines:>10,} "
            f"{seconds} {len(part.entries):>8} {len(change.new):>4} {len(change.vanished):>4}")
    total_files = sum(p.files for p in effective.values())
    total_lines = sum(p.lines for p in effective.values())
    total_seconds = sum(p.seconds or 0 for p in effective.values())
    total_findings = sum(len(p.entries) for p in effective.values())
    say(f"{'total':<13} {'':<24} {total_files:>6} {total_lines:>10,} {total_seconds:8.1f} {total_findings:>8}")
    for name in effective:
        if comparison.version_mismatch(name):
            say(f"{name}: version {comparison.parts[name].version} installed, snapshot from "
                f"{comparison.snapshot[name].version}: its difference compares different code and does "
                f"not count for --check; run --update to record this version")
        elif name in comparison.parts and name not in comparison.snapshot:
            say(f"{name}: not in the snapshot: run --update to add it")

    counts: dict[str, Counter] = defaultdict(Counter)
    for part in effective.values():
        for entry in part.entries:
            counts[entry.key.rule]["findings"] += 1
            counts[entry.key.rule][comparison.verdict(entry.key)] += 1
    for name, change in diffs.items():
        for entry in change.new:
            counts[entry.key.rule]["new"] += 1
        for entry in change.vanished:
            counts[entry.key.rule]["vanished"] += 1
    codes = [c for c in rule_codes if c != "GL000" or counts.get(c)] + sorted(set(counts) - set(rule_codes))
    say()
    say(f"{'rule':<6} {'findings':>8} {'per 10k':>8} {'known FP':>8} {'real':>5} {'untriaged':>9} {'new':>4} {'gone':>4}")
    total = Counter()
    for code in codes:
        c = counts.get(code, Counter())
        total.update(c)
        say(f"{code:<6} {c['findings']:>8} {c['findings'] * 10_000 / max(total_lines, 1):>8.3f} "
            f"{c['false_positive']:>8} {c['real']:>5} {c['untriaged']:>9} {c['new']:>4} {c['vanished']:>4}")
    say(f"{'total':<6} {total['findings']:>8} {total['findings'] * 10_000 / max(total_lines, 1):>8.3f} "
        f"{total['false_positive']:>8} {total['real']:>5} {total['untriaged']:>9} {total['new']:>4} {total['vanished']:>4}")

    for name, change in diffs.items():
        if comparison.version_mismatch(name) and change:
            say(f"\n{name}: difference against the snapshot of another version (not counted):")
            _print_diff(say, change, comparison)
    counted = Diff(
        sorted((e for n, d in diffs.items() if not comparison.version_mismatch(n) for e in d.new), key=_order),
        sorted((e for n, d in diffs.items() if not comparison.version_mismatch(n) for e in d.vanished), key=_order),
    )
    say()
    if counted:
        say("difference against the snapshot:")
        _print_diff(say, counted, comparison)
    else:
        say("no difference against the snapshot" + (" (nothing checked)" if not diffs else ""))

    untriaged = [e for part in effective.values() for e in part.entries if comparison.verdict(e.key) == "untriaged"]
    if untriaged:
        say(f"\nUNTRIAGED ({len(untriaged)}): read each, then add it to the triage file:")
        for entry in sorted(untriaged, key=_order):
            say(f"  {entry.key.package}/{entry.key.path}:{entry.line}: {entry.key.rule} {entry.message}")
            say(f"      | {entry.key.text}")
        say("\n" + "\n\n".join(toml_stub(e) for e in sorted(untriaged, key=_order)))
    stale = comparison.stale_triage()
    if stale:
        say(f"\nstale triage entries ({len(stale)}), matching no finding: remove them")
        for key in stale:
            say(f"  {comparison.triage.verdicts[key][0]}: {key.describe()}")
    for error in comparison.errors:
        say(f"INTERNAL ERROR: {error.get('message')} ({error.get('path')}, rule {error.get('rule')})")


def _print_diff(say: Callable[[str], None], change: Diff, comparison: Comparison) -> None:
    for sign, label, entries in (("+", "new", change.new), ("-", "vanished", change.vanished)):
        if not entries:
            continue
        per_rule = Counter(e.key.rule for e in entries)
        per_package = Counter(e.key.package for e in entries)
        say(f"  {label}: {len(entries)} ("
            + ", ".join(f"{r} {n}" for r, n in sorted(per_rule.items())) + "; "
            + ", ".join(f"{p} {n}" for p, n in sorted(per_package.items())) + ")")
        rule = None
        for entry in entries:  # already ordered by rule
            if entry.key.rule != rule:
                rule = entry.key.rule
                say(f"   {rule} ({per_rule[rule]} {label})")
            verdict = comparison.verdict(entry.key)
            say(f"    {sign} {entry.key.package}/{entry.key.path}:{entry.line}: {entry.message} [{verdict}]")
            say(f"        | {entry.key.text}")


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", help=f"import names (default: {' '.join(DEFAULT_PACKAGES)})")
    parser.add_argument("--update", action="store_true", help="rewrite the snapshot for the packages checked")
    parser.add_argument("--check", action="store_true", help="exit 1 when the findings differ from the snapshot")
    parser.add_argument("--snapshot", type=Path, default=ECOSYSTEM / "snapshot.json")
    parser.add_argument("--triage", type=Path, default=ECOSYSTEM / "known_false_positives.toml")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write this run's parts and errors as JSON")
    args = parser.parse_args(argv)
    requested = list(dict.fromkeys(args.packages or DEFAULT_PACKAGES))

    try:
        snapshot = load_snapshot(args.snapshot)
        triage = load_triage(args.triage)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from gradlint.registry import select_rules

    comparison = Comparison(requested, {}, snapshot, triage)
    for name in requested:
        root = package_dir(name)
        if root is None:
            comparison.not_installed.append(name)
            continue
        print(f"linting {name} ({root})", file=sys.stderr, flush=True)
        part, errors = lint_package(name, root, args.jobs or None)
        comparison.parts[name] = part
        comparison.errors.extend(errors)
    report(comparison, [rule.code for rule in select_rules()])

    if args.json:
        args.json.write_text(json.dumps({
            "packages": {n: {"distribution": p.distribution, "version": p.version, "files": p.files,
                             "lines": p.lines, "seconds": p.seconds, "findings": len(p.entries)}
                         for n, p in comparison.parts.items()},
            "differs": comparison.differs(),
            "errors": comparison.errors,
        }, indent=2) + "\n")
    if comparison.errors:
        if args.update:
            print("internal errors: the snapshot is not updated", file=sys.stderr)
        return 1
    if args.update:
        if not comparison.parts:
            print("nothing checked: the snapshot is not updated", file=sys.stderr)
            return 0
        merged = {**snapshot, **comparison.parts}
        try:
            args.snapshot.parent.mkdir(parents=True, exist_ok=True)
            args.snapshot.write_text(dump_snapshot(merged), encoding="utf-8")
        except OSError as error:
            print(f"error: cannot write snapshot {args.snapshot}: {error.strerror or error}", file=sys.stderr)
            return 2
        print(f"snapshot updated: {args.snapshot} ({', '.join(comparison.parts)})")
        return 0
    if args.check and comparison.differs():
        print(f"findings differ from the snapshot: {', '.join(comparison.differs())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
