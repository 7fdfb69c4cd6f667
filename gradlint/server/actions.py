"""What the server offers for a linted document: diagnostics, quick fixes, the `noqa` action,
fix-all and hover. Each is computed from one `Linted` (one version of the text) and every edit
names that version. Fixes come from the engine: a quick fix is the finding's own edit and fix-all
is `gradlint --fix` run on the editor's text."""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from gradlint.dev.docs import page_uri, rule_page
from gradlint.engine.result import SYNTAX_ERROR
from gradlint.engine.suppress import is_suppressed, suppressions, with_noqa
from gradlint.registry import get_rule
from gradlint.rule import Finding
from gradlint.server.documents import Lines, Linted

FIX_ALL = f"{types.CodeActionKind.SourceFixAll.value}.gradlint"
SOURCE = "gradlint"
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}


def lines(ls: LanguageServer, text: str) -> Lines:
    return Lines(text, ls.workspace.position_codec)


def wants(only: list[str] | None, kind: str) -> bool:
    """Whether a request limited to the kinds `only` takes actions of `kind` (kinds nest at dots)."""
    return only is None or any(kind == wanted or kind.startswith(f"{wanted}.") for wanted in only)


def diagnostic(finding: Finding, where: Lines) -> types.Diagnostic:
    href = page_uri(get_rule(finding.rule))
    return types.Diagnostic(
        range=where.finding_range(finding),
        message=finding.message,
        severity=_SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.rule,
        code_description=types.CodeDescription(href=href) if href else None,
        source=SOURCE,
    )


def quick_fixes(ls: LanguageServer, linted: Linted, wanted: types.Range) -> list[types.CodeAction]:
    """For each finding on the requested lines: its fix, and a `# noqa` comment for its line."""
    where = lines(ls, linted.text)
    found = []
    for finding in linted.findings:
        at = where.finding_range(finding)
        if at.end.line < wanted.start.line or at.start.line > wanted.end.line:
            continue
        problem = [diagnostic(finding, where)]
        if finding.fix is not None:
            fix = finding.fix
            edit = types.TextEdit(
                range=where.range(**fix["range"]), new_text=fix["replacement"]
            )
            found.append(types.CodeAction(
                title=f"{finding.rule}: {fix['title']}" + ("" if fix["safe"] else " (unsafe: changes numerical results)"),
                kind=types.CodeActionKind.QuickFix,
                is_preferred=fix["safe"],
                diagnostics=problem,
                edit=workspace_edit(ls, {linted.uri: (linted.version, [edit])}),
            ))
        disabled = _disabled(linted.text, finding)
        if disabled is not None:
            found.append(types.CodeAction(
                title=f"Disable {finding.rule} for this line",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=problem,
                edit=workspace_edit(ls, {linted.uri: (linted.version, [where.edit(linted.text, disabled)])}),
            ))
    return found


def _disabled(text: str, finding: Finding) -> str | None:
    """The text with a `# noqa` comment that the engine reads as suppressing this finding."""
    if finding.rule == SYNTAX_ERROR:  # not a finding a comment can silence
        return None
    after, _ = with_noqa(text, {finding.line: {finding.rule}})
    if after == text or not is_suppressed(finding.rule, (finding.line,), suppressions(after)):
        return None
    return after


def fix_all_action(ls: LanguageServer, changes: dict[str, tuple[Linted, str]]) -> types.CodeAction:
    """One action with what `gradlint --fix` writes, per document: (its lint, its fixed text)."""
    edits = {
        uri: (linted.version, [lines(ls, linted.text).edit(linted.text, fixed)])
        for uri, (linted, fixed) in changes.items()
    }
    return types.CodeAction(
        title="gradlint: fix all safely fixable problems", kind=FIX_ALL, edit=workspace_edit(ls, edits)
    )


def workspace_edit(ls: LanguageServer, edits: dict[str, tuple[int | None, list[types.TextEdit]]]) -> types.WorkspaceEdit:
    """Versioned edits where the client takes them (it then refuses them for another version)."""
    capabilities = ls.client_capabilities.workspace
    versioned = capabilities and capabilities.workspace_edit and capabilities.workspace_edit.document_changes
    if versioned:
        return types.WorkspaceEdit(document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=changes
            )
            for uri, (version, changes) in edits.items()
        ])
    return types.WorkspaceEdit(changes={uri: changes for uri, (_, changes) in edits.items()})


def hover(ls: LanguageServer, linted: Linted, position: types.Position) -> types.Hover | None:
    """The rule pages of the findings under the cursor."""
    where = lines(ls, linted.text)
    point = where.point(position)
    codes = dict.fromkeys(
        f.rule for f in linted.findings
        if (f.line, f.column) <= point <= (f.end_line, f.end_column)
    )
    if not codes:
        return None
    return types.Hover(contents=types.MarkupContent(
        kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(rule_page(get_rule(code)) for code in codes)
    ))
