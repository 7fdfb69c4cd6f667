"""`gradlint server` driven over stdio by pygls's LSP client, as an editor would drive it.

Every edit the server sends is applied here to the text the client holds, and compared with what
`gradlint --fix` writes for that same text (`fix_source`): the editor must get exactly that.
`tests/test_server_neovim.py` does the same through a real editor.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from gradlint.api import fix_source, lint_source

BAD = "import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)  # é\nscipy.optimize.minimize(J, theta)\n"
CLEAN = BAD.replace("sum(theta)", "sum(x)")
# Two GL080 fixes, each on a line with text outside the BMP before it (4 UTF-8 bytes, 2 UTF-16 units).
SOFTMAX = (
    "import torch\n"
    "\n"
    "x = torch.randn(3, 5)\n"
    'label = "Größe ≈ \U0001F600"; logp = torch.log(torch.softmax(x, -1))\n'
    "loss = -torch.log(torch.softmax(x, 1)).mean()  # é\n"
)
FIX_ALL = "source.fixAll.gradlint"
TIMEOUT = 60


class Session:
    """One server process and the client's view of it: the documents it holds and what was published."""

    def __init__(self, client: LanguageClient, init: types.InitializeResult) -> None:
        self.client = client
        self.init = init
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}  # not yet returned
        self.log: dict[str, list[types.PublishDiagnosticsParams]] = {}  # all, in order
        self.arrived = asyncio.Condition()
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

    async def diagnostics(self, uri: str, version: int | None = None) -> types.PublishDiagnosticsParams:
        """The first publication for `uri` (for `version`, when given) not yet returned."""

        def ready() -> bool:
            return any(version is None or p.version == version for p in self.published.get(uri, []))

        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(ready), TIMEOUT)
        pending = self.published[uri]
        found = next(p for p in pending if version is None or p.version == version)
        del pending[: pending.index(found) + 1]
        return found

    def open(self, uri: str, text: str) -> None:
        self.texts[uri], self.versions[uri] = text, 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )

    def change(self, uri: str, text: str) -> int:
        """Replace the whole text, unsaved, as an editor sends it; returns the new version."""
        self.texts[uri] = text
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        return self.versions[uri]

    async def actions(self, uri: str, line: int, only: list[str] | None = None) -> list[types.CodeAction]:
        where = types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=0))
        result = await asyncio.wait_for(
            self.client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=where,
                    context=types.CodeActionContext(diagnostics=[], only=only),
                )
            ),
            TIMEOUT,
        )
        return list(result or [])

    async def hover(self, uri: str, line: int, character: int) -> types.Hover | None:
        return await asyncio.wait_for(
            self.client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=character),
                )
            ),
            TIMEOUT,
        )

    def encoding(self) -> str:
        return self.init.capabilities.position_encoding or types.PositionEncodingKind.Utf16


@asynccontextmanager
async def server(tmp_path: Path, capabilities: types.ClientCapabilities | None = None):
    client = LanguageClient("test-client", "1")
    session: Session | None = None

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    async def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        async with session.arrived:
            session.published.setdefault(params.uri, []).append(params)
            session.log.setdefault(params.uri, []).append(params)
            session.arrived.notify_all()

    await client.start_io(sys.executable, "-m", "gradlint", "server", cwd=str(tmp_path))
    try:
        init = await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=capabilities or types.ClientCapabilities(),
                    root_uri=from_fs_path(str(tmp_path)),
                )
            ),
            TIMEOUT,
        )
        session = Session(client, init)
        client.initialized(types.InitializedParams())
        yield session
        await asyncio.wait_for(client.shutdown_async(None), TIMEOUT)
    finally:
        client.exit(None)  # after a failure too: the server then exits without a shutdown
        await client.stop()


