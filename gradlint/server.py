"""`gradlint server`: a language server (pygls) for editors.

Diagnostics are published when a document is opened or saved (and cleared when it is closed);
fixable findings are offered as code actions. Settings come from the configuration file found
from the document's own folder, as on the command line.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gradlint import __version__
from gradlint.api import _Job
from gradlint.config import ConfigError, Settings, find_config, load_settings
from gradlint.registry import SelectionError, select_rules
from gradlint.rule import Finding

SOURCE = "gradlint"
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}

server = LanguageServer(SOURCE, __version__)
# uri -> the findings behind the diagnostics last published (the code actions read their fixes).
_published: dict[str, list[Finding]] = {}


def _utf16(line: str, column: int) -> int:
    """LSP counts UTF-16 code units; findings count characters (1-based)."""
    prefix = line[: column - 1]
    return len(prefix.encode("utf-16-le")) // 2


def _range(lines: list[str], line: int, column: int, end_line: int, end_column: int) -> types.Range:
    def position(row: int, col: int) -> types.Position:
        text = lines[row - 1] if 0 < row <= len(lines) else ""
        return types.Position(line=max(row - 1, 0), character=_utf16(text, col))

    return types.Range(start=position(line, column), end=position(end_line, end_column))


def _settings(path: str) -> Settings:
    try:
        return load_settings(find_config(Path(path).parent))
    except (ConfigError, OSError) as error:
        server.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Error, message=f"gradlint: {error}")
        )
        return Settings()


def lint_document(uri: str, text: str) -> list[Finding]:
    path = to_fs_path(uri) or uri
    settings = _settings(path)
    if settings.is_excluded(path):
        return []
    try:
        rules = select_rules(settings.select, settings.ignore, settings.extend_select)
    except SelectionError as error:
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"gradlint: {error}"))
        return []
    result = _Job([rule.code for rule in rules], settings).run(path, text.encode("utf-8"))
    for error in result.errors:
        server.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=error["message"]))
    return result.findings


def _publish(uri: str, text: str | None) -> None:
    findings = lint_document(uri, text) if text is not None else []
    _published[uri] = findings
    lines = (text or "").splitlines()
    diagnostics = [
        types.Diagnostic(
            range=_range(lines, f.line, f.column, f.end_line, f.end_column),
            message=f.message,
            severity=_SEVERITY.get(f.severity, types.DiagnosticSeverity.Warning),
            code=f.rule,
            code_description=None,
            source=SOURCE,
            data={"rule": f.rule, "line": f.line, "column": f.column},
        )
        for f in findings
    ]
    server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    _publish(params.text_document.uri, params.text_document.text)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=True))
def did_save(ls: LanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    text = params.text if params.text is not None else ls.workspace.get_text_document(uri).source
    _publish(uri, text)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: LanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    _publish(params.text_document.uri, None)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
def code_actions(ls: LanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    lines = ls.workspace.get_text_document(uri).source.splitlines()
    wanted = params.range
    actions = []
    for finding in _published.get(uri, []):
        if finding.fix is None:
            continue
        where = _range(lines, finding.line, finding.column, finding.end_line, finding.end_column)
        if where.end.line < wanted.start.line or where.start.line > wanted.end.line:
            continue
        edit = finding.fix["range"]
        text_edit = types.TextEdit(
            range=_range(lines, edit["line"], edit["column"], edit["end_line"], edit["end_column"]),
            new_text=finding.fix["replacement"],
        )
        safety = "" if finding.fix["safe"] else " (unsafe: changes numerical results)"
        actions.append(
            types.CodeAction(
                title=f"{finding.rule}: {finding.fix['title']}{safety}",
                kind=types.CodeActionKind.QuickFix,
                is_preferred=finding.fix["safe"],
                edit=types.WorkspaceEdit(changes={uri: [text_edit]}),
            )
        )
    return actions


def main() -> int:
    server.start_io()
    return 0
