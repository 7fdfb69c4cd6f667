"""Static mode never imports a framework: it must run where none is installed, and fast."""

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_linting_every_fixture_imports_no_framework():
    code = (
        "import sys\n"
        "from gradlint.cli import main\n"
        f"main(['--isolated', '--select', 'ALL', '--exit-zero', {str(FIXTURES)!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'tensorflow', 'jax', 'keras', 'scipy', 'numpy', 'theano'))\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY []"
