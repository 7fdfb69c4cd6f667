"""Stand-ins for what the checked code imports but this machine lacks.

Two ways in: a module-level import of the finding's file that fails binds its names to
`Unavailable` values, and a module that no finder has, imported by the project's own code (the
file or a module of the project that it imports), is answered by `MissingModules` with an
`Unavailable` module. Either way the definitions that merely mention it still run; touching it (a
call, arithmetic, iteration, a base class, truth) fails loudly and is recorded, so that the verdict
of a check that needed it is `inconclusive` even when the user's code caught the error.

A touch whose `StandInTouched` error reaches the dynamic mode's own handlers (a module-level import
or assignment of the snippet that it made fail, a project module that stopped there) is taken back
with `absorb`: what that statement would have bound is a stand-in in turn, so a check that needs it
still says so, and one that does not is not blocked by it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from pathlib import Path
from typing import Any

from gradlint.dynamic import old_spellings

# Frames of the import machinery, skipped when looking for the code that asked for a module.
_IMPORT_MACHINERY = ("<frozen importlib", os.path.join(os.path.dirname(importlib.__file__), ""))


class StandInTouched(ImportError):
    """Raised by touching a stand-in; `why` says which import it stands for."""

    def __init__(self, why: str) -> None:
        super().__init__(f"{why}, and the check needed it")
        self.why = why


def absorb(error: BaseException, used: list[str]) -> bool:
    """Take back the touch that raised `error` when nothing in the user's code caught it: the
    statement it stopped binds stand-ins instead. True when `error` was such a touch."""
    if isinstance(error, StandInTouched) and error.why in used:
        del used[len(used) - 1 - used[::-1].index(error.why)]
        return True
    return False


def distinct(used: list[str]) -> list[str]:
    """The reasons in `used` once each, in order (a stand-in touched twice is one reason)."""
    return list(dict.fromkeys(used))


class Unavailable(types.ModuleType):
    """Stands in for a name or module that could not be imported. A module to those who ask
    (`tf`, `K`: a namespace, not a tensor); its attributes are stand-ins too (`u.m` of a missing
    `astropy.units`), so only a real use fails."""

    def __init__(self, name: str, why: str, used: list[str]) -> None:
        super().__init__(name)
        object.__setattr__(self, "_why", why)
        object.__setattr__(self, "_used", used)

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        why = object.__getattribute__(self, "_why")
        object.__getattribute__(self, "_used").append(why)  # one entry per touch: `absorb` takes one back
        raise StandInTouched(why)

    # How many times a stand-in was star-imported (`from PyQt5.QtGui import *`): the importing
    # module then lacks names it would have had, and fails where it reads one.
    star_imports = 0

    def __getattr__(self, name: str) -> Any:
        if name == "__all__":
            Unavailable.star_imports += 1
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol probes (`hasattr(x, "__wrapped__")`) are not uses
        return Unavailable(f"{self.__name__}.{name}", object.__getattribute__(self, "_why"),
                           object.__getattribute__(self, "_used"))

    __call__ = __mro_entries__ = __iter__ = __getitem__ = __len__ = __bool__ = __float__ = __int__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = __index__ = __enter__ = _fail
    __instancecheck__ = __subclasscheck__ = __setitem__ = __contains__ = _fail

    def __setattr__(self, name: str, value: Any) -> None:
        # The import system records a module's spec and its submodules on it; the user's code may not.
        if (name.startswith("__") and name.endswith("__")) or isinstance(value, Unavailable):
            object.__setattr__(self, name, value)
        else:
            self._fail()


class MissingModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on `sys.meta_path` while a job runs: a module that no other finder has, asked for by
    the project's code, becomes an `Unavailable` module. Frameworks' own optional imports
    (`try: import triton`) are not the project's and still fail as they expect."""

    def __init__(self, project: list[str], snippet: str, used: list[str], shimmed: list[str]) -> None:
        self.project = [os.path.join(os.path.realpath(p), "") for p in project if p]
        self.snippet = snippet
        self.used = used
        self.shimmed = shimmed  # old spellings answered from today's modules, for the evidence
        self.stood_in: list[str] = []
        self._created: list[str] = []

    def __enter__(self) -> None:
        sys.meta_path.append(self)

    def __exit__(self, *exc: object) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for name in self._created:  # a real parent (`tensorflow` of `tensorflow.examples`) forgets it
            module = sys.modules.pop(name, None)
            parent, _, child = name.rpartition(".")
            if parent and module is not None and getattr(sys.modules.get(parent), child, None) is module:
                delattr(sys.modules[parent], child)

    @property
    def roots(self) -> list[str]:
        """The modules stood in, without their submodules."""
        return [name for name in self.stood_in if name.rpartition(".")[0] not in self.stood_in]

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not self._asked_by_project():
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        moved = old_spellings.moved_module(spec.name, self.shimmed)
        if moved is not None:
            return moved
        parts = spec.name.split(".")
        missing = next(name for name in (".".join(parts[:n]) for n in range(1, len(parts) + 1))
                       if not isinstance(sys.modules.get(name), types.ModuleType) or isinstance(sys.modules[name], Unavailable))
        return Unavailable(spec.name, f"`{missing}` could not be imported (No module named '{missing}')", self.used)

    def exec_module(self, module: types.ModuleType) -> None:
        self._created.append(module.__name__)
        if isinstance(module, Unavailable):
            self.stood_in.append(module.__name__)

    def _asked_by_project(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            frame = frame.f_back
        if frame is None:
            return False
        file = frame.f_code.co_filename
        if file == self.snippet:
            return True
        real = os.path.realpath(file)
        return real.startswith(tuple(self.project)) and not {"site-packages", "dist-packages"} & set(Path(real).parts)
