"""From findings to jobs: cut out the code each finding needs, and pick the worker that runs it.

The snippet of a finding is the top-level statement that holds it plus, transitively, the
top-level statements that bind the module-level names it reads (imports, constants, helper
functions and classes), found with libcst's scope analysis. Everything else in the module,
training loops and `if __name__ == "__main__":` blocks included, is left out; a finding inside a
module-level loop or the `__main__` block keeps that statement for the witness to read, and it is
not run. The worker puts the project on `sys.path` (`project_paths`, then the file's package
root). The snippet keeps
the original line numbers (left-out lines are blank), so positions and tracebacks still match.
"""

from __future__ import annotations

import bisect
import builtins
import os
import re
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import GlobalScope, MetadataWrapper, ScopeProvider

from gradlint.config import find_config
from gradlint.data import section
from gradlint.dynamic.probe import Job
from gradlint.engine.legacy import Rewrite, as_python3
from gradlint.engine.pieces import PIECE_SIZE, parse_module
from gradlint.engine.positions import Located
from gradlint.engine.runner import decode
from gradlint.engine.walker import iter_tree
from gradlint.notebook import Notebook, NotebookError, is_notebook
from gradlint.rule import Finding


@dataclass
class Unrunnable:
    """A finding that cannot become a job, and why (reported as inconclusive)."""

    index: int
    reason: str


# A file larger than this that the static pass parsed in pieces is not parsed whole again here.
PLAN_LIMIT = 2 * PIECE_SIZE
# A relative import statement, its dots captured.
_RELATIVE_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.+)", re.M)


def framework_modules() -> dict[str, list[str]]:
    return dict(section("dynamic_frameworks"))


class ModulePlan:
    """One file's top-level statements: their lines, what each imports and which others each
    needs. It holds no tree: the static pass builds it from the tree it has already parsed
    (`module`), and only a file that pass did not parse whole is parsed again here."""

    def __init__(self, path: str, text: str, module: cst.Module | None = None) -> None:
        self.path = path
        self.lines = text.splitlines(keepends=True)
        self.legacy: Rewrite | None = None  # set for the Python 3 reading of a Python 2 file
        # How many packages the file's relative imports climb (`from ..x import y`: 2).
        self.relative_level = max((len(dots) for dots in _RELATIVE_IMPORT.findall(text)), default=0)
        if module is None:
            module = parse_module(text)
        scopes = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ScopeProvider)
        body = list(module.body)
        located = Located(module, placed=[n for s in body for n in (s, *getattr(s, "decorators", ())[:1])])
        # A definition's position starts at `def`/`class`; its decorators belong to it.
        self.spans = [
            (located.position(getattr(s, "decorators", None)[0] if getattr(s, "decorators", None) else s).start.line,
             located.position(s).end.line)
            for s in body
        ]
        self._starts = [start for start, _ in self.spans]
        self.main_guard = [_is_main_guard(s) for s in body]
        self.while_loop = [isinstance(s, cst.While) for s in body]  # runs until the timeout: never a provider
        self.program = [isinstance(s, (cst.For, cst.While)) or _is_main_guard(s) for s in body]
        self.example = [_is_example(s) for s in body]
        self.future_import = [_is_future_import(s) for s in body]
        owner: dict[int, int] = {}
        self.imports: dict[int, set[str]] = {}  # statement -> top-level modules it imports
        for index, statement in enumerate(body):
            self.imports[index] = set()
            for node in iter_tree(statement):
                owner[id(node)] = index
                if isinstance(node, (cst.Import, cst.ImportFrom)):
                    self.imports[index].update(_top_module(node))
        self.all_imports = {module for modules in self.imports.values() for module in modules}
        self.needs: dict[int, set[int]] = {i: set() for i in range(len(body))}
        # `from utility import *` binds names no scope analysis sees: a statement reading a name
        # that nothing in the file binds needs the file's star imports.
        self.star_imports = [i for i, s in enumerate(body) if _is_star_import(s)]
        self.unresolved: set[int] = set()
        self._snippets: dict[tuple[int, ...], str] = {}
        global_scope = next((s for s in scopes.values() if isinstance(s, GlobalScope)), None)
        if global_scope is None:
            return
        for scope in set(scopes.values()):
            if scope is None:
                continue
            for access in scope.accesses:
                user = owner.get(id(access.node))
                if user is None:
                    continue
                name = getattr(access.node, "value", None)
                if not access.referents and isinstance(name, str) and not hasattr(builtins, name):
                    self.unresolved.add(user)
                for referent in access.referents:
                    if getattr(referent, "scope", None) is global_scope and hasattr(referent, "node"):
                        provider = owner.get(id(referent.node))
                        if provider is not None and provider != user:
                            self.needs[user].add(provider)

    def statement_at(self, line: int) -> int | None:
        index = bisect.bisect_right(self._starts, line) - 1
        return index if index >= 0 and line <= self.spans[index][1] else None

    def closure(self, target: int) -> list[int]:
        # The file's `@gradlint.example` functions come along: they say how to build its models.
        examples = [i for i, example in enumerate(self.example) if example]
        keep, todo = {target, *examples}, [target, *examples]
        while todo:
            current = todo.pop()
            providers = self.needs[current] | (set(self.star_imports) if current in self.unresolved else set())
            for provider in providers:
                if provider not in keep and not self.main_guard[provider] and not self.while_loop[provider]:
                    keep.add(provider)
                    todo.append(provider)
        keep.update(i for i, future in enumerate(self.future_import) if future)
        return sorted(keep)

    def not_run(self, target: int) -> list[tuple[int, int]]:
        """The finding's own statement when running it would run the program rather than define
        something: a module-level loop (a `while True:` training loop runs until the timeout) or
        the `__main__` block. The witness still reads it; it evaluates what it needs."""
        return [self.spans[target]] if self.program[target] else []

    def snippet(self, statements: list[int]) -> str:
        """The file with only these statements left (the other lines blank); findings in one
        function share it."""
        key = tuple(statements)
        found = self._snippets.get(key)
        if found is None:
            lines = ["\n"] * len(self.lines)
            for index in statements:
                start, end = self.spans[index]
                lines[start - 1 : end] = self.lines[start - 1 : end]
            found = self._snippets[key] = "".join(lines)
        return found

    def framework(self, statements: list[int], target: int) -> str | None:
        """The worker for a finding: the first framework (in the table's order) among the
        modules the flagged statement itself uses, else those the snippet imports, else those
        the file imports (tensors may arrive as arguments)."""
        tiers = (
            {m for i in self.needs[target] for m in self.imports[i]},
            {m for i in statements for m in self.imports[i]},
            self.all_imports,
        )
        for imported in tiers:
            for name, modules in framework_modules().items():
                if imported.intersection(modules):
                    return name
        return None


