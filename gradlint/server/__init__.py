"""`gradlint server`: a language server (pygls) for editors.

Documents are linted when opened or saved and, debounced, while they are edited (unsaved text);
each lint is for one version of the text, and diagnostics are published with that version.
A code action or hover is always answered from a lint of the text the editor holds now, and its
edits name that version, so no client applies them to a buffer that changed since.
Jupyter notebooks synced as notebook documents are linted as their file would be, one program of
all code cells, with diagnostics on the cells. Settings come from the configuration file found
from the document's own folder, as on the command line.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gradlint import __version__
from gradlint.api import _Job
from gradlint.config import ConfigError, Settings, find_config, load_settings
from gradlint.registry import SelectionError, select_codes
from gradlint.server import actions
from gradlint.server.actions import SOURCE
from gradlint.server.documents import Cell, Linted, fix_all, fix_notebook, lint, lint_notebook

# Seconds without an edit before unsaved text is linted: typing does not lint every keystroke.
DEBOUNCE = 0.25
PYTHON_CELLS = types.NotebookDocumentFilterWithCells(
    notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
)

server = LanguageServer(
    SOURCE,
    __version__,
    # Whole texts, not increments: pygls applies increments with str.splitlines, whose line
    # breaks (form feeds, \u2028, ...) are not the ones LSP and Python count.
    text_document_sync_kind=types.TextDocumentSyncKind.Full,
    notebook_document_sync=types.NotebookDocumentSyncOptions(notebook_selector=[PYTHON_CELLS], save=True),
)
# uri of a text document (a file or a cell) -> its last lint, which the diagnostics show.
_linted: dict[str, Linted] = {}
# uri of a file or a notebook -> the debounced lint waiting for the editor to pause.
_pending: dict[str, asyncio.TimerHandle] = {}
_shown: set[str] = set()  # configuration errors already shown (not again on every keystroke)


# Linting --------------------------------------------------------------------------------------


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _job(path: str) -> _Job | None:
    """The rules and settings the command line would use for this file; None where it is excluded."""
    settings = Settings()
    try:
        settings = load_settings(find_config(Path(path).parent))
    except (ConfigError, OSError) as error:
        _show_once(str(error))
    if settings.is_excluded(path):
        return None
    try:
        return _Job(select_codes(settings.select, settings.ignore, settings.extend_select), settings)
    except SelectionError as error:
        _show_once(str(error))
        return None


def _show_once(message: str) -> None:
    if message not in _shown:
        _shown.add(message)
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"gradlint: {message}"))


def _log(errors: list[dict]) -> None:
    for error in errors:
        server.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=error["message"]))


def _lint_file(uri: str) -> Linted:
    document = server.workspace.get_text_document(uri)
    linted = Linted(uri, document.version, document.source)
    job = _job(_path(uri))
    if job is not None:
        linted.findings, errors = lint(job, _path(uri), linted.text)
        _log(errors)
    return linted


def _cells(notebook: types.NotebookDocument) -> list[Cell]:
    cells = []
    for cell in notebook.cells:
        document = server.workspace.get_text_document(cell.document)
        if cell.kind == types.NotebookCellKind.Markup:
            kind = "markdown"
        else:  # a code cell in another language is left out, as Jupyter's own raw cells are
            kind = "code" if document.language_id in (None, "python") else "raw"
        cells.append(Cell(cell.document, kind, document.source, document.version))
    return cells


def _lint_notebook(notebook: types.NotebookDocument) -> dict[str, Linted]:
    cells = _cells(notebook)
    job = _job(_path(notebook.uri))
    if job is None:
        return {cell.uri: Linted(cell.uri, cell.version, cell.text) for cell in cells}
    linted, errors = lint_notebook(job, _path(notebook.uri), cells)
    _log(errors)
    return linted


def _publish(linted: Linted) -> None:
    _linted[linted.uri] = linted
    lines = actions.lines(server, linted.text)
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=linted.uri, version=linted.version,
            diagnostics=[actions.diagnostic(finding, lines) for finding in linted.findings],
        )
    )


def _clear(uri: str) -> None:
    _linted.pop(uri, None)
    server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _refresh(uri: str) -> None:
    """Lint a file or a notebook now and publish what was found; a pending lint is dropped."""
    _cancel(uri)
    notebook = server.workspace.get_notebook_document(notebook_uri=uri)
    if notebook is not None:
        for cell in _lint_notebook(notebook).values():
            _publish(cell)
    else:
        _publish(_lint_file(uri))


def _notebook_of(cell_uri: str) -> types.NotebookDocument | None:
    return server.workspace.get_notebook_document(cell_uri=cell_uri)


def _unit(uri: str) -> tuple[str, list[str]]:
    """What a document is linted as part of: (the file's or notebook's uri, its text documents)."""
    notebook = _notebook_of(uri)
    if notebook is None:
        return uri, [uri]
    return notebook.uri, [cell.document for cell in notebook.cells]


def _schedule(uri: str) -> None:
    _cancel(uri)
    _pending[uri] = asyncio.get_running_loop().call_later(DEBOUNCE, _refresh, uri)


def _cancel(uri: str) -> None:
    waiting = _pending.pop(uri, None)
    if waiting is not None:
        waiting.cancel()


def current(uri: str) -> Linted:
    """The lint of the text the editor holds now for a file or a cell: the last one if no
    document it depends on (the file, or every cell of the notebook) has changed since, else a
    new one (published too)."""
    linted_as, documents = _unit(uri)
    if not all(_is_fresh(document) for document in documents):
        _refresh(linted_as)
    if uri not in _linted:  # not a document the workspace knows: nothing to offer
        document = server.workspace.get_text_document(uri)
        return Linted(uri, document.version, document.source)
    return _linted[uri]


def _is_fresh(uri: str) -> bool:
    linted, document = _linted.get(uri), server.workspace.get_text_document(uri)
    return linted is not None and (linted.version, linted.text) == (document.version, document.source)


# Document sync --------------------------------------------------------------------------------


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    if _notebook_of(params.text_document.uri) is None:
        _refresh(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: LanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    _schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: LanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    _refresh(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: LanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    _cancel(params.text_document.uri)
    _clear(params.text_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: LanguageServer, params: types.DidOpenNotebookDocumentParams) -> None:
    _refresh(params.notebook_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: LanguageServer, params: types.DidChangeNotebookDocumentParams) -> None:
    for closed in (params.change.cells and params.change.cells.structure and params.change.cells.structure.did_close) or []:
        _clear(closed.uri)
    _schedule(params.notebook_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: LanguageServer, params: types.DidSaveNotebookDocumentParams) -> None:
    _refresh(params.notebook_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: LanguageServer, params: types.DidCloseNotebookDocumentParams) -> None:
    _cancel(params.notebook_document.uri)
    for cell in params.cell_text_documents:
        _clear(cell.uri)


# Code actions and hover -----------------------------------------------------------------------


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, actions.FIX_ALL]),
)
def code_actions(ls: LanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    linted = current(uri)
    found: list[types.CodeAction] = []
    if actions.wants(params.context.only, types.CodeActionKind.QuickFix):
        found += actions.quick_fixes(ls, linted, params.range)
    if actions.wants(params.context.only, actions.FIX_ALL):
        found += _fix_all(ls, uri)
    return found


def _fix_all(ls: LanguageServer, uri: str) -> list[types.CodeAction]:
    """`gradlint --fix` on the file or the whole notebook the document belongs to."""
    linted_as, documents = _unit(uri)
    if not any(f.fixable() for document in documents if document in _linted for f in _linted[document].findings):
        return []  # the fixes are computed only where there are some (clients ask often)
    path = _path(linted_as)
    job = _job(path)
    if job is None:
        return []
    notebook = server.workspace.get_notebook_document(notebook_uri=linted_as)
    if notebook is None:
        fixed = fix_all(job, path, _linted[uri].text)
        changes = {uri: fixed} if fixed is not None else {}
    else:
        changes = fix_notebook(job, path, _cells(notebook))
    if not changes:
        return []
    return [actions.fix_all_action(ls, {document: (_linted[document], text) for document, text in changes.items()})]


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover | None:
    return actions.hover(ls, current(params.text_document.uri), params.position)


def main() -> int:
    server.start_io()
    return 0
