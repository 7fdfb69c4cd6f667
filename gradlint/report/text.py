"""`path:line:col: GL030 message`, one line per finding, then a summary."""

from __future__ import annotations

from collections import Counter

from gradlint.api import RunResult
from gradlint.engine.result import NOT_CHECKED


def render(result: RunResult, statistics: bool = False, unsafe_fixes: bool = False, **_: object) -> str:
    lines = []
    for f in result.findings:
        where = f"{f.path}:cell {f.cell}:{f.line}:{f.column}" if f.cell is not None else f"{f.path}:{f.line}:{f.column}"
        lines.append(f"{where}: {f.rule}{' [*]' if f.fixable(unsafe_fixes) else ''} {f.message}")
        if f.confirmation:
            lines.append(f"    {verdict_line(f.confirmation)}")
    lines.extend(f"{e['path']}: {e['message']}" for e in result.errors)
    if statistics and result.findings:
        counts = Counter((f.rule, f.name) for f in result.findings)
        if lines:
            lines.append("")
        width = len(str(max(counts.values())))
        lines.extend(f"{n:>{width}}  {code}  {name}" for (code, name), n in sorted(counts.items()))
    if lines:
        lines.append("")
    lines.append(summary(result))
    fixable = sum(1 for f in result.findings if f.fixable(unsafe_fixes))
    hidden = sum(1 for f in result.findings if f.fixable(True)) - fixable
    if fixable:
        lines.append(f"[*] {fixable} fixable with `gradlint --fix`.")
    if hidden:
        lines.append(f"{hidden} more fixable with `--unsafe-fixes` (they change numerical results).")
    if result.dynamic is not None:
        lines.append(dynamic_summary(result.dynamic))
    return "\n".join(lines) + "\n"


def verdict_line(confirmation: dict) -> str:
    """`confirmed: grad of `thr` is None [tensorflow 2.21.0, cpu, 0.05 s]`"""
    where = ", ".join(filter(None, [confirmation.get("framework"), confirmation.get("device")]))
    seconds = confirmation.get("seconds")
    if seconds:
        where = f"{where}, {seconds:.2f} s" if where else f"{seconds:.2f} s"
    return f"{confirmation['verdict']}: {confirmation['evidence']}" + (f" [{where}]" if where else "")


def dynamic_summary(dynamic: dict) -> str:
    counts = dynamic["verdicts"]
    parts = [f"{counts.get(v, 0)} {v.replace('-', ' ')}" for v in ("confirmed", "not-reproduced", "inconclusive")]
    text = f"Dynamic mode: {', '.join(parts)} ({dynamic['checked']} checked in {dynamic['seconds']:.1f} s)."
    if dynamic.get("hidden"):
        text += f" {dynamic['hidden']} not confirmed and not shown."
    return text


def summary(result: RunResult) -> str:
    n = len(result.findings)
    files = f"{result.files_checked} file{'s' if result.files_checked != 1 else ''} checked"
    if result.files_skipped:
        files += f", {result.files_skipped} skipped (no framework imported)"
    if result.fixed:
        files += f"; {result.fixes_applied} fixed in {len(result.fixed)} file{'s' if len(result.fixed) != 1 else ''}"
    if result.baseline_hidden:
        files += f"; {result.baseline_hidden} more known from the baseline"
    new = " new" if result.baseline_hidden else ""
    text = f"Found {n}{new} finding{'s' if n != 1 else ''} in {files}." if n else f"No{new} findings in {files}."
    unchecked = sum(1 for error in result.errors if error.get("kind") == NOT_CHECKED)
    internal = len(result.errors) - unchecked
    if unchecked:
        text += f" {unchecked} file{'s' if unchecked != 1 else ''} not checked (too large)."
    if internal:
        text += f" {internal} internal error{'s' if internal != 1 else ''}."
    return text