def utf8_client() -> types.ClientCapabilities:
    """Neovim's offer: UTF-8 first (pygls takes the client's first choice)."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]
        ),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)
        ),
    )


def units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def offset(text: str, position: types.Position, encoding: str) -> int:
    """A position in the client's units -> an index into `text`, as an editor resolves it."""
    lines = io.StringIO(text, newline="").readlines()  # LSP's line breaks: "\r\n", "\r", "\n"
    start = sum(len(line) for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    column = 0
    while column < len(line) and units(line[:column], encoding) < position.character:
        column += 1
    assert units(line[:column], encoding) == position.character, "a position inside a character"
    return start + column


def edits_for(action: types.CodeAction, uri: str) -> tuple[int | None, list[types.TextEdit]]:
    """(the document version the edit is for, its text edits) from either form of WorkspaceEdit."""
    edit = action.edit
    if edit.document_changes:
        [change] = [c for c in edit.document_changes if c.text_document.uri == uri]
        return change.text_document.version, list(change.edits)
    return None, list(edit.changes[uri])


def apply(text: str, edits: list[types.TextEdit], encoding: str) -> str:
    """Apply non-overlapping edits, as an editor does: each range refers to the text before any."""
    spans = sorted(((offset(text, e.range.start, encoding), offset(text, e.range.end, encoding), e.new_text)
                    for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def run(coroutine):
    return asyncio.run(coroutine)


def source_file(tmp_path: Path, text: str, name: str = "train.py") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return from_fs_path(str(path))


# -- diagnostics ---------------------------------------------------------------------------


def test_diagnostics_on_open_and_save_and_a_fix_as_code_action(tmp_path):
    uri = source_file(tmp_path, BAD)

    async def scenario():
        async with server(tmp_path) as s:
            s.open(uri, BAD)
            opened = await s.diagnostics(uri)
            actions = await s.actions(uri, 3, only=[types.CodeActionKind.QuickFix])
            version = s.change(uri, CLEAN)
            Path(tmp_path / "train.py").write_text(CLEAN)
            s.client.text_document_did_save(
                types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
            )
            saved = await s.diagnostics(uri, version=version)
            return s.init, opened, actions, saved

    init, opened, actions, saved = run(scenario())
    assert init.server_info.name == "gradlint"
    [diagnostic] = opened.diagnostics
    assert (diagnostic.code, diagnostic.source, diagnostic.severity) == ("GL050", "gradlint", types.DiagnosticSeverity.Error)
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (3, 4)
    [fix] = [a for a in actions if a.title.startswith("GL050: read the parameter")]
    assert fix.kind == types.CodeActionKind.QuickFix
    _, [edit] = edits_for(fix, uri)
    assert edit.new_text == "x"
    assert (edit.range.start.line, edit.range.start.character, edit.range.end.character) == (3, 18, 23)
    assert list(saved.diagnostics) == []


def test_positions_are_in_the_encoding_the_client_negotiated(tmp_path):
    uri = source_file(tmp_path, SOFTMAX)

    async def scenario(capabilities):
        async with server(tmp_path, capabilities) as s:
            s.open(uri, SOFTMAX)
            published = await s.diagnostics(uri)
            return s.encoding(), published.diagnostics, await s.actions(uri, 3, only=[types.CodeActionKind.QuickFix])

    line = SOFTMAX.splitlines()[3]
    for capabilities, expected in ((utf8_client(), types.PositionEncodingKind.Utf8),
                                   (types.ClientCapabilities(), types.PositionEncodingKind.Utf16)):
        encoding, diagnostics, actions = run(scenario(capabilities))
        assert encoding == expected
        first = min(diagnostics, key=lambda d: d.range.start.line)
        assert first.range.start.character == units(line[: line.index("torch.log(")], expected)
        [fix] = [a for a in actions if a.title.startswith("GL080")]
        _, edits = edits_for(fix, uri)
        assert apply(SOFTMAX, edits, expected) == SOFTMAX.replace(
            "torch.log(torch.softmax(x, -1))", "torch.log_softmax(x, -1)"
        )


def test_unsaved_edits_are_linted_debounced_and_published_for_their_version(tmp_path):
    uri = source_file(tmp_path, BAD)
    edited = "# a line added in the editor, not saved\n\n" + BAD

    async def scenario():
        async with server(tmp_path, utf8_client()) as s:
            s.open(uri, BAD)
            await s.diagnostics(uri, version=1)
            for _ in range(4):  # typing: several changes in a burst, the last one counts
                last = s.change(uri, edited)
            changed = await s.diagnostics(uri, version=last)
            return last, changed, [p.version for p in s.log[uri]]

    last, changed, versions = run(scenario())
    [diagnostic] = changed.diagnostics
    assert diagnostic.range.start.line == 5  # moved down with the two new lines
    assert last == 5 and changed.version == 5
    assert versions == [1, 5]  # the burst was linted once, after it


def test_a_code_action_never_applies_to_a_buffer_it_was_not_computed_for(tmp_path):
    """Asked right after an unsaved edit (before the debounced lint), the fix must be computed
    from the text the editor now holds and carry that version, so a client can refuse it later."""
    uri = source_file(tmp_path, SOFTMAX)
    edited = "# Größe: two lines typed in the editor \U0001F600\n\n" + SOFTMAX

    async def scenario():
        async with server(tmp_path, utf8_client()) as s:
            s.open(uri, SOFTMAX)
            await s.diagnostics(uri)
            version = s.change(uri, edited)
            where_it_was = await s.actions(uri, 3, only=[types.CodeActionKind.QuickFix])
            return version, s.encoding(), where_it_was, await s.actions(uri, 5, only=[types.CodeActionKind.QuickFix])

    version, encoding, where_it_was, actions = run(scenario())
    assert where_it_was == []  # line 3 is now blank: nothing to fix there
    [fix] = [a for a in actions if a.title.startswith("GL080")]
    for_version, edits = edits_for(fix, uri)
    assert for_version == version
    expected = edited.replace("torch.log(torch.softmax(x, -1))", "torch.log_softmax(x, -1)")
    assert apply(edited, edits, encoding) == expected


def test_fix_all_is_what_gradlint_fix_writes(tmp_path):
    uri = source_file(tmp_path, SOFTMAX)
    edited = SOFTMAX + "z = torch.log(torch.softmax(x, 0))  # ü\n"

    async def scenario():
        async with server(tmp_path, utf8_client()) as s:
            s.open(uri, SOFTMAX)
            await s.diagnostics(uri)
            version = s.change(uri, edited)
            fix_all = await s.actions(uri, 0, only=[types.CodeActionKind.SourceFixAll])  # as VS Code asks on save
            quick_only = await s.actions(uri, 3, only=[types.CodeActionKind.QuickFix])
            return version, s.encoding(), fix_all, quick_only

    version, encoding, fix_all, quick_only = run(scenario())
    [action] = fix_all
    assert action.kind == "source.fixAll.gradlint"
    for_version, edits = edits_for(action, uri)
    assert for_version == version
    fixed, _ = fix_source(edited, tmp_path / "train.py")
    assert apply(edited, edits, encoding) == fixed.decode("utf-8")
    assert fixed.decode("utf-8") != edited
    assert all(a.kind == types.CodeActionKind.QuickFix for a in quick_only)


def test_no_fix_all_when_nothing_is_fixable(tmp_path):
    text = "import torch\n\nprobs = torch.softmax(torch.randn(3), -1)\n"
    uri = source_file(tmp_path, text)

    async def scenario():
        async with server(tmp_path) as s:
            s.open(uri, text)
            await s.diagnostics(uri)
            return await s.actions(uri, 0, only=[FIX_ALL])

    assert run(scenario()) == []


# -- rule documentation ----------------------------------------------------------------------


def test_hover_and_code_description_show_the_rule_page(tmp_path):
    from gradlint.dev.docs import page_path
    from gradlint.registry import get_rule

    uri = source_file(tmp_path, SOFTMAX)

    async def scenario():
        async with server(tmp_path, utf8_client()) as s:
            s.open(uri, SOFTMAX)
            published = await s.diagnostics(uri)
            line = SOFTMAX.splitlines()[3]
            inside = units(line[: line.index("torch.softmax")], s.encoding())
            return published.diagnostics, await s.hover(uri, 3, inside), await s.hover(uri, 2, 0)

    diagnostics, hover, elsewhere = run(scenario())
    rule = get_rule("GL080")
    assert {d.code_description.href for d in diagnostics} == {page_path(rule).as_uri()}
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert "# log-of-softmax (GL080)" in hover.contents.value
    assert "## Why is this bad?" in hover.contents.value
    assert "<!--" not in hover.contents.value  # the page as `gradlint rule` prints it
    assert elsewhere is None


# -- suppressing -----------------------------------------------------------------------------


def test_disable_for_this_line_writes_the_noqa_comment_gradlint_honours(tmp_path):
    text = SOFTMAX + "z = torch.log(torch.softmax(x, 0))  # noqa: GL050\n"
    uri = source_file(tmp_path, text)

    async def scenario():
        async with server(tmp_path, utf8_client()) as s:
            s.open(uri, text)
            await s.diagnostics(uri)
            return s.encoding(), {line: await s.actions(uri, line) for line in (3, 4, 5)}

    encoding, actions = run(scenario())
    lines = text.splitlines(keepends=True)
    expected = {
        3: lines[3].rstrip("\n") + "  # noqa: GL080\n",  # no comment yet
        4: lines[4].replace("# é", "# é  # noqa: GL080"),  # after the comment already there
        5: lines[5].replace("# noqa: GL050", "# noqa: GL050, GL080"),  # one noqa, codes listed
    }
    for line, want in expected.items():
        [disable] = [a for a in actions[line] if a.title == "Disable GL080 for this line"]
        assert disable.kind == types.CodeActionKind.QuickFix
        _, edits = edits_for(disable, uri)
        after = apply(text, edits, encoding)
        assert after.splitlines(keepends=True)[line] == want
        assert len(lint_source(after, tmp_path / "train.py")) == len(lint_source(text, tmp_path / "train.py")) - 1


# -- notebooks -------------------------------------------------------------------------------


def notebook_capabilities() -> types.ClientCapabilities:
    capabilities = utf8_client()
    capabilities.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities()
    )
    return capabilities


def cell(uri: str, kind: types.NotebookCellKind) -> types.NotebookCell:
    return types.NotebookCell(kind=kind, document=uri)


def test_notebook_documents_are_linted_as_one_program_with_findings_per_cell(tmp_path):
    notebook_uri = from_fs_path(str(tmp_path / "explore.ipynb"))
    cells = {
        f"{notebook_uri}#cell1": (types.NotebookCellKind.Code, "import torch\n%matplotlib inline\nx = torch.randn(3)\n"),
        f"{notebook_uri}#cell2": (types.NotebookCellKind.Markup, "# Größe \U0001F600\n"),
        f"{notebook_uri}#cell3": (types.NotebookCellKind.Code, 's = "ü"; p = torch.log(torch.softmax(x, -1))\n'),
    }
    code_cell = f"{notebook_uri}#cell3"
    changed_text = "\n" + cells[code_cell][1]

    async def scenario():
        async with server(tmp_path, notebook_capabilities()) as s:
            assert s.init.capabilities.notebook_document_sync is not None
            s.client.notebook_document_did_open(
                types.DidOpenNotebookDocumentParams(
                    notebook_document=types.NotebookDocument(
                        uri=notebook_uri, notebook_type="jupyter-notebook", version=1,
                        cells=[cell(uri, kind) for uri, (kind, _) in cells.items()],
                    ),
                    cell_text_documents=[
                        types.TextDocumentItem(uri=uri, language_id="python" if kind == types.NotebookCellKind.Code else "markdown",
                                               version=1, text=text)
                        for uri, (kind, text) in cells.items()
                    ],
                )
            )
            opened = await s.diagnostics(code_cell)
            quick = await s.actions(code_cell, 0, only=[types.CodeActionKind.QuickFix])
            fix_all = await s.actions(code_cell, 0, only=[FIX_ALL])
            s.client.notebook_document_did_change(
                types.DidChangeNotebookDocumentParams(
                    notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook_uri, version=2),
                    change=types.NotebookDocumentChangeEvent(
                        cells=types.NotebookDocumentCellChanges(
                            text_content=[
                                types.NotebookDocumentCellContentChanges(
                                    document=types.VersionedTextDocumentIdentifier(uri=code_cell, version=2),
                                    changes=[types.TextDocumentContentChangeWholeDocument(text=changed_text)],
                                )
                            ]
                        )
                    ),
                )
            )
            changed = await s.diagnostics(code_cell, version=2)
            return s.encoding(), opened, quick, fix_all, changed

    encoding, opened, quick, fix_all, changed = run(scenario())
    text = cells[code_cell][1]
    [diagnostic] = opened.diagnostics
    assert diagnostic.code == "GL080"
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (0, len('s = "ü"; p = '.encode()))
    expected = text.replace("torch.log(torch.softmax(x, -1))", "torch.log_softmax(x, -1)")
    [fix] = [a for a in quick if a.title.startswith("GL080")]
    assert apply(text, edits_for(fix, code_cell)[1], encoding) == expected
    [action] = fix_all
    assert apply(text, edits_for(action, code_cell)[1], encoding) == expected
    [moved] = changed.diagnostics
    assert moved.range.start.line == 1


def test_notebook_fix_all_is_what_gradlint_fix_writes_to_the_notebook(tmp_path):
    """The same cells saved as a notebook and fixed with `--fix` give the same cell sources."""
    notebook_uri = from_fs_path(str(tmp_path / "explore.ipynb"))
    sources = ["import torch\nx = torch.randn(3)\n", "a = torch.log(torch.softmax(x, -1))  # é\n",
               "%time b = 1\nb = -torch.log(torch.softmax(x, 0)).sum()\n"]
    uris = [f"{notebook_uri}#c{i}" for i in range(len(sources))]

    async def scenario():
        async with server(tmp_path, notebook_capabilities()) as s:
            s.client.notebook_document_did_open(
                types.DidOpenNotebookDocumentParams(
                    notebook_document=types.NotebookDocument(
                        uri=notebook_uri, notebook_type="jupyter-notebook", version=1,
                        cells=[cell(uri, types.NotebookCellKind.Code) for uri in uris],
                    ),
                    cell_text_documents=[types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
                                         for uri, text in zip(uris, sources)],
                )
            )
            await s.diagnostics(uris[1])
            return s.encoding(), await s.actions(uris[1], 0, only=[FIX_ALL])

    encoding, [action] = run(scenario())
    document = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": text} for text in sources],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    data = (json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    fixed, _ = fix_source(data, tmp_path / "explore.ipynb")
    want = [c["source"] for c in json.loads(fixed)["cells"]]
    got = [apply(text, edits_for(action, uri)[1] if any(
        c.text_document.uri == uri for c in action.edit.document_changes) else [], encoding)
           for uri, text in zip(uris, sources)]
    assert got == want
    assert got != sources


def test_line_breaks_are_counted_as_python_counts_them(tmp_path):
    """"\r\n" ends a line, a form feed does not (str.splitlines would count it)."""
    text = "import torch\r\n\x0c\r\nx = torch.randn(3)  # \x0c é\r\ny = torch.log(torch.softmax(x, -1))\r\n"
    uri = source_file(tmp_path, text)

    async def scenario():
        async with server(tmp_path, utf8_client()) as s:
            s.open(uri, text)
            published = await s.diagnostics(uri)
            quick = await s.actions(uri, 3, only=[types.CodeActionKind.QuickFix])
            return s.encoding(), published.diagnostics, quick, await s.actions(uri, 0, only=[FIX_ALL])

    encoding, [diagnostic], quick, [fix_all] = run(scenario())
    assert diagnostic.range.start.line == 3
    fixed = fix_source(text.encode("utf-8"), tmp_path / "train.py")[0].decode("utf-8")
    assert apply(text, edits_for(fix_all, uri)[1], encoding) == fixed
    [fix] = [a for a in quick if a.title.startswith("GL080")]
    assert apply(text, edits_for(fix, uri)[1], encoding) == fixed

