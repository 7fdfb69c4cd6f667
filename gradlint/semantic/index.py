"""The project index: the other modules of the project a file belongs to, found on disk and
parsed only when the semantic model asks about one of their names.

A module name is looked up under the import roots of the file: its own folder (scripts import
their neighbours), the folder above its top package (`pkg/sub/mod.py` imports `pkg.other`), and
the folders above that up to the repository root (a `src/` layout). Modules are parsed with the
same parser as the file, at most `MAX_MODULE_BYTES` each; the trees of the most recent modules,
up to `KEPT_SOURCE_BYTES` of their source, are kept per process, keyed by path, modification
time and size, so a run over a package parses each at most a few times per worker while memory
stays bounded. The models built on them belong to one linted file, so every module its findings
depend on is recorded in `read` (with its size and modification time): the result cache checks
them before it reuses the file's result. `users(name)` goes the other way: the modules of the
project whose source mentions a name, where a function may be imported and used (a module added
after a result was cached is not among the modules that result depends on).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path

import libcst as cst

from gradlint.engine.pieces import PIECE_SIZE, parse_module
from gradlint.semantic.model import ModuleModel

# A tree takes about a thousand times its source in memory: at most two large modules' worth
# are kept, and a module larger than a file the engine would parse whole is not read.
MAX_MODULE_BYTES = PIECE_SIZE
KEPT_SOURCE_BYTES = 2 * PIECE_SIZE
_MAX_ROOT_LEVELS = 6

# (path, mtime_ns, size) -> the parsed module (None: unparsable), most recent last.
_parsed: OrderedDict[tuple[str, int, int], cst.Module | None] = OrderedDict()

# Which modules of a project mention a name, to find where a function is imported and used:
# the identifiers of every module under the project's folder, read again only for the modules
# whose size or modification time changed. A project larger than this is not indexed (its
# modules are then not searched for users of a name).
MAX_INDEXED_BYTES = 8 * 2**20
MAX_USERS = 4  # modules read to answer one `users` question: a helper most modules use stays unknown
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"})
# root -> path -> ((size, mtime_ns), the identifiers of the module)
_identifiers_read: dict[Path, dict[str, tuple[tuple[int, int], frozenset[bytes]]]] = {}
_too_large: set[Path] = set()  # folders found over the limit, not walked again in this process


def module_name(path: Path) -> tuple[str, Path]:
    """The dotted name of the module at `path` and the folder it is imported from (the parent
    of its top package, or its own folder for a module outside any package)."""
    path = path.resolve()
    parts = [] if path.stem == "__init__" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


class ProjectIndex:
    """Finds and models the modules importable from one file."""

    def __init__(self, path: str) -> None:
        self.read: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) of each module used
        self.dotted_name = ""  # the file's own module name; empty when it is not importable
        self.roots: list[Path] = []
        self.package_root: Path | None = None  # the folder the file's top package is in
        self.file: Path | None = None
        self._models: dict[str, ModuleModel | None] = {}
        # Functions of the project's modules whose parameter a question is following into them:
        # a cycle across modules reads as unknown (`semantic.uses`).
        self.following: set = set()
        self._project_modules: dict[str, frozenset[bytes]] | None = None
        self._users: dict[str, list[ModuleModel] | None] = {}
        try:
            file = Path(path)
            if not file.is_file():
                return
            self.dotted_name, package_root = module_name(file)
        except OSError:
            return
        roots = [file.resolve().parent, package_root]
        folder = package_root
        for _ in range(_MAX_ROOT_LEVELS):
            if (folder / ".git").exists() or folder.parent == folder:
                break
            folder = folder.parent
            roots.append(folder)
        self.roots = list(dict.fromkeys(roots))
        self.package_root = package_root
        self.file = file.resolve()

    def module(self, name: str) -> ModuleModel | None:
        """The model of module `name` (`pkg.models`), or None when it is not in the project."""
        if name in self._models:
            return self._models[name]
        self._models[name] = None  # an import cycle reads as unknown
        found = None
        for root in self.roots:
            base = root.joinpath(*name.split("."))
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    found = self._load(candidate, name)
                    break
            if found is not None:
                break
        self._models[name] = found
        return found

    def users(self, name: str) -> list[ModuleModel] | None:
        """The models of the other modules of the project (under the folder the file's top
        package is in) whose source mentions `name` and the file's module (`from .losses import
        bce`): where it may be imported and used. Empty for a file outside any known folder or
        a project too large to index; None when more than `MAX_USERS` modules would have to be
        read (not known: a question stays bounded)."""
        if self.package_root is None or not self.dotted_name:
            return []
        if name not in self._users:
            if self._project_modules is None:  # once per linted file: the project does not change during it
                self._project_modules = _modules_under(self.package_root)
            wanted = {name.encode(), self.dotted_name.rpartition(".")[2].encode()}
            paths = [path for path, identifiers in self._project_modules.items()
                     if path != str(self.file) and wanted <= identifiers]
            found = None
            if len(paths) <= MAX_USERS:
                found = [model for path in paths if (model := self.module(module_name(Path(path))[0])) is not None]
            self._users[name] = found
        return self._users[name]

    def close(self) -> None:
        """Forget the models of the modules read (they hold this index: a reference cycle)."""
        models = [model for model in self._models.values() if model is not None]
        self._models.clear()
        self._users.clear()
        for model in models:
            model.forget()

    def _load(self, path: Path, name: str) -> ModuleModel | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        self.read[str(path)] = (stat.st_size, stat.st_mtime_ns)
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key in _parsed:
            _parsed.move_to_end(key)
            module = _parsed[key]
        else:
            module = None
            if stat.st_size <= MAX_MODULE_BYTES:
                try:
                    module = parse_module(path.read_bytes())
                except Exception:  # unreadable or unparsable: the module is simply not known
                    module = None
            _parsed[key] = module
            while len(_parsed) > 1 and sum(size for _, _, size in _parsed) > KEPT_SOURCE_BYTES:
                _parsed.popitem(last=False)
        return ModuleModel(module, index=self, dotted_name=name) if module is not None else None



def _modules_under(root: Path) -> dict[str, frozenset[bytes]]:
    """The modules under `root` (by path) with the identifiers each mentions; empty past
    `MAX_INDEXED_BYTES` of source. A module is read again only when it changed: a question
    costs one directory scan and a `stat` per module."""
    root = root.resolve()
    if root in _too_large:
        return {}
    known = _identifiers_read.setdefault(root, {})
    current: dict[str, frozenset[bytes]] = {}
    total = 0
    folders = [str(root)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith(".") and entry.name not in _SKIPPED_FOLDERS:
                        folders.append(entry.path)
                    continue
                if not entry.name.endswith(".py"):
                    continue
                stat = entry.stat()
                total += stat.st_size
                if total > MAX_INDEXED_BYTES:
                    _too_large.add(root)
                    del _identifiers_read[root]
                    return {}
                signature = (stat.st_size, stat.st_mtime_ns)
                found = known.get(entry.path)
                if found is None or found[0] != signature:
                    with open(entry.path, "rb") as source:
                        found = known[entry.path] = (signature, frozenset(_IDENTIFIER.findall(source.read())))
            except OSError:
                continue
            current[entry.path] = found[1]
    for gone in known.keys() - current.keys():
        del known[gone]
    return current
