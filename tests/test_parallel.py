"""Files linted in worker processes: the same findings, in the same order, as in one process."""

from __future__ import annotations

from gradlint.api import _NO_PROGRESS, PARALLEL_THRESHOLD, _chunks, _Job, _parallel, lint_paths
from gradlint.config import Settings

_BAD = "import torch\n\n\ndef loss(x):\n    return torch.log(torch.softmax(x, dim=1))\n"


def test_chunks_keep_the_order_and_balance_bytes(tmp_path):
    names = []
    for index, size in enumerate([10, 10, 10, 10, 400, 10, 10, 10, 10, 10]):
        path = tmp_path / f"m{index:02}.py"
        path.write_bytes(b"#" * size)
        names.append(str(path))
    chunks = _chunks(names, 4)
    assert [name for _, chunk in chunks for name in chunk] == names
    assert [size for size, _ in chunks] == [sum(len(open(n, "rb").read()) for n in chunk) for _, chunk in chunks]
    assert [names[4]] in [chunk for _, chunk in chunks]  # the large file is a chunk of its own


def test_two_processes_report_what_one_does(tmp_path):
    for index in range(PARALLEL_THRESHOLD + 4):
        # Files of very different sizes, so that the chunks are submitted out of order.
        padding = "\n# padding\n" * (index % 5) * 200
        (tmp_path / f"model_{index:02}.py").write_text(_BAD * (1 + index % 3) + padding)
    rules = ["GL080"]
    one, _ = lint_paths([str(tmp_path)], Settings(), rules, jobs=1)
    two, _ = lint_paths([str(tmp_path)], Settings(), rules, jobs=2)
    assert len(one.findings) > PARALLEL_THRESHOLD
    assert [(f.path, f.line, f.rule) for f in two.findings] == [(f.path, f.line, f.rule) for f in one.findings]
    # Each result comes back in the place of its file: the cache stores it under that file's key.
    names = sorted(str(path) for path in tmp_path.iterdir())
    assert [result.path for result in _parallel(_Job(rules), names, 2, _NO_PROGRESS)] == names