def _rewritten_column(module: ModulePlan, line: int, column: int) -> int:
    """The column of the Python 3 reading that the file's own `column` maps back from."""
    width = len(module.lines[line - 1]) + 2 if 0 < line <= len(module.lines) else column
    return next((c for c in range(1, width) if module.legacy.column(line, c) >= column), column)


def _top_module(node: cst.Import | cst.ImportFrom) -> set[str]:
    if isinstance(node, cst.Import):
        return {cst.helpers.get_full_name_for_node(alias.name).split(".")[0] for alias in node.names}
    if node.relative or node.module is None:
        return set()
    return {cst.helpers.get_full_name_for_node(node.module).split(".")[0]}


def _is_main_guard(statement: cst.CSTNode) -> bool:
    if not isinstance(statement, cst.If) or not isinstance(statement.test, cst.Comparison):
        return False
    code = cst.Module([]).code_for_node(statement.test)
    return "__name__" in code and "__main__" in code


def _is_example(statement: cst.CSTNode) -> bool:
    """A function decorated with `@gradlint.example(...)` (or `example` imported from gradlint)."""
    if not isinstance(statement, cst.FunctionDef):
        return False
    for decorator in statement.decorators:
        call = decorator.decorator
        name = cst.helpers.get_full_name_for_node(call.func if isinstance(call, cst.Call) else call) or ""
        if name in ("gradlint.example", "example"):
            return True
    return False


def _is_star_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, cst.ImportFrom) and isinstance(s.names, cst.ImportStar) for s in statement.body)


def _is_future_import(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and any(isinstance(s, cst.ImportFrom) and isinstance(s.module, cst.Name) and s.module.value == "__future__" for s in statement.body)
    )


def module_location(path: str, relative_level: int = 0) -> tuple[str, str]:
    """The module's dotted name and the directory to put on sys.path: the package's parent for a
    module inside a package (so relative imports work), else the file's own directory. A file
    whose relative imports climb `relative_level` packages, where the folders have no
    `__init__.py`, is in namespace packages made of those folders (`from . import utils` in
    `glow_like/models.py` imports `glow_like.utils`), as the project's own imports of it have it."""
    file = Path(path).resolve()
    parts, directory = [], file.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    while len(parts) < relative_level and directory.name.isidentifier() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    if parts:
        return ".".join([*parts, file.stem]), str(directory)
    return "__gradlint_snippet__", str(file.parent)


