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

import ast
import dataclasses
import importlib.abc
import importlib.machinery
import os
import sys
import types
from pathlib import Path
from typing import Any

from gradlint.dynamic import models, old_spellings

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

    # The base classes that stood in for a stand-in (`class TNFW(LensProfileBase)`), by the
    # name of the class they stand in for, for the evidence.
    stand_in_bases: list[str] = []

    def __mro_entries__(self, bases: tuple) -> tuple[type]:
        """A class defined on a stand-in gets a base that stands in for it: what the class body
        defines itself works, and reading anything that would have come from the missing base
        (an attribute its own body lacks, the base's `__init__`) fails loudly, as any touch."""
        Unavailable.stand_in_bases.append(object.__getattribute__(self, "__name__"))
        return (_stand_in_base(self, bases),)

    __call__ = __iter__ = __getitem__ = __len__ = __bool__ = __float__ = __int__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = __index__ = __enter__ = _fail
    __instancecheck__ = __subclasscheck__ = __setitem__ = __contains__ = _fail

    def __setattr__(self, name: str, value: Any) -> None:
        # The import system records a module's spec and its submodules on it; the user's code may not.
        if (name.startswith("__") and name.endswith("__")) or isinstance(value, Unavailable):
            object.__setattr__(self, name, value)
        else:
            self._fail()


