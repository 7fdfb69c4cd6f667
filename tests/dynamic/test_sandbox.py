"""`--dynamic-sandbox`: checked code gets no network and cannot write into the project, even from
C code the audit hook cannot see; where namespaces are missing, a warning and a normal run."""

from __future__ import annotations

import socket
import sys
import textwrap
import threading

import pytest

from gradlint.dynamic import sandbox
from gradlint.dynamic.backends import installed
from tests.conftest import require_frameworks

pytestmark = pytest.mark.skipif(not installed("torch") and not require_frameworks(), reason="torch is not installed")


def _sandbox_or_skip() -> None:
    reason = sandbox.unavailable_reason()
    if reason is not None:
        if sys.platform.startswith("linux") and require_frameworks():
            pytest.fail(f"CI must be able to use the sandbox: {reason}")
        pytest.skip(reason)


@pytest.fixture
def listener():
    """A TCP server on the loopback device that counts the connections it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(connection)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


def _project(tmp_path, port: int):
    """A file whose module-level code phones home and writes into the project through libc."""
    (tmp_path / "model.py").write_text(textwrap.dedent(f"""\
        import ctypes
        import socket

        import torch


        def _side_effects():
            libc = ctypes.CDLL(None)
            libc.open({str(tmp_path / "written.txt").encode()!r}, 0o101, 0o644)  # O_WRONLY | O_CREAT
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
            return 1.0


        SCALE = _side_effects()


        def distance(a, b):
            return torch.sqrt(((a - b) ** 2).sum()) * SCALE
        """))


def test_without_the_sandbox_the_code_reaches_the_network_and_the_project(tmp_path, run_cli, listener):
    port, accepted = listener
    _project(tmp_path, port)
    code, out, err = run_cli("model.py", "--dynamic", "--no-cache", cwd=tmp_path)
    assert "confirmed:" in out, out
    assert len(accepted) == 1 and (tmp_path / "written.txt").exists()


def test_the_sandbox_keeps_the_code_off_the_network_and_the_project_read_only(tmp_path, run_cli, listener):
    _sandbox_or_skip()
    port, accepted = listener
    _project(tmp_path, port)
    code, out, err = run_cli("model.py", "--dynamic", "--dynamic-sandbox", "--no-cache", cwd=tmp_path)
    assert "inconclusive: could not run the definitions the finding needs: OSError: [Errno 101] Network is unreachable" in out
    assert accepted == [] and not (tmp_path / "written.txt").exists()
    assert "warning" not in err


def test_where_the_sandbox_is_missing_a_warning_and_the_run_goes_on(tmp_path, run_cli, monkeypatch):
    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "user namespaces are not available (test)")
    (tmp_path / "model.py").write_text("import torch\n\n\ndef distance(a, b):\n    return torch.sqrt(((a - b) ** 2).sum())\n")
    code, out, err = run_cli("model.py", "--dynamic", "--dynamic-sandbox", "--no-cache", cwd=tmp_path)
    assert "--dynamic-sandbox is not available here: user namespaces are not available (test)" in err
    assert "confirmed:" in out and code == 1


def test_sandbox_needs_dynamic(tmp_path, run_cli):
    (tmp_path / "model.py").write_text("import torch\n")
    code, out, err = run_cli("model.py", "--dynamic-sandbox", cwd=tmp_path)
    assert code == 2 and "--dynamic-sandbox needs --dynamic" in err
