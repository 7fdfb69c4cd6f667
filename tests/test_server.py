"""`gradlint server` driven over stdio by a real LSP client (pygls's), as an editor would."""

import asyncio
import sys
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parents[1]
BAD = "import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)  # é\nscipy.optimize.minimize(J, theta)\n"
CLEAN = BAD.replace("sum(theta)", "sum(x)")


async def session(tmp_path: Path) -> dict:
    path = tmp_path / "train.py"
    path.write_text(BAD)
    uri = from_fs_path(str(path))
    client = LanguageClient("test-client", "1")
    published: list[types.PublishDiagnosticsParams] = []
    received = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        published.append(params)
        received.set()

    async def next_diagnostics() -> list[types.Diagnostic]:
        await asyncio.wait_for(received.wait(), 60)
        received.clear()
        return published[-1].diagnostics

    await client.start_io(sys.executable, "-m", "gradlint", "server", cwd=str(tmp_path))
    try:
        init = await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(tmp_path)))
            ),
            60,
        )
        client.initialized(types.InitializedParams())
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=BAD)
            )
        )
        opened = await next_diagnostics()
        actions = await asyncio.wait_for(
            client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=types.Range(start=types.Position(line=3, character=0), end=types.Position(line=3, character=0)),
                    context=types.CodeActionContext(diagnostics=opened),
                )
            ),
            60,
        )
        path.write_text(CLEAN)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri), text=CLEAN)
        )
        saved = await next_diagnostics()
        await asyncio.wait_for(client.shutdown_async(None), 60)
        client.exit(None)
    finally:
        await client.stop()
    return {"init": init, "uri": uri, "opened": opened, "actions": actions, "saved": saved}


def test_diagnostics_on_open_and_save_and_a_fix_as_code_action(tmp_path):
    result = asyncio.run(session(tmp_path))
    assert result["init"].server_info.name == "gradlint"
    [diagnostic] = result["opened"]
    assert (diagnostic.code, diagnostic.source, diagnostic.severity) == ("GL050", "gradlint", types.DiagnosticSeverity.Error)
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (3, 4)
    [action] = result["actions"]
    assert action.title.startswith("GL050: read the parameter")
    [edit] = action.edit.changes[result["uri"]]
    assert edit.new_text == "x"
    assert (edit.range.start.line, edit.range.start.character, edit.range.end.character) == (3, 18, 23)
    assert list(result["saved"]) == []


def test_columns_are_utf16_code_units_as_lsp_counts_them():
    from gradlint.server import _utf16

    line = 'tag = "\U0001F600"; J = lambda x: sum(theta)'
    assert _utf16(line, line.index("J") + 1) == line.index("J") + 1  # the emoji is two UTF-16 units
