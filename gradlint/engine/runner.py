"""Lint one file: bytes -> decode -> parse once -> one walk for every rule -> findings.

Positions are computed only for files that have something to report: libcst's position
metadata costs about as much as the parse itself.
"""

from __future__ import annotations

import ast
import gc
import sys
import traceback
import warnings
from collections.abc import Sequence

import libcst as cst

from gradlint.engine.context import SCOPES, STATEMENTS, FileContext
from gradlint.engine.result import NOT_CHECKED, SKIP_COMMENT, SKIP_NO_FRAMEWORK, SYNTAX_ERROR, UNUSED_NOQA, FileResult
from gradlint.engine.syntax import forget_file
from gradlint.engine.fixes import describe
from gradlint.engine.gradients import undifferentiated_file
from gradlint.engine.legacy import Rewrite, as_python3
from gradlint.engine.pieces import PIECE_SIZE, Piece, PieceTooLarge, parse, pieces
from gradlint.engine.positions import Located, code_for_node
from gradlint.engine.prefilter import decode, skip_file_comment, wants_file
from gradlint.engine.suppress import directives, suppressing_line, suppressions, unused
from gradlint.engine.walker import HandlerError, walk
from gradlint.rule import Finding, NodeCode, Report, Rule, Severity

# libcst's native parser overflows its stack (a segfault, not an exception) on a few thousand
# nested brackets; CPython refuses more than 200, so deeper files are checked with `ast` first.
MAX_BRACKET_DEPTH = 200
_OPENING, _CLOSING = b"([{", b")]}"
_NOT_BRACKETS = bytes(set(range(256)) - set(_OPENING + _CLOSING))


def _with_subclasses(base: type) -> list[type]:
    """The class and all its subclasses: the walk dispatches on exact types."""
    found, stack = [], [base]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


_STATEMENT_TYPES = [t for base in STATEMENTS for t in _with_subclasses(base)]
_SCOPE_TYPES = list(SCOPES)
_handler_names: dict[type, list[tuple[str, type, str]]] = {}


def _rule_handlers(rule: type[Rule]) -> list[tuple[str, type, str]]:
    """(visit|leave, node type, method name) for every `visit_X` / `leave_X` of a rule."""
    names = _handler_names.get(rule)
    if names is None:
        names = []
        for attr in dir(rule):
            kind, _, node_name = attr.partition("_")
            if kind in ("visit", "leave") and node_name:
                node_type = getattr(cst, node_name, None)
                if not isinstance(node_type, type):
                    raise TypeError(f"{rule.__name__}.{attr}: libcst has no node {node_name}")
                names.extend((kind, t, attr) for t in _with_subclasses(node_type))
        _handler_names[rule] = names
    return names


def _syntax_error(path: str, text: str, error: Exception) -> Finding:
    line, column, message = 1, 1, f"{type(error).__name__}: {error}"
    try:
        _quiet_parse(text, path)
    except SyntaxError as precise:  # CPython's location and wording beat libcst's
        line, column = precise.lineno or 1, precise.offset or 1
        message = f"SyntaxError: {precise.msg}"
    except (ValueError, RecursionError, MemoryError) as other:
        message = f"{type(other).__name__}: {other}"
    else:
        if isinstance(error, cst.ParserSyntaxError):
            line, column = error.raw_line, error.raw_column + 1
            message = f"libcst cannot parse this file: {error.message}"
    return _gl000(path, line, column, message)


def _quiet_parse(text: str, path: str) -> None:
    """`ast.parse` without its warnings about the user's code (an invalid escape sequence):
    they would reach stderr (a SyntaxWarning from Python 3.12 on) and are not gradlint's findings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ast.parse(text, filename=path)


def _gl000(path: str, line: int, column: int, why: str) -> Finding:
    return Finding(
        path, line, column, line, column, SYNTAX_ERROR, "unparsable-file", Severity.ERROR.value,
        f"file could not be checked: {why}",
    )


def lint_bytes(
    path: str,
    data: bytes,
    rules: Sequence[type[Rule]],
    prefilter=None,
    report_syntax_errors: bool = True,
    plan: bool = False,
) -> FileResult:
    """Lint one file's bytes; with `plan`, a file with findings that was parsed whole also gets
    the dynamic mode's plan of its module, so that the mode does not parse it again."""
    result = FileResult(path)
    if skip_file_comment(data):
        result.skipped = SKIP_COMMENT
        return result
    if not wants_file(data, prefilter):
        result.skipped = SKIP_NO_FRAMEWORK
        return result
    try:
        text = decode(data)
    except (UnicodeDecodeError, LookupError, SyntaxError) as error:
        if report_syntax_errors:
            reason = error.reason if isinstance(error, UnicodeDecodeError) else str(error)
            result.findings.append(_gl000(path, 1, 1, f"not valid text in its encoding ({reason})"))
        return result
    collecting = gc.isenabled()
    gc.disable()  # trees hold no cycles; collections that rescan a growing tree make parsing quadratic
    try:
        _lint_text(result, path, text, data, rules, report_syntax_errors, plan)
    finally:
        if collecting:
            gc.enable()
    return result


