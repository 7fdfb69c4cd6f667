"""Old spellings run on today's frameworks, inside the worker: the Keras 2 backend (`K.sqrt`,
`K.sum`, `K.square`) through `keras.ops`, Keras 2 modules (`keras.layers.merge`) through the
module that holds their names now, NumPy 1's aliases of builtins (`np.float`) as those builtins,
and TF1 graph code (`tf.log`, `tf.placeholder`) through `tf.compat.v1`, where old tutorials and
papers keep many of these pitfalls. Every name that went through a stand-in is labelled in the
evidence.

A module-level `x = tf.placeholder(...)` is not run: `x` is left without a value, so the
witness treats it as an input, as a session's `feed_dict` fills it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys
import types
from typing import Any

from gradlint.data import section

KERAS2_RENAMED = section("keras2_backend")
KERAS2_MODULES = section("keras2_modules")
NUMPY1_ALIASES = section("numpy1_aliases")


class RemovedName(AttributeError):
    """A name that neither today's module nor its old-spelling fallback has (`tf.contrib`)."""


class OldSpelling(types.ModuleType):
    """`real` with the names it lacks taken from `fallback`; `used` collects the labels."""

    def __init__(self, real: types.ModuleType, fallback: Any, spelled: str, fallback_spelled: str, used: list[str],
                 renamed: dict[str, str]) -> None:
        super().__init__(real.__name__)
        for key, value in {"_real": real, "_fallback": fallback, "_spelled": spelled, "_fallback_spelled": fallback_spelled,
                           "_used": used, "_renamed": renamed}.items():
            object.__setattr__(self, key, value)

    def __getattr__(self, name: str) -> Any:
        real = object.__getattribute__(self, "_real")
        try:
            return getattr(real, name)
        except AttributeError:
            if name.startswith("__") and name.endswith("__"):
                raise  # the import system's probes (`__path__`) are about this module, not the fallback
        target = object.__getattribute__(self, "_renamed").get(name, name)
        try:
            value = getattr(object.__getattribute__(self, "_fallback"), target)
        except AttributeError:
            raise RemovedName(f"module '{real.__name__}' has no attribute '{name}', nor has "
                              f"`{object.__getattribute__(self, '_fallback_spelled')}` (removed since)") from None
        label = (f"`{object.__getattribute__(self, '_spelled')}.{name}` as "
                 f"`{object.__getattribute__(self, '_fallback_spelled')}.{target}`")
        used = object.__getattribute__(self, "_used")
        if label not in used:
            used.append(label)
        return value


def moved_module(name: str, used: list[str]) -> OldSpelling | None:
    """A Keras 2 module that Keras 3 no longer has (`keras.layers.merge`), answering from the
    module that holds its names now, when that one imports."""
    current = KERAS2_MODULES.get(name)
    if current is None:
        return None
    try:
        real = importlib.import_module(current)
    except ImportError:
        return None
    return OldSpelling(types.ModuleType(name), real, name, current, used, {})


def install(namespace: dict, used: list[str]) -> None:
    """Replace, in the snippet's namespace, Keras 3's `keras.backend`, a TF2 `tensorflow` and a
    NumPy 2 `numpy` module by stand-ins that also answer their old names (functions read them at
    call time)."""
    for name, value in list(namespace.items()):
        if not isinstance(value, types.ModuleType) or isinstance(value, OldSpelling):
            continue
        if value.__name__ == "keras.backend" and not hasattr(value, "sqrt") and "keras.ops" in sys.modules:
            namespace[name] = OldSpelling(value, sys.modules["keras.ops"], name, "keras.ops", used, KERAS2_RENAMED)
        elif value.__name__ == "tensorflow" and not hasattr(value, "placeholder"):
            namespace[name] = OldSpelling(value, value.compat.v1, name, "tf.compat.v1", used, {})
        elif value.__name__ == "numpy" and not hasattr(value, "float"):
            aliases = types.SimpleNamespace(**{old: getattr(builtins, new) for old, new in NUMPY1_ALIASES.items()})
            namespace[name] = OldSpelling(value, aliases, name, "builtins", used, {})


def without_placeholders(source: str) -> tuple[str, list[str], list[tuple[int, int]]]:
    """The source with module-level `name = ....placeholder(...)` statements blanked (their
    lines kept, so positions still match), the names they would bind, and the spans of the
    module-level statements that read those names (kept for the witness to inline, not run)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source, [], []
    lines = source.splitlines(keepends=True)
    names: list[str] = []
    waiting: set[str] = set()
    skip = []
    for statement in tree.body:
        value = getattr(statement, "value", None)
        bound = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        if (isinstance(statement, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute) and value.func.attr == "placeholder"):
            names += sorted(bound)
            waiting |= bound
            for index in range(statement.lineno - 1, statement.end_lineno):
                lines[index] = "\n"
        elif not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and waiting & {
            n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }:
            waiting |= bound
            skip.append((statement.lineno, statement.end_lineno))
    return "".join(lines), names, skip