class _StandInMeta(type):
    """The metaclass of a stand-in base: a class attribute that neither the class nor its real
    bases define would have come from the missing base."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return type.__getattribute__(cls, "__gradlint_stand_in__")._fail()


def _stand_in_base(stand_in: Unavailable, bases: tuple) -> type:
    def fail(self: Any, *args: Any, **kwargs: Any) -> Any:
        return stand_in._fail()

    def missing(self: Any, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return stand_in._fail()

    # The metaclass derives from the other bases' own (an `ABCMeta`), so the class can be made.
    metas = [type(b) for b in bases if isinstance(b, type) and not issubclass(_StandInMeta, type(b))]
    meta = type("_StandInMeta", (_StandInMeta, *dict.fromkeys(metas)), {}) if metas else _StandInMeta
    name = object.__getattribute__(stand_in, "__name__").rpartition(".")[2]
    return meta(name, (), {"__init__": fail, "__getattr__": missing, "__gradlint_stand_in__": stand_in,
                           "__module__": __name__})


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


def guarded(tree: ast.Module) -> ast.Module:
    """Each module-level import wrapped so that its failure (a project module that raises as it
    is imported) binds `Unavailable` stand-ins instead of stopping the definitions: an import the
    checked code never touches cannot block it, and one it does touch says so. A module-level
    assignment to plain names that touches a stand-in (`mnist = input_data.read_data_sets(...)`,
    `X_dim = mnist.train.images.shape[1]`) binds them to stand-ins in turn (`Unbound`)."""
    body = []
    for statement in tree.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names = _plain_names(targets)
            if names:
                body.append(_binding_stand_ins(statement, names))
                continue
        if isinstance(statement, ast.If):
            # `if tf.__version__[0] >= "1": cell = tf.contrib.rnn.BasicRNNCell(...)`: what the
            # branches assign stands in when the statement reads a removed API.
            names = list(dict.fromkeys(n for a in ast.walk(statement) if isinstance(a, (ast.Assign, ast.AnnAssign))
                                       for n in _plain_names(a.targets if isinstance(a, ast.Assign) else [a.target])))
            if names:
                body.append(_binding_stand_ins(statement, names, removed_only=True))
                continue
        if not isinstance(statement, (ast.Import, ast.ImportFrom)) or (
            isinstance(statement, ast.ImportFrom) and statement.module == "__future__"
        ):
            body.append(statement)
            continue
        names = [(alias.asname or alias.name.split(".")[0], alias.name) for alias in statement.names if alias.name != "*"]
        fallback = [
            ast.Assign([ast.Name(bound, ast.Store())],
                       ast.Call(ast.Name("__gradlint_unavailable__", ast.Load()),
                                [ast.Constant(full), ast.Name("__gradlint_error__", ast.Load())], []))
            for bound, full in names
        ] or [ast.Raise()]
        handler = ast.ExceptHandler(ast.Name("Exception", ast.Load()), "__gradlint_error__", fallback)
        body.append(ast.copy_location(ast.Try([statement], [handler], [], []), statement))
        # Old spellings (`tf.placeholder`, `K.sum`, `np.float`) answer from the first statement on.
        respell = ast.Call(ast.Name("__gradlint_respell__", ast.Load()), [ast.Call(ast.Name("globals", ast.Load()), [], [])], [])
        body.append(ast.copy_location(ast.Expr(respell), statement))
    return ast.fix_missing_locations(ast.Module(body, type_ignores=[]))


def _binding_stand_ins(statement: ast.stmt, names: list[str], removed_only: bool = False) -> ast.Try:
    """`statement`, and if it fails, `names` bound to what `Unbound.assigned` gives for them."""
    store = ast.Tuple([ast.Name(n, ast.Store()) for n in names], ast.Store())
    call = ast.Call(ast.Name("__gradlint_unbound__", ast.Load()),
                    [ast.Constant(tuple(names)), ast.Name("__gradlint_error__", ast.Load()), ast.Constant(removed_only)], [])
    handler = ast.ExceptHandler(ast.Name("Exception", ast.Load()), "__gradlint_error__", [ast.Assign([store], call)])
    return ast.copy_location(ast.Try([statement], [handler], [], []), statement)


def _plain_names(targets: list[ast.expr]) -> list[str]:
    """The names an assignment binds when every target is a name or a (nested) tuple/list of
    names (`(x_train, _), (x_test, _) = load_data()`)."""
    names: list[str] = []
    for target in targets:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            inner = _plain_names(target.elts)
            if not inner and target.elts:
                return []
            names.extend(inner)
        else:
            return []
    return list(dict.fromkeys(names))


NO_VALUE = " has no value here: "


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else "")[:120]


@dataclasses.dataclass
class Unbound:
    """What the snippet's failed module-level statements bound instead, and why: `used` collects
    each touch of a stand-in, `guessed` the sizes given to names whose value came from something
    missing here, `circular` whether an import found the flagged module itself half run."""

    module: str  # the flagged module's dotted name
    used: list[str]
    guessed: list[str] = dataclasses.field(default_factory=list)
    circular: bool = False
    shimmed: list[str] = dataclasses.field(default_factory=list)  # old spellings answered, for the evidence
    failed: list[str] = dataclasses.field(default_factory=list)  # module-level statements that failed here, for the evidence
    star_imports: int = dataclasses.field(default_factory=lambda: Unavailable.star_imports)

    def install(self, namespace: dict) -> None:
        """The names the guarded code calls, in the namespace it runs in."""
        namespace.update(__gradlint_unavailable__=self.unavailable, __gradlint_unbound__=self.assigned,
                         __gradlint_touched__=StandInTouched, __gradlint_respell__=self.respell)

    def respell(self, namespace: dict) -> None:
        old_spellings.install(namespace, self.shimmed)

    def unavailable(self, name: str, error: BaseException) -> Unavailable:
        absorb(error, self.used)
        if getattr(error, "name", None) == self.module or f"'{self.module}'" in str(error):
            self.circular = True
        return Unavailable(name, f"`{name}` could not be imported ({type(error).__name__}: {error})", self.used)

    def assigned(self, names: tuple[str, ...], error: BaseException, removed_only: bool = False) -> tuple:
        """Stand-ins for the names an assignment that touched a stand-in would have bound; a
        single size-like name (`X_dim`, `num_classes`) gets a guessed size, labelled. For an `if`
        statement (`removed_only`), only a removed API is taken back this way."""
        if removed_only and not isinstance(error, old_spellings.RemovedName):
            raise error
        if isinstance(error, NameError) and self.star_imports != Unavailable.star_imports:
            # `from PyQt5.QtGui import *` of a stand-in leaves `QColor` unbound here.
            error = StandInTouched(f"`{error.name}` is not defined here (a name a star import of a module "
                                   "missing here would give)")
        elif not absorb(error, self.used):
            if not isinstance(error, old_spellings.RemovedName):
                raise error
            # It reads an API its framework no longer has under any spelling (`tf.contrib`), as
            # an import this machine lacks: what it would bind stands in, and a check that needs
            # it says why.
            shown = f"AttributeError: {first_line(error)}"
            self.failed.append(f"{', '.join(f'`{n}`' for n in names)} ({shown})")
            return tuple(Unavailable(name, f"`{name}` could not be computed here ({shown})", self.used) for name in names)
        if len(names) == 1 and models.size_like(names[0]):
            self.guessed.append(f"{names[0]} = {models.GUESSED_SIZE}")
            return (models.GUESSED_SIZE,)
        root = error.why.rpartition(NO_VALUE)[2]  # what is missing, not each name it went through
        return tuple(Unavailable(name, f"`{name}`{NO_VALUE}{root}", self.used) for name in names)




class GuardedModules(importlib.abc.MetaPathFinder):
    """First on `sys.meta_path` while a job runs: the project's own modules (not installed
    packages) that the snippet imports run guarded as the snippet does (`guarded`), so that a
    missing package they use at import time makes stand-ins of what it feeds, not a failed import
    of everything they define."""

    def __init__(self, project: list[str], unbound: Unbound) -> None:
        self.project = tuple(os.path.join(os.path.realpath(p), "") for p in project if p)
        self.unbound = unbound

    def __enter__(self) -> None:
        sys.meta_path.insert(0, self)

    def __exit__(self, *exc: object) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader) or not spec.origin:
            return None
        real = os.path.realpath(spec.origin)
        if not real.startswith(self.project) or {"site-packages", "dist-packages"} & set(Path(real).parts):
            return None
        spec.loader = _GuardedLoader(fullname, spec.origin, self.unbound)
        return spec


class _GuardedLoader(importlib.machinery.SourceFileLoader):
    """A project module's source, compiled guarded (never from or into a bytecode cache)."""

    def __init__(self, fullname: str, path: str, unbound: Unbound) -> None:
        super().__init__(fullname, path)
        self.unbound = unbound

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        try:
            tree = ast.parse(source, path)
        except SyntaxError:
            return super().source_to_code(source, path)  # raises the error as the import would
        return compile(guarded(tree), path, "exec", dont_inherit=True)

    def set_data(self, path: str, data: bytes, *, _mode: int = 0o666) -> None:
        pass

    def exec_module(self, module: types.ModuleType) -> None:
        self.unbound.install(module.__dict__)
        super().exec_module(module)