def _lint_text(
    result: FileResult, path: str, text: str, data: bytes, rules: Sequence[type[Rule]], report_syntax_errors: bool,
    plan: bool,
) -> None:
    """Parse and walk the text whole, or in pieces when it is large, adding to `result`."""
    active = _applicable([rule for rule in rules if rule.code not in (SYNTAX_ERROR, UNUSED_NOQA)], path)
    unused_rule = next((rule for rule in rules if rule.code == UNUSED_NOQA), None)
    used: set[tuple[int, str]] = set()  # suppression comments that suppressed something, in file lines
    parsed = None
    legacy: Rewrite | None = None  # the Python 3 reading of a Python 2 file
    while True:
        try:
            if parsed is None:
                if _bracket_depth(data) > MAX_BRACKET_DEPTH:
                    _quiet_parse(text, path)  # brackets in strings may inflate the count; ast decides
                parsed = iter([Piece(parse(text), text, 1, 0)] if len(text) <= PIECE_SIZE else pieces(text, PIECE_SIZE))
            piece = next(parsed)
        except StopIteration:
            if unused_rule is not None:
                ran = {rule.code for rule in active}
                result.findings.extend(_unused_directives(path, text, unused_rule, used, ran))
            if legacy is not None:
                _in_original(result.findings, legacy)
            return
        except PieceTooLarge as error:
            result.findings.clear()
            result.errors.append({"path": path, "rule": None, "kind": NOT_CHECKED, "message": f"not checked: {error}"})
            return
        except Exception as error:  # SyntaxError, ParserSyntaxError, RecursionError, MemoryError
            result.findings.clear()  # a file that does not parse has no other findings
            if legacy is None and isinstance(error, (SyntaxError, cst.ParserSyntaxError)):
                legacy = as_python3(text)
                if legacy is not None:  # Python 2: checked as its Python 3 reading, from the start
                    text, parsed, plan = legacy.text, None, False
                    used.clear()
                    continue
            if report_syntax_errors:
                result.findings.append(_syntax_error(path, text, error))
            return
        piece_used: set[tuple[int, str]] = set()
        findings = _lint_module(result, path, piece, text, active, piece_used)
        if findings is None:
            return
        used.update((piece.file_line(line), code) for line, code in piece_used if piece.file_line(line))
        result.findings.extend(_in_file(finding, piece) for finding in findings if piece.file_line(finding.line))
        if plan and result.findings and piece.text is text:
            from gradlint.dynamic.plan import ModulePlan  # the dynamic mode's, imported only when it runs

            result.plan = ModulePlan(path, text, piece.module)
        del piece  # one tree at a time: this one goes before the next is parsed


def _applicable(rules: list[type[Rule]], path: str) -> list[type[Rule]]:
    """The rules that can report in this file: in a file that is not differentiated as a
    whole, not those whose every finding is about differentiated code."""
    if not undifferentiated_file(path):
        return rules
    return [rule for rule in rules if not rule.differentiated_code_only]


def _lint_module(
    result: FileResult, path: str, piece: Piece, file_text: str, active: list[type[Rule]], used: set
) -> list[Finding] | None:
    """Walk one module with the rules in `active` (a rule that breaks is removed from it);
    None when the walk cannot finish (too deep). `used` collects the (line, code) of the
    suppression comments that suppressed a finding, in the piece's lines."""
    forget_file(piece.text)  # per-file caches shared by the rules, dropped once the walk is done
    try:
        while True:
            context = FileContext(path, piece.text, piece.module, file_text)
            instances = [rule(context) for rule in active]
            try:
                _walk_rules(context, instances)
                break
            except HandlerError as failure:
                context.close()
                broken = type(failure.handler.__self__)
                result.errors.append(_internal_error(path, broken, failure.error))
                active.remove(broken)
            except RecursionError as error:
                result.errors.append({"path": path, "rule": None, "message": f"RecursionError: {error}"})
                return None
    finally:
        forget_file()
        context.close()
    result.dependencies.update((path, list(signature)) for path, signature in context.modules_read().items())
    reports = [report for instance in instances for report in instance.reports]
    if not reports:
        return []
    try:
        return _findings(context, reports, used)
    except RecursionError as error:
        result.errors.append({"path": path, "rule": None, "message": f"RecursionError: {error}"})
        return None


def _in_original(findings: list[Finding], legacy: Rewrite) -> None:
    """Findings of a Python 2 file's rewrite placed in the file's own columns, without fixes
    (a fix is an edit of the rewrite, not of the file)."""
    for finding in findings:
        finding.column = legacy.column(finding.line, finding.column)
        finding.end_column = legacy.column(finding.end_line, finding.end_column)
        finding.fix = None


