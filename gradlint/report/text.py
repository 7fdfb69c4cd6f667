"""`path:line:col: GL030 message`, one line per finding, then a summary."""

from __future__ import annotations

from collections import Counter

from gradlint.api import RunResult
from gradlint.engine.result import NOT_CHECKED

# The text output shows this much of a verdict's evidence; `--format json` shows it whole.
TEXT_EVIDENCE = 400


def render(
    result: RunResult, statistics: bool = False, unsafe_fixes: bool = False, show_fixes: bool = False, **_: object
) -> str:
    lines = []
    if statistics:  # as ruff prints it: the counts instead of the findings
        lines.extend(statistics_lines(result, unsafe_fixes))
    else:
        for f in result.findings:
            lines.append(finding_line(f, unsafe_fixes))
            if f.confirmation:
                lines.append(f"    {verdict_line(f.confirmation, TEXT_EVIDENCE)}")
            if show_fixes and f.fix is not None:
                lines.append(f"    fix ({'safe' if f.fix['safe'] else 'unsafe'}): {f.fix['title']}")
    lines.extend(f"{e['path']}: {e['message']}" for e in result.errors)
    if show_fixes and result.fixed:
        if lines:
            lines.append("")
        lines.extend(fixed_lines(result))
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


def finding_line(f, unsafe_fixes: bool = False) -> str:
    """`path:line:col: GL030 [error] [*] message` (`path:cell N:line:col` in a notebook)."""
    where = f"{f.path}:cell {f.cell}:{f.line}:{f.column}" if f.cell is not None else f"{f.path}:{f.line}:{f.column}"
    return f"{where}: {f.rule} [{f.severity}]{' [*]' if f.fixable(unsafe_fixes) else ''} {f.message}"


def statistics(result: RunResult, unsafe_fixes: bool = False) -> list[dict]:
    """Findings per rule, most frequent first: code, name, count, fixable (with --fix)."""
    counts = Counter((f.rule, f.name) for f in result.findings)
    fixable = Counter(f.rule for f in result.findings if f.fixable(unsafe_fixes))
    return [{"code": code, "name": name, "count": n, "fixable": fixable[code] > 0}
            for (code, name), n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def statistics_lines(result: RunResult, unsafe_fixes: bool = False) -> list[str]:
    rows = statistics(result, unsafe_fixes)
    width = max((len(str(row["count"])) for row in rows), default=1)
    marks = any(row["fixable"] for row in rows)
    return [f"{row['count']:>{width}}\t{row['code']}\t{('[*] ' if row['fixable'] else '[ ] ') if marks else ''}{row['name']}"
            for row in rows]


def fixed_lines(result: RunResult) -> list[str]:
    """`--fix --show-fixes`: what was fixed, per file and rule (as ruff lists it)."""
    lines = [f"Fixed {result.fixes_applied} finding{'s' if result.fixes_applied != 1 else ''}:"]
    for fixed in result.fixed:
        lines.append(f"- {fixed.path}:")
        lines.extend(f"    {n} × {code} ({name})" for (code, name), n in sorted(fixed.fixed_rules.items()))
    return lines


def verdict_line(confirmation: dict, limit: int | None = None) -> str:
    """`confirmed: grad of `thr` is None [tensorflow 2.21.0, cpu, 0.05 s]`; the evidence cut to
    `limit` characters when given (the JSON output keeps all of it)."""
    where = ", ".join(filter(None, [confirmation.get("framework"), confirmation.get("device")]))
    seconds = confirmation.get("seconds")
    if seconds:
        where = f"{where}, {seconds:.2f} s" if where else f"{seconds:.2f} s"
    evidence = confirmation["evidence"]
    if limit is not None and len(evidence) > limit:
        evidence = evidence[: limit - 1].rstrip() + "…"
    return f"{confirmation['verdict']}: {evidence}" + (f" [{where}]" if where else "")


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
        reasons = result.skip_reasons
        why = next(iter(reasons)) if len(reasons) == 1 else ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        files += f", {result.files_skipped} skipped ({why})"
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
