"""What a rule can ask about the file it is checking."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath

import libcst as cst
from libcst.metadata import BaseMetadataProvider, MetadataWrapper

from gradlint.engine.names import NameTable
from gradlint.engine.positions import code_for_node

STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)
SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


class FileContext:
    """One parsed file: its module, its import aliases, and where the walk is now."""

    def __init__(self, path: str, text: str, module: cst.Module, file_text: str | None = None) -> None:
        self.path = path
        self.text = text  # what `module` was parsed from: a piece of a large file
        # The whole file, for rules that look for a word anywhere in it.
        self.file_text = text if file_text is None else file_text
        self.module = module
        self.names = NameTable(module)
        # Maintained by the walk: enclosing statements and function/class/lambda scopes.
        self.statements: list[cst.CSTNode] = []
        self.scopes: list[cst.CSTNode] = []
        self._wrapper: MetadataWrapper | None = None
        self._semantic = None

    @property
    def semantic(self):
        """The semantic model of this file (`gradlint.semantic`), built when a rule first asks."""
        if self._semantic is None:
            from gradlint.semantic.index import ProjectIndex
            from gradlint.semantic.model import ModuleModel

            index = ProjectIndex(self.path)
            self._semantic = ModuleModel(self.module, self.names, index, index.dotted_name, walrus=":=" in self.file_text)
        return self._semantic

    def close(self) -> None:
        """Drop what the semantic model found, once the walk is done (see `ModuleModel.close`)."""
        if self._semantic is not None:
            self._semantic.close()

    def modules_read(self) -> dict[str, tuple[int, int]]:
        """The other modules of the project the semantic model read (path -> size, mtime)."""
        return self._semantic.index.read if self._semantic is not None else {}

    @property
    def filename(self) -> str:
        return PurePath(self.path).name

    def current_statement(self) -> cst.CSTNode | None:
        return self.statements[-1] if self.statements else None

    def enclosing(self, kind: type | tuple[type, ...]) -> cst.CSTNode | None:
        """The innermost enclosing scope of that kind (FunctionDef, ClassDef, Lambda)."""
        for scope in reversed(self.scopes):
            if isinstance(scope, kind):
                return scope
        return None

    def metadata(self, provider: type[BaseMetadataProvider]) -> Mapping[cst.CSTNode, object]:
        """libcst metadata (scopes, qualified names, positions), computed for this file only
        when a rule asks for it: the walk itself needs none, and each provider costs a pass."""
        if self._wrapper is None:
            self._wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        return self._wrapper.resolve(provider)

    def source(self, node: cst.CSTNode) -> str:
        code = code_for_node(self.module, node)
        return " ".join(code.split())