def _in_file(finding: Finding, piece: Piece) -> Finding:
    """A finding of a piece placed in the whole file."""
    if piece.first_line == 1 and not piece.prefix_lines:
        return finding
    finding.line, finding.end_line = piece.file_line(finding.line), piece.file_line(finding.end_line)
    if finding.fix is not None:
        where = dict(finding.fix["range"])
        where["line"], where["end_line"] = piece.file_line(where["line"]), piece.file_line(where["end_line"])
        finding.fix = {**finding.fix, "range": where}
    return finding


def _unused_directives(path: str, text: str, rule: type[Rule], used: set, ran: set[str]) -> list[Finding]:
    """GL900: the suppression comments that suppressed nothing in this run."""
    from gradlint.registry import rule_index

    return [
        Finding(path, d.line, d.column, d.line, d.end_column, rule.code, rule.name, rule.severity.value,
                rule.message.format(directive=d.kind, why=why))
        for d, why in unused(directives(text), used, ran, set(rule_index()))
    ]


def _bracket_depth(data: bytes) -> int:
    brackets = data.translate(None, _NOT_BRACKETS)
    if brackets.count(b"(") + brackets.count(b"[") + brackets.count(b"{") <= MAX_BRACKET_DEPTH:
        return 0
    depth = deepest = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _walk_rules(context: FileContext, instances: list[Rule]) -> None:
    visitors: dict[type, list] = {}
    leavers: dict[type, list] = {}
    for node_type in _STATEMENT_TYPES:
        visitors.setdefault(node_type, []).append(context.statements.append)
        leavers.setdefault(node_type, []).append(lambda _node: context.statements.pop())
    for node_type in _SCOPE_TYPES:
        visitors.setdefault(node_type, []).append(context.scopes.append)
        leavers.setdefault(node_type, []).append(lambda _node: context.scopes.pop())
    for instance in instances:
        for kind, node_type, attr in _rule_handlers(type(instance)):
            table = visitors if kind == "visit" else leavers
            handlers = table.setdefault(node_type, [])
            method = getattr(instance, attr)
            # The scope and statement stacks are popped last, so leave_* still sees them.
            if kind == "leave":
                handlers.insert(0, method)
            else:
                handlers.append(method)
    walk(context.module, visitors, leavers)


def _message(report: Report, located: Located) -> str:
    """The report's template filled, `NodeCode` fields with the code the positions pass read."""
    fields = {}
    for name, value in report.fields.items():
        if isinstance(value, NodeCode):
            span = located.span(value.node)
            code = located.code[span.start : span.end] if span is not None else code_for_node(located.module, value.node)
            value = value.text(code)
        fields[name] = value
    return report.message.format(**fields)


def _internal_error(path: str, rule: type[Rule], error: BaseException) -> dict:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return {
        "path": path,
        "rule": rule.code,
        "message": f"internal error in {rule.code} {rule.name}: {type(error).__name__}: {error}{where}",
    }


def _findings(context: FileContext, reports: list[Report], used: set[tuple[int, str]]) -> list[Finding]:
    """The reports that no directive suppresses, as findings; `used` collects (directive line,
    code) for those that one does."""
    path = context.path
    coded = [value.node for report in reports if report.fields for value in report.fields.values() if isinstance(value, NodeCode)]
    suppressed = suppressions(context.text)
    located = Located(
        context.module,
        [report.fix.node for report in reports if report.fix is not None] + coded,
        # A statement's line matters only to a suppression comment on it.
        [node for report in reports for node in (report.node, report.statement if suppressed else None) if node is not None],
    )
    # Where libcst's code is not the file or the start of it (it drops a form feed that starts a
    # line, and a last lone "\r"), positions in its code are not positions in the file: no fixes.
    fixes_fit = context.text.startswith(located.code)
    findings = []
    seen = set()
    for report in reports:
        if report.fields:
            report.message = _message(report, located)
        where = located.position(report.node)
        if where is None:
            raise KeyError(f"{report.rule.code} reported a node that is not in the file")
        lines = [where.start.line]
        statement = located.position(report.statement) if report.statement is not None else None
        if statement is not None:
            lines.append(statement.start.line)
        rule = report.rule
        directive_line = suppressing_line(rule.code, tuple(lines), suppressed) if suppressed else None
        if directive_line is not None:
            used.add((directive_line, rule.code))
            continue
        key = (rule.code, where.start.line, where.start.column, report.message)
        if key in seen:
            continue
        seen.add(key)
        fix = None
        if report.fix is not None and fixes_fit:
            safe = rule.fix_safe if report.fix.safe is None else report.fix.safe
            fix = describe(located, report.fix, rule.fix_title, safe)
            if fix is not None:  # dense files repeat the same fix and message thousands of times
                fix["replacement"] = sys.intern(fix["replacement"])
        findings.append(
            Finding(
                path, where.start.line, where.start.column + 1, where.end.line, where.end.column + 1,
                rule.code, rule.name, (report.severity or rule.severity).value, sys.intern(report.message), fix,
            )
        )
    return findings
