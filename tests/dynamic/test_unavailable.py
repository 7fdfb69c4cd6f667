"""Stand-ins for what the checked code imports but this machine lacks, and Keras 2 modules
answered from where their names live now (`gradlint.dynamic.unavailable`)."""

from __future__ import annotations

import sys

import pytest

from gradlint.dynamic.backends import installed
from gradlint.dynamic.unavailable import MissingModules, Unavailable
from tests.conftest import require_frameworks

MISSING = "gradlint_missing_pkg"


def _run(tmp_path, code: str, shimmed: list[str] | None = None) -> tuple[dict, list[str], MissingModules]:
    path = str(tmp_path / "snippet.py")
    used: list[str] = []
    namespace: dict = {}
    missing = MissingModules([str(tmp_path)], path, used, [] if shimmed is None else shimmed)
    with missing:
        exec(compile(code, path, "exec"), namespace)  # noqa: S102 - as the worker runs a snippet
    return namespace, used, missing


def test_a_missing_package_is_stood_in_and_forgotten_afterwards(tmp_path):
    namespace, used, missing = _run(tmp_path, f"import {MISSING}.units as u\nfrom {MISSING} import io\nLENGTH = u.metre\n")
    assert isinstance(namespace["LENGTH"], Unavailable) and not used
    assert missing.roots == [MISSING]
    assert not [name for name in sys.modules if name.startswith(MISSING)]


def test_touching_a_stand_in_is_recorded_even_when_caught(tmp_path):
    _, used, _ = _run(tmp_path, f"import {MISSING}\ntry:\n    {MISSING}.read('x')\nexcept ImportError:\n    pass\n")
    assert used == [f"`{MISSING}` could not be imported (No module named '{MISSING}')"]


def test_code_outside_the_project_gets_the_import_error(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-library.py"
    with MissingModules([str(tmp_path)], str(tmp_path / "snippet.py"), [], []), pytest.raises(ModuleNotFoundError):
        exec(compile(f"import {MISSING}\n", str(outside), "exec"), {})  # noqa: S102


@pytest.mark.skipif(not installed("tensorflow") and not require_frameworks(), reason="Keras is not installed")
def test_a_keras_2_module_is_answered_from_keras_3(tmp_path):
    import keras

    shimmed: list[str] = []
    namespace, used, _ = _run(tmp_path, "from keras.layers.merge import concatenate\n", shimmed)
    assert namespace["concatenate"] is keras.layers.concatenate and not used
    assert shimmed == ["`keras.layers.merge.concatenate` as `keras.layers.concatenate`"]
    assert "keras.layers.merge" not in sys.modules and not hasattr(keras.layers, "merge")
