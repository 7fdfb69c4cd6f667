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


def test_a_class_on_a_missing_base_keeps_what_its_own_body_defines(tmp_path):
    namespace, used, _ = _run(tmp_path, (
        f"from {MISSING}.profiles import Base\n"
        "class Profile(Base):\n"
        "    scale = 0.5\n"
        "    @staticmethod\n"
        "    def f(x):\n"
        "        return x * Profile.scale\n"
        "VALUE = Profile.f(4.0)\n"
    ))
    assert namespace["VALUE"] == 2.0 and not used
    assert f"{MISSING}.profiles.Base" in Unavailable.stand_in_bases
    Unavailable.stand_in_bases.clear()


@pytest.mark.parametrize("use", [
    "Profile()",  # the missing base's __init__
    "Profile.inherited",  # a class attribute the missing base would give
    "Profile.__new__(Profile).inherited",  # an instance attribute it would give
    "getattr(Profile, 'inherited', None)",  # even when the code guards the read
])
def test_reading_from_the_missing_base_is_a_touch(tmp_path, use):
    _, used, _ = _run(tmp_path, (
        f"from {MISSING} import Base\n"
        "import abc\n"
        "class Mixin(abc.ABC):\n"
        "    pass\n"
        "class Profile(Base, Mixin):\n"
        "    scale = 0.5\n"
        "try:\n"
        f"    {use}\n"
        "except ImportError:\n"
        "    pass\n"
    ))
    assert used == [f"`{MISSING}` could not be imported (No module named '{MISSING}')"]
    Unavailable.stand_in_bases.clear()


def _guarded_run(code: str) -> tuple[dict, "Unbound"]:
    import ast
    import types

    from gradlint.dynamic.old_spellings import OldSpelling
    from gradlint.dynamic.unavailable import Unbound, guarded

    unbound = Unbound("snippet", [])
    namespace: dict = {}
    unbound.install(namespace)
    # A module whose old-spelling fallback lacks `contrib` too, as TF2 and its `compat.v1`.
    namespace["tf"] = OldSpelling(types.ModuleType("tf"), types.SimpleNamespace(nn=1), "tf", "tf.compat.v1", [], {})
    exec(compile(guarded(ast.parse(code)), "snippet.py", "exec"), namespace)  # noqa: S102 - as the worker runs a snippet
    return namespace, unbound


def test_an_if_statement_that_reads_a_removed_api_binds_stand_ins():
    namespace, unbound = _guarded_run("if True:\n    cell = tf.contrib.rnn.Cell(3)\nafter = 1\n")
    assert isinstance(namespace["cell"], Unavailable) and namespace["after"] == 1
    assert unbound.failed == ["`cell` (AttributeError: module 'tf' has no attribute 'contrib', nor has `tf.compat.v1` (removed since))"]
    with pytest.raises(ImportError, match="could not be computed here"):
        namespace["cell"](1)


def test_an_if_statement_that_fails_for_another_reason_still_stops_the_definitions():
    with pytest.raises(ConnectionError):
        _guarded_run("def fetch():\n    raise ConnectionError('offline')\nif True:\n    data = fetch()\n")