def project_paths(path: str) -> list[str]:
    """Where the project's own top-level packages import from, before the file's package root:
    the configuration folder, then the git root (layouts without `__init__.py` files import
    `models.layers` from there, as namespace packages), each followed by its `src` folder
    (the src layout, whose packages are importable once installed)."""
    start = Path(path).resolve().parent
    roots = []
    config = find_config(start)
    if config is not None:
        roots.append(config.parent)
    git = next((d for d in (start, *start.parents) if (d / ".git").exists()), None)
    if git is not None:
        roots.append(git)
    found = [str(folder) for root in roots for folder in (root, root / "src") if folder.is_dir()]
    return list(dict.fromkeys(found))


def plan(
    findings: list[Finding], codes: set[str], device: str, sources: dict[str, str] | None = None,
    plans: dict[str, ModulePlan] | None = None,
) -> tuple[list[Job], list[Unrunnable]]:
    """Jobs for the findings whose rule is in `codes`; the others that cannot run, with why.
    `plans` are the module plans the static pass built from its own parse, by path."""
    jobs: list[Job] = []
    unrunnable: list[Unrunnable] = []
    modules: dict[str, tuple[ModulePlan, Notebook | None] | str] = {}
    for index, finding in enumerate(findings):
        if finding.rule not in codes:
            continue
        loaded = modules.get(finding.path)
        if loaded is None:
            loaded = modules[finding.path] = _load(finding.path, sources, (plans or {}).get(finding.path))
        if isinstance(loaded, str):
            unrunnable.append(Unrunnable(index, loaded))
            continue
        module, notebook = loaded
        # A notebook's findings count lines per cell; its program counts them all.
        line, end_line = finding.line, finding.end_line
        if notebook is not None and finding.cell is not None:
            line = notebook.program_line(finding.cell, finding.line)
            end_line = notebook.program_line(finding.cell, finding.end_line)
        column, end_column = finding.column, finding.end_column
        if module.legacy is not None:  # the finding's columns are the file's own
            column, end_column = _rewritten_column(module, line, column), _rewritten_column(module, end_line, end_column)
        target = module.statement_at(line)
        if target is None:
            unrunnable.append(Unrunnable(index, "the finding is not inside a top-level statement"))
            continue
        statements = module.closure(target)
        framework = module.framework(statements, target)
        if framework is None:
            unrunnable.append(Unrunnable(index, "the dynamic mode runs torch, TensorFlow/Keras, JAX and NumPy/SciPy code; "
                                                "this code imports none of them"))
            continue
        name, search_path = module_location(finding.path, module.relative_level)
        # The worker runs in its own directory: it needs the absolute path to read the file.
        path = finding.path if sources and finding.path in sources else os.path.abspath(finding.path)
        jobs.append(Job(index, finding.rule, path, line, column, end_line,
                        end_column, finding.message, framework, module.snippet(statements), name, search_path, device,
                        project_paths=project_paths(finding.path), skip=module.not_run(target),
                        python2=module.legacy is not None))
    return jobs, unrunnable


def _load(path: str, sources: dict[str, str] | None, built: ModulePlan | None = None) -> tuple[ModulePlan, Notebook | None] | str:
    """The file's module plan (for a notebook: of its code cells as one program), or why not."""
    text = None
    try:
        notebook = Notebook(Path(path).read_bytes()) if is_notebook(path) and not (sources and path in sources) else None
        if built is not None:
            return built, notebook
        if sources and path in sources:
            text = sources[path]
        elif notebook is not None:
            text = notebook.program
        else:
            text = decode(Path(path).read_bytes())
        if len(text) > PLAN_LIMIT:  # parsed whole, its tree would take gigabytes
            return f"the file is too large (over {PLAN_LIMIT // 1024} KB) for the dynamic mode to cut a snippet from"
        return ModulePlan(path, text), notebook
    except (SyntaxError, cst.ParserSyntaxError) as error:
        legacy = as_python3(text) if text is not None else None
        if legacy is None or notebook is not None:
            return f"could not read the file again: {error}"
        # Run as its Python 3 reading, where Python 2 would compute differently is guarded
        # (`gradlint.dynamic.python2`).
        try:
            module = ModulePlan(path, legacy.text)
        except (SyntaxError, cst.ParserSyntaxError):
            return "a Python 2 file whose Python 3 reading does not parse whole, so it is not run"
        module.legacy = legacy
        return module, notebook
    except (OSError, UnicodeDecodeError, LookupError, NotebookError) as error:
        return f"could not read the file again: {error}"
