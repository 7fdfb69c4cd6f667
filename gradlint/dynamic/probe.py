"""What a witness works with inside a worker: the executed snippet, the flagged node, and a way
to evaluate part of the code on inputs the witness chooses.

Runs in the worker process, so it uses `ast` (the standard library) and never libcst; the
frameworks are reached only through `backends`.
"""

from __future__ import annotations

import ast
import builtins
import copy
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradlint import examples
from gradlint.dynamic import models
from gradlint.dynamic.stand_ins import stand_in

CONFIRMED, NOT_REPRODUCED, INCONCLUSIVE = "confirmed", "not-reproduced", "inconclusive"
VERDICTS = (CONFIRMED, NOT_REPRODUCED, INCONCLUSIVE)


class Inconclusive(Exception):
    """Raised by a witness that could not run its experiment; the message says why."""


@dataclass
class Observation:
    """What a witness saw. `evidence` states it in numbers; `inputs` says what was fed in."""

    verdict: str
    evidence: str
    inputs: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")


def confirmed(evidence: str, inputs: str = "") -> Observation:
    return Observation(CONFIRMED, evidence, inputs)


def not_reproduced(evidence: str, inputs: str = "") -> Observation:
    return Observation(NOT_REPRODUCED, evidence, inputs)


@dataclass
class Job:
    """One finding to check, as the parent sends it (see `gradlint.dynamic.plan`)."""

    id: int
    rule: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    framework: str
    source: str  # the snippet: the finding's definition and what it needs, at the original line numbers
    module: str = "__gradlint_snippet__"
    search_path: str = ""  # the file's package root (or directory): its module's imports resolve from there
    device: str = "cpu"
    project_paths: list[str] = field(default_factory=list)  # the configuration folder and git root, before it
    skip: list[tuple[int, int]] = field(default_factory=list)  # line spans kept for the witness, not run
    python2: bool = False  # the snippet is the Python 3 reading of a Python 2 file (`gradlint.dynamic.python2`)

    @classmethod
    def from_dict(cls, data: dict) -> Job:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


def source_file(job: Job) -> Path:
    """The finding's file: its path may be relative to a directory the worker is not in."""
    path = Path(job.path)
    if path.is_absolute() or not job.search_path:
        return path
    if job.module and "." in job.module:
        return Path(job.search_path, *job.module.split(".")).with_suffix(".py")
    return Path(job.search_path) / path.name


def _char_column(line: str, byte_offset: int) -> int:
    """ast columns count UTF-8 bytes; findings count characters."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


@dataclass
class Probe:
    """The executed snippet and the flagged node, handed to a witness."""

    job: Job
    namespace: dict
    tree: ast.Module
    backend: Any  # gradlint.dynamic.backends.Backend
    lines: list[str] = field(default_factory=list)
    stand_ins: dict[str, str] = field(default_factory=dict)  # parameter -> how its stand-in reads in the evidence
    _parents: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)
    _foreign: dict = field(default_factory=dict)  # id of a project module's `def` -> that module's globals

    def __post_init__(self) -> None:
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self._parents[child] = parent

    # Where the finding is ---------------------------------------------------------------

    def span(self, node: ast.AST) -> tuple[int, int, int, int] | None:
        if not hasattr(node, "end_lineno") or node.end_lineno is None:
            return None
        start = _char_column(self.lines[node.lineno - 1], node.col_offset) + 1
        end = _char_column(self.lines[node.end_lineno - 1], node.end_col_offset) + 1
        return node.lineno, start, node.end_lineno, end

    @property
    def target(self) -> ast.AST:
        """The node the finding points at: the one with exactly its range, else the smallest
        node that contains it."""
        job = self.job
        wanted = (job.line, job.column, job.end_line, job.end_column)
        best, best_size, exact = None, None, None
        for node in ast.walk(self.tree):
            span = self.span(node)
            if span is None:
                continue
            if span == wanted:
                exact = node  # breadth-first: the last exact match is the innermost (a call, not its statement)
                continue
            if (span[:2] <= wanted[:2]) and (span[2:] >= wanted[2:]):
                size = (span[2] - span[0], span[3] - span[1])
                if best_size is None or size < best_size:
                    best, best_size = node, size
        if exact is not None:
            return exact
        if best is None:
            raise Inconclusive(f"nothing at line {job.line} of the snippet")
        return best

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self._parents.get(node)

    def ancestors(self, node: ast.AST) -> Iterable[ast.AST]:
        while (node := self._parents.get(node)) is not None:
            yield node

    def enclosing(self, node: ast.AST, kinds: tuple[type, ...]) -> ast.AST | None:
        return next((a for a in self.ancestors(node) if isinstance(a, kinds)), None)

    def enclosing_function(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        return self.enclosing(node, (ast.FunctionDef, ast.AsyncFunctionDef))

    def enclosing_class(self, node: ast.AST) -> ast.ClassDef | None:
        return self.enclosing(node, (ast.ClassDef,))

    def code(self, node: ast.AST) -> str:
        return ast.unparse(node)

    def spelled(self, node: ast.AST) -> str:
        """The code as the user wrote it (quotes and spacing kept), on one line."""
        if node not in self._parents:  # not the snippet's own (a project module's function, inlined)
            return " ".join(ast.unparse(node).split())
        text = ast.get_source_segment(self.job.source, node) or ast.unparse(node)
        return " ".join(text.split())

    def reaching(self, node: ast.AST, depth: int = 20) -> list[ast.AST]:
        """`node`'s own nodes and those of the values its local names were assigned, followed
        as `expression(inline_locals=True)` follows them: where to look for a hole."""
        start = self.enclosing_function(node) or self.tree
        found, todo, seen = [], [(node, getattr(node, "lineno", 0), 0, start)], set()
        while todo:
            current, line, level, function = todo.pop()
            for inner in ast.walk(current):
                found.append(inner)
                if level >= depth:
                    continue
                split = self.split_model(inner)
                if split is not None:
                    todo.append((split, line, level + 1, function))
                callee = self.straight_line_function(inner)
                if callee is not None and id(callee) not in seen:
                    seen.add(id(callee))
                    todo.append((callee.body[-1].value, callee.body[-1].lineno, level + 1, callee))
                attribute = _self_read(inner)
                if attribute is not None and ("self." + attribute, line, id(function)) not in seen:
                    seen.add(("self." + attribute, line, id(function)))
                    bound = attribute_binding(function, self.enclosing_class(inner), attribute, line)
                    if bound is not None:
                        todo.append((bound[1], bound[0], level + 1, function))
                    continue
                if not isinstance(inner, ast.Name) or (inner.id, line, id(function)) in seen:
                    continue
                seen.add((inner.id, line, id(function)))
                bound = binding(function, inner.id, line)
                if bound is not None:
                    todo.append((bound[1], bound[0], level + 1, function))
                    continue
                unpacked = self.unpacked(function, inner.id, line)
                if unpacked is not None:  # the element's own nodes, then the call's arguments here
                    at, call, index = unpacked
                    callee = self.straight_line_function(call)
                    todo.append((callee.body[-1].value.elts[index], callee.body[-1].lineno, level + 1, callee))
                    todo.extend((a, at, level + 1, function) for a in (*call.args, *(k.value for k in call.keywords)))
        return found

    def unpacked(self, function: ast.AST, name: str, line: int) -> tuple[int, ast.Call, int] | None:
        """(line, call, index) when `name` has at `line` the value of `a, name = f(x)` with `f` a
        straight-line function returning a tuple of that length: the latest such assignment
        before `line` in the block that holds it, with no other binding of `name` in between."""
        candidates = [
            node for node in _own_nodes(function)
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], (ast.Tuple, ast.List))
            and node.lineno < line and isinstance(node.value, ast.Call)
            and any(isinstance(e, ast.Name) and e.id == name for e in node.targets[0].elts)
        ]
        if not candidates:
            return None
        chosen = max(candidates, key=lambda n: n.lineno)
        elements = chosen.targets[0].elts
        if not all(isinstance(e, ast.Name) for e in elements):
            return None
        others = [n for n in _own_nodes(function) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                  and chosen.lineno < n.lineno < line]
        if others or not _holds_later(self.parent(chosen), chosen, line):
            return None
        callee = self.straight_line_function(chosen.value)
        returned = callee.body[-1].value if callee is not None else None
        if not isinstance(returned, ast.Tuple) or len(returned.elts) != len(elements):
            return None
        index = next(i for i, e in enumerate(elements) if e.id == name)
        return chosen.lineno, chosen.value, index

    def split_model(self, call: ast.AST) -> ast.expr | None:
        """`model(x)` of a module-level torch `nn.Sequential` that ends in a `Sigmoid` or
        `Softmax` module, as the same computation in two steps: `torch.sigmoid(model[:-1](x))`,
        `torch.nn.functional.softmax(model[:-1](x), model[-1].dim)` (what those modules' own
        `forward` does), so a witness sees the probability and its logits. One node per call."""
        # By position: inlining copies the call, and a witness's hole inside it is the same node.
        key = ("split", *(getattr(call, a, None) for a in ("lineno", "col_offset", "end_lineno", "end_col_offset")))
        if key in self._cache:
            return self._cache[key]
        self._cache[key] = None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and len(call.args) == 1
                and not call.keywords and not isinstance(call.args[0], ast.Starred) and self.backend.name == "torch"):
            return None
        nn = self.backend.torch.nn
        model = self.namespace.get(call.func.id)
        torch_name = next((k for k, v in self.namespace.items() if v is self.backend.torch and not k.startswith("__")), None)
        if type(model) is not nn.Sequential or len(model) < 2 or torch_name is None:
            return None  # a subclass may have its own `forward`
        if any(m._forward_hooks or m._forward_pre_hooks for m in (model, model[-1])):
            return None  # hooks on the model or its last module would not run on the two steps
        last = type(model[-1])
        head = ast.Call(ast.Subscript(ast.Name(call.func.id, ast.Load()), ast.Slice(None, ast.Constant(-1), None), ast.Load()),
                        [call.args[0]], [])
        if last is nn.Sigmoid:
            split = ast.Call(ast.Attribute(ast.Name(torch_name, ast.Load()), "sigmoid", ast.Load()), [head], [])
        elif last is nn.Softmax:
            functional = ast.Attribute(ast.Attribute(ast.Name(torch_name, ast.Load()), "nn", ast.Load()), "functional", ast.Load())
            dim = ast.Attribute(ast.Subscript(ast.Name(call.func.id, ast.Load()), ast.Constant(-1), ast.Load()), "dim", ast.Load())
            split = ast.Call(ast.Attribute(functional, "softmax", ast.Load()), [head, dim], [])
        else:
            return None
        self._cache[key] = ast.copy_location(split, call)
        return self._cache[key]

    def straight_line_function(self, call: ast.AST) -> ast.FunctionDef | None:
        """The module-level function `call` calls, when its body is plain `name = value`
        assignments and a final `return value` (`def D(z): h = relu(z @ W1); return sigmoid(h
        @ W2)`) and the snippet's namespace still holds that very function: its call is the
        returned expression, with the arguments for the parameters (`inline_call`)."""
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            return None
        function = next((s for s in self.tree.body if isinstance(s, ast.FunctionDef) and s.name == call.func.id), None)
        live = self.namespace.get(call.func.id)
        code = getattr(live, "__code__", None)
        if function is None and code is not None and code.co_filename != self.job.path:
            function = self._project_function(live)  # `from model import mnist_conv`
        if function is None or function.decorator_list:
            return None
        args = function.args
        if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs:
            return None
        body = function.body[1:] if _is_docstring(function.body[0]) else function.body
        if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
            return None
        if not all(isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) for s in body[:-1]):
            return None
        for index, statement in enumerate(body[:-1]):  # an assignment nothing reads would be dropped, effects and all
            if not any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id == statement.targets[0].id
                       for later in body[index + 1:] for n in ast.walk(later)):
                return None
        if id(function) in self._foreign:
            return function
        if code is None or code.co_filename != self.job.path or code.co_firstlineno != function.lineno:
            return None
        return function

    def _project_function(self, live: Any) -> ast.FunctionDef | None:
        """The `def` of a function the snippet imports from a module of the project (not an
        installed package), read from that module's file; its globals are kept in `_foreign`,
        so that inlining it can check they are the snippet's own."""
        code = live.__code__
        path = code.co_filename
        if {"site-packages", "dist-packages"} & set(Path(path).parts) or not path.endswith(".py"):
            return None
        key = ("project file", path)
        if key not in self._cache:
            try:
                self._cache[key] = ast.parse(Path(path).read_text("utf-8"))
            except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
                self._cache[key] = None
        tree = self._cache[key]
        function = None if tree is None else next(
            (s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == live.__name__ and s.lineno == code.co_firstlineno), None)
        if function is not None:
            self._foreign[id(function)] = live.__globals__
        return function

    def integer_feed(self, expression: Expression, name: str) -> Any:
        """Zeros of the integer dtype and shape (`None` as `rows`) that the TF1 placeholder
        feeding the input `name` of `expression` declares (`self.actions = tf.placeholder(shape=
        [None], dtype=tf.int32)`, an index into the probabilities): a value such a feed can
        take, where logits would not fit. None for any other input."""
        if name.startswith(SELF_PREFIX):
            attr = name[len(SELF_PREFIX):]
            stores = [] if expression.cls is None else [
                n for n in ast.walk(expression.cls) if isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Attribute) and n.targets[0].attr == attr
                and isinstance(n.targets[0].value, ast.Name) and n.targets[0].value.id == "self"]
            values = [n.value for n in stores]
        else:
            values = [value for _, bound, value in _assignments(expression._scope) if bound == name]
        if len(values) != 1 or not _is_placeholder(values[0]):
            return None
        call = values[0]
        given = {k.arg: k.value for k in call.keywords}
        dtype = given.get("dtype", call.args[0] if call.args else None)
        shape = given.get("shape", call.args[1] if len(call.args) > 1 else None)
        spelled = ast.unparse(dtype) if dtype is not None else ""
        kind = next((k for k in ("uint8", "int64", "int32", "int16", "int8") if spelled.endswith(k)), None)
        try:
            dims = ast.literal_eval(shape) if shape is not None else None
        except ValueError:
            return None
        if kind is None or not isinstance(dims, (list, tuple)) or not all(d is None or isinstance(d, int) for d in dims):
            return None
        import numpy as np  # the worker's: the parent process that plans jobs does not need it

        sized = tuple(ROWS if d is None else d for d in dims)
        return np.zeros(sized, dtype=kind) if int(np.prod(sized)) <= MAX_FEED else None

    def instance(self, node: ast.ClassDef) -> Any:
        """An instance of the class, built with its defaults (sizes guessed, construction
        seeded), or None when it cannot be built."""
        key = ("instance", node.name)
        if key not in self._cache:
            self._cache[key] = None
            try:
                cls = self.live_class(node)
                example = examples.find(cls)
                if example is not None:
                    models.seed_frameworks()
                    self._cache[key], _ = examples.build(example, cls)
                    self.stand_ins["self"] = f"self from `{example.__name__}()` (a @gradlint.example)"
                else:
                    self._cache[key], call = models.build_among(self.constructors(cls))
                    self.stand_ins["self"] = f"self = `{call}`"
                if self.backend.name == "torch" and isinstance(self._cache[key], self.backend.torch.nn.Module):
                    self._cache[key].to(self.backend.device)  # on the device the inputs are
            except Exception:  # noqa: BLE001, S110 - no instance: `self.attr` reads stay inputs
                pass
        return self._cache[key]

    def file_tree(self) -> ast.Module | None:
        """The whole file, if it still matches the snippet at the finding: the calls and
        module-level values around the flagged code, which the snippet leaves out."""
        if "file" not in self._cache:
            self._cache["file"] = None
            try:
                text = source_file(self.job).read_text("utf-8")
                if self.job.python2:  # the snippet is the file's Python 3 reading: so is the file
                    from gradlint.engine.legacy import as_python3

                    reading = as_python3(text)
                    text = reading.text if reading is not None else text
                if text.splitlines()[self.job.line - 1] == self.lines[self.job.line - 1]:
                    self._cache["file"] = ast.parse(text)
            except (OSError, UnicodeDecodeError, SyntaxError, IndexError, ValueError):
                pass
        return self._cache["file"]

    def passed_value(self, function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> tuple[Any, str] | None:
        """(value, how it reads in the evidence) of what the calls of `function` in the file pass
        for its parameter `name` (the loss object `main` builds and hands to `train`), when they
        all pass the same expression and it needs only module-level names; None otherwise."""
        key = ("passed", function.lineno, name)
        if key not in self._cache:
            self._cache[key] = self._passed_value(function, name)
        return self._cache[key]

    def _passed_value(self, function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> tuple[Any, str] | None:
        tree = self.file_tree()
        if tree is None:
            return None
        positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
        method = self.enclosing_class(function) is not None
        passed: set[str] = set()
        for scope in (tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))):
            for call in _own_nodes(scope):
                if not isinstance(call, ast.Call) or not _calls(call, function.name, method):
                    continue
                argument = _argument(call, positional[1:] if method else positional, name)
                if argument is None:
                    return None  # a call that leaves it to its default, or passes it by *args
                passed.add(ast.unparse(inlined(scope, argument, call.lineno)))
        if len(passed) != 1:
            return None
        (source,) = passed
        expression = ast.parse(source, mode="eval")
        computed, guessed = self._in_file(expression), ""
        if computed is None:
            # `build_model(n_features, 10)` with `n_features` read from data: a size is guessed.
            computed, guessed = self._with_guessed_sizes(expression)
        if computed is None or _is_data(computed[0]) or hasattr(computed[0], "dtype"):
            return None  # an array or tensor is data: the witness chooses it
        return computed[0], f"{name} = `{source}` (as the file passes it{guessed})"

    def _with_guessed_sizes(self, expression: ast.Expression) -> tuple[tuple[Any] | None, str]:
        """A call whose arguments are names with no value here, computed with `GUESSED_SIZE` for
        each of them; (None, "") when it is not such a call or still does not compute."""
        call = expression.body
        if not isinstance(call, ast.Call):
            return None, ""
        arguments = [*call.args, *(k.value for k in call.keywords)]
        unknown = {a.id for a in arguments if isinstance(a, ast.Name) and a.id not in self.namespace
                   and self._in_file(ast.Expression(ast.Name(a.id, ast.Load()))) is None}
        if not unknown:
            return None, ""
        sized = _SizeGuess(unknown).visit(copy.deepcopy(expression))
        computed = self._in_file(ast.fix_missing_locations(sized))
        shown = ", ".join(f"{n} = {models.GUESSED_SIZE}" for n in sorted(unknown))
        return (computed, f"; {shown}, guessed sizes") if computed is not None else (None, "")

    def _in_file(self, node: ast.Expression) -> tuple[Any] | None:
        """(value,) of an expression of the file, evaluated beside the snippet's names; None when
        it needs a name the file does not define at module level or fails."""
        tree = self.file_tree()
        if tree is None:
            return None
        needed = {n for n in free_names(node) if n not in self.namespace and not hasattr(builtins, n)}
        # What the snippet leaves out when the function itself does not use it: the file's
        # imports (`torch` in `torch.nn.CrossEntropyLoss()`) and its functions and classes
        # (`build_model(4, 3)`), defined again beside the snippet's own names.
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        definitions = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef)) and s.name in needed]
        if needed - {(a.asname or a.name.split(".")[0]) for s in imports for a in s.names} - {d.name for d in definitions}:
            return None
        scope = dict(self.namespace)
        try:
            if needed:
                exec(compile(ast.Module([*imports, *definitions], type_ignores=[]), self.job.path, "exec"), scope)  # noqa: S102
            return (eval(compile(node, self.job.path, "eval"), scope),)
        except Exception:  # noqa: BLE001 - it does not compute on its own
            return None

    def constructor(self, cls: type) -> tuple[Callable[[], Any], str]:
        """The first of `constructors`."""
        return self.constructors(cls)[0]

    def constructors(self, cls: type) -> list[tuple[Callable[[], Any], str]]:
        """Factories for `cls` and how each reads: the first construction in the file whose
        arguments compute (`AllConvNet(device="cpu", lr=0.1)` in its `main`), else
        `models.constructors`' guesses from the signature, to be tried in turn."""
        tree = self.file_tree()
        scopes = () if tree is None else (tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))))
        for scope in scopes:
            for call in _own_nodes(scope):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == cls.__name__
                        and (call.args or call.keywords)):
                    continue
                construction = inlined(scope, call, call.lineno)
                packed = ast.fix_missing_locations(ast.Expression(ast.Call(
                    ast.parse("lambda *args, **kwargs: (args, kwargs)", mode="eval").body, construction.args, construction.keywords)))
                if self._in_file(packed) is not None:
                    return [(self._construction(cls, packed), f"{ast.unparse(construction)} (as the file builds it)")]
        return models.constructors(cls)

    def _construction(self, cls: type, arguments: ast.Expression) -> Callable[[], Any]:
        def build() -> Any:  # the arguments computed afresh for each model, as the file does
            computed = self._in_file(arguments)
            if computed is None:
                raise models.CannotRun(f"the arguments of `{cls.__name__}` no longer compute")
            args, kwargs = computed[0]
            return cls(*args, **kwargs)

        return build

    def live_class(self, node: ast.ClassDef) -> type:
        """The class object the snippet defined for `node` (top-level classes only)."""
        value = self.namespace.get(node.name)
        if not isinstance(value, type):
            raise Inconclusive(f"class `{node.name}` is not defined at module level")
        return value

    # Evaluating part of the code --------------------------------------------------------

    def expression(
        self,
        node: ast.expr,
        holes: dict[str, ast.expr] | None = None,
        inline_locals: bool = True,
    ) -> Expression:
        """`node` as a function of its free variables, ready to evaluate on chosen inputs.

        Local names bound by a plain `name = value` earlier in the enclosing function are
        replaced by their values (so the inputs are the function's parameters), `holes`
        (subexpressions of `node`, by input name) become inputs themselves, and `self.attr`
        reads become inputs unless `attr` is a method of the enclosing class.
        """
        return Expression(self, node, holes or {}, inline_locals)


def substitute(node: ast.AST, replace: Callable[[ast.AST], ast.AST | None]) -> ast.AST:
    """A copy of `node` with each subtree for which `replace` gives a node replaced by it;
    `node` itself is left untouched."""
    replacement = replace(node)
    if replacement is not None:
        return replacement
    clone = copy.copy(node)
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            setattr(clone, name, [substitute(v, replace) if isinstance(v, ast.AST) else v for v in value])
        elif isinstance(value, ast.AST):
            setattr(clone, name, substitute(value, replace))
    return clone


def bound_inside(node: ast.AST) -> set[str]:
    """Names a function, lambda, comprehension or walrus binds within `node` (a function's
    parameters and locals)."""
    names: set[str] = set()
    for inner in ast.walk(node):
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.update(a.arg for a in (*inner.args.posonlyargs, *inner.args.args, *inner.args.kwonlyargs))
            names.update(a.arg for a in (inner.args.vararg, inner.args.kwarg) if a is not None)
            names.update(n.id for n in _own_nodes(inner) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
        elif isinstance(inner, ast.Lambda):
            names.update(a.arg for a in (*inner.args.posonlyargs, *inner.args.args, *inner.args.kwonlyargs))
            names.update(a.arg for a in (inner.args.vararg, inner.args.kwarg) if a is not None)
        elif isinstance(inner, ast.comprehension):
            names.update(n.id for n in ast.walk(inner.target) if isinstance(n, ast.Name))
        elif isinstance(inner, ast.NamedExpr):
            names.add(inner.target.id)
    return names


def free_names(node: ast.AST) -> list[str]:
    """Names `node` reads that it does not bind itself, in order of first use."""
    inner = bound_inside(node)
    seen: dict[str, None] = {}
    for name in ast.walk(node):
        if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Load) and name.id not in inner:
            seen.setdefault(name.id, None)
    return list(seen)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _holds_later(parent: ast.AST | None, statement: ast.stmt, line: int) -> bool:
    """Whether a statement after `statement` in its own block holds `line`."""
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and statement in block:
            return any(s.lineno <= line <= s.end_lineno for s in block[block.index(statement) + 1:])
    return False


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)


def _own_nodes(scope: ast.AST):
    """The nodes of a function (or module) without those of the functions and classes inside it."""
    stack = [scope]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, _SCOPES))


def _assignments(function: ast.AST) -> list[tuple[int, str, ast.expr]]:
    """(line, name, value) of every `name = value` in `function`'s own body, in order."""
    found = []
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found.append((node.lineno, node.targets[0].id, node.value))
        elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
            found.append((node.lineno, node.target.id, node.value))
    return sorted(found, key=lambda item: item[0])


def _rebinds(function: ast.AST) -> set[str]:
    """Names bound other than by a plain assignment (loops, augmented assignment, unpacking):
    their value at the finding is not one expression, so they stay inputs."""
    names: set[str] = set()
    for node in _own_nodes(function):
        targets: list[ast.AST] = []
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Assign) and (len(node.targets) > 1 or not isinstance(node.targets[0], ast.Name)):
            targets = list(node.targets)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        for target in targets:
            # `out[pos] = ...` stores into `out`; it rebinds neither `out` nor `pos`.
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names


_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.AsyncWith, ast.Match)


def _assigned_in_other_blocks(function: ast.AST, line: int) -> set[str]:
    """Names assigned inside a block (`if`, loop, `try`, `with`) that does not hold `line`: the
    value at `line` depends on whether that block ran, so they stay inputs."""
    names: set[str] = set()
    for block in _own_nodes(function):
        if isinstance(block, _BLOCKS) and block is not function and not (block.lineno <= line <= block.end_lineno):
            for node in ast.walk(block):
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                        names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def binding(function: ast.AST, name: str, line: int) -> tuple[int, ast.expr] | None:
    """The line and value of the plain `name = value` in `function` that `name` has at `line`;
    None when it is a parameter or its value there is not one expression."""
    if name in _rebinds(function) or name in _assigned_in_other_blocks(function, line):
        return None
    earlier = [(at, value) for at, bound, value in _assignments(function) if bound == name and at < line]
    if not earlier or _is_placeholder(earlier[-1][1]):
        return None
    return earlier[-1]


def _is_placeholder(value: ast.expr) -> bool:
    """`tf.placeholder(...)`: what a TF1 session feeds, so an input of the check (as at module
    level, see `old_spellings`), never a value to inline (it does not run eagerly)."""
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "placeholder"


def attribute_binding(function: ast.AST | None, cls: ast.ClassDef | None, attr: str, line: int) -> tuple[int, ast.expr] | None:
    """The line and value of `self.attr = value` in the method `function` that `self.attr` has at
    `line` (TF1 models build their graph in `__init__`: `self.probs = tf.nn.softmax(self.logits)`,
    then `tf.log(self.probs)`): only when it is the class's one store to `self.attr`, it comes
    before `line`, and each block around it (`with`, `if`, loop) also holds `line`."""
    if function is None or cls is None or isinstance(function, ast.Module):
        return None
    positional = [*function.args.posonlyargs, *function.args.args]
    if not positional or positional[0].arg != "self" or "self" in _rebinds(function):
        return None
    stores = [n for n in ast.walk(cls) if isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.ctx, (ast.Store, ast.Del))
              and isinstance(n.value, ast.Name) and n.value.id == "self"]
    if len(stores) != 1:
        return None
    found = next((node for node in _own_nodes(function) if isinstance(node, ast.Assign) and len(node.targets) == 1
                  and node.targets[0] is stores[0]), None)
    if found is None or found.end_lineno >= line or _is_placeholder(found.value):
        return None
    for block in _own_nodes(function):  # a block around the assignment that does not hold `line` may not have run
        if (isinstance(block, _BLOCKS) and block.lineno <= found.lineno <= block.end_lineno
                and not (block.lineno <= line <= block.end_lineno)):
            return None
    return found.lineno, found.value


def _self_read(node: ast.AST) -> str | None:
    """`attr` of a `self.attr` read."""
    if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name)
            and node.value.id == "self"):
        return node.attr
    return None


def _local_function(function: ast.AST, name: str, line: int) -> ast.Lambda | None:
    """`def name(...): return value` defined once in `function`'s own body, before `line` and
    outside any block, with no decorator, as the lambda it is: the branches a `tf.cond` is given.
    The body's locals stay the enclosing function's, which inlining then follows."""
    if isinstance(function, ast.Module) or name in _rebinds(function) or any(n == name for _, n, _ in _assignments(function)):
        return None
    defined = [n for n in ast.walk(function) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and n.name == name and n is not function]
    if len(defined) != 1 or not any(defined[0] is s for s in getattr(function, "body", [])):
        return None
    definition = defined[0]
    body = definition.body[1:] if _is_docstring(definition.body[0]) else definition.body
    if (not isinstance(definition, ast.FunctionDef) or definition.decorator_list or definition.lineno >= line
            or len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None):
        return None
    return ast.copy_location(ast.Lambda(definition.args, body[0].value), definition)


def _calls(call: ast.Call, name: str, method: bool) -> bool:
    func = call.func
    if method:
        return isinstance(func, ast.Attribute) and func.attr == name and isinstance(func.value, ast.Name) and func.value.id == "self"
    return isinstance(func, ast.Name) and func.id == name


def _argument(call: ast.Call, positional: list[str], name: str) -> ast.expr | None:
    """The expression `call` passes for the parameter `name`."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if any(isinstance(a, ast.Starred) for a in call.args) or name not in positional:
        return None
    index = positional.index(name)
    return call.args[index] if index < len(call.args) else None


def inlined(scope: ast.AST, node: ast.expr, line: int, depth: int = 10) -> ast.expr:
    """`node` with the local names of `scope` replaced by the values they were assigned."""
    def replace(inner: ast.AST) -> ast.AST | None:
        if depth <= 0 or not (isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Load)) or scope_is_module:
            return None
        found = binding(scope, inner.id, line)
        return None if found is None else inlined(scope, found[1], found[0], depth - 1)

    scope_is_module = isinstance(scope, ast.Module)  # module-level names are the namespace's own
    return substitute(node, replace)


def parameter_defaults(function: ast.AST | None) -> dict[str, ast.expr]:
    """Each parameter of `function` that has a default, with the default's expression."""
    if function is None:
        return {}
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {arg.arg: default for arg, default in pairs}


def numeric_defaults(function: ast.AST | None) -> dict[str, float]:
    """Parameters with a numeric literal default (`eps=1e-6`, `margin=1.0`): a witness keeps
    them, since they are part of what the code computes."""
    found = {}
    for name, default in parameter_defaults(function).items():
        try:
            value = ast.literal_eval(default)
        except ValueError:
            continue  # not a literal: the parameter stays an input
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[name] = float(value)
    return found


def first_line(error: Exception) -> str:
    """An error's first line, short: enough to say what failed."""
    text = str(error).strip().splitlines()
    return (text[0] if text else "")[:160]


SELF_PREFIX = "self."
# An integer feed's unknown (`None`) dimensions: the witnesses' inputs have this many rows.
ROWS = 3
MAX_FEED = 1_000_000
_MISSING = object()


def _unwrapped(value: Any) -> Any:
    """The module an old-spelling wrapper (`gradlint.dynamic.old_spellings`) answers for."""
    try:
        return object.__getattribute__(value, "_real")
    except AttributeError:
        return value


def _is_data(value: Any) -> bool:
    """A float number, array or tensor: what a witness may vary. Sub-layers, flags, integers,
    names and functions are not."""
    if isinstance(value, float):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and "float" in str(dtype)


class Expression:
    """An expression of the snippet turned into a function of named inputs.

    `inputs` lists the input names: parameters and unresolved locals by name, holes by the name
    the witness gave them, `self.attr` reads as "self.attr". Call it with a value per input.
    """

    MAX_INLINE_DEPTH = 20

    def __init__(self, probe: Probe, node: ast.expr, holes: dict[str, ast.expr], inline_locals: bool) -> None:
        self.probe = probe
        self.function = probe.enclosing_function(node)
        self.cls = probe.enclosing_class(node)
        self._methods = self._class_methods()
        hole_ids = {id(hole): name for name, hole in holes.items()}
        # A hole may sit in a local's assigned value that inlining brings in: matched by identity.
        self._hole = lambda n: _hole_name(hole_ids[id(n)]) if id(n) in hole_ids else None
        body = substitute(node, self._hole)
        # Module-level code (a notebook cell) follows the module's own assignments.
        self._scope = self.function or probe.tree
        if inline_locals:
            body = self._inline(body, node.lineno, 0, set(holes))
        self.node = ast.fix_missing_locations(body)
        self.source = ast.unparse(self.node)
        namespace = probe.namespace
        self.inputs: list[str] = []
        for name in free_names(self.node):
            if name in holes or (name not in namespace and not hasattr(builtins, name)) or self._is_local(name):
                if name == "self" and self.cls is not None:
                    continue
                self.inputs.append(name)
        self.self_attributes = self._self_attributes() if self.cls is not None else []
        # `self` built by constructing the class: what it holds that is not data (a sub-layer,
        # a flag, a name) is taken from it instead of becoming an input.
        self.instance = probe.instance(self.cls) if self.self_attributes else None
        self.instance_values: dict[str, Any] = {}
        for name in list(self.self_attributes):
            value = getattr(self.instance, name[len(SELF_PREFIX):], _MISSING)
            if value is not _MISSING and not _is_data(value):
                self.instance_values[name[len(SELF_PREFIX):]] = value
                self.self_attributes.remove(name)
        self.self_attributes = list(dict.fromkeys(n for name in self.self_attributes for n in self._read_through(name)))
        self.inputs.extend(self.self_attributes)
        # Parameters that are not data (a kernel size, the device, the loss function) get a
        # stand-in of their kind instead of being varied as arrays.
        self.fixed: dict[str, Any] = {}
        if self.function is not None:
            defaults = parameter_defaults(self.function)
            for name in [n for n in self.inputs if n not in holes and self.is_parameter(n)]:
                # What the file's own calls pass is what the code gets; the guess by name comes after.
                found = probe.passed_value(self.function, name) or stand_in(name, defaults.get(name), probe.backend)
                if found is not None:
                    self.fixed[name] = found[0]
                    probe.stand_ins[name] = found[1]
                    self.inputs.remove(name)
        self._compiled = self._compile()

    # -- building -------------------------------------------------------------------------

    def _class_methods(self) -> set[str]:
        """Methods of the enclosing class, its framework base classes' included (`add_weight`)."""
        if self.cls is None:
            return set()
        names = {n.name for n in self.cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        try:
            live = self.probe.live_class(self.cls)
        except Inconclusive:
            return names
        for klass in live.__mro__:
            names.update(name for name, value in vars(klass).items() if callable(value) or isinstance(value, property))
        return names

    def is_parameter(self, name: str) -> bool:
        if self.function is None:
            return False
        args = self.function.args
        return name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a}

    def _is_local(self, name: str) -> bool:
        if self.function is None:
            return False
        return self.is_parameter(name) or any(n == name for _, n, _ in _assignments(self.function)) or name in _rebinds(self.function)

    def _inline(self, node: ast.AST, line: int, depth: int, keep: set[str]) -> ast.AST:
        if depth > self.MAX_INLINE_DEPTH:
            return node
        def replace(inner: ast.AST) -> ast.AST | None:
            called = self._inline_call(inner, line, depth, keep)
            if called is not None:
                return called
            attribute = _self_read(inner)
            if attribute is not None and attribute not in self._methods and f"self.{attribute}" not in keep:
                assigned = attribute_binding(self.function, self.cls, attribute, line)
                if assigned is not None:  # `self.probs` as the value this method gave it
                    return self._inline(substitute(assigned[1], self._hole), assigned[0], depth + 1, keep)
                return None
            if not (isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Load)) or inner.id in keep:
                return None
            found = binding(self._scope, inner.id, line)
            if found is None:
                local = _local_function(self._scope, inner.id, line)
                if local is not None:  # `def f1(): return 0.5 * tf.square(residual)` as a lambda
                    return self._inline(local, line, depth + 1, keep)
                unpacked = self.probe.unpacked(self._scope, inner.id, line)
                if unpacked is None:
                    return None
                at, call, index = unpacked
                return self._inline_call(substitute(call, self._hole), at, depth + 1, keep, index)
            at, value = found
            return self._inline(substitute(value, self._hole), at, depth + 1, keep)

        keep = keep | bound_inside(node)
        return substitute(node, replace)

    def _inline_call(self, call: ast.AST, line: int, depth: int, keep: set[str], element: int | None = None) -> ast.AST | None:
        """A call of a straight-line module-level function as the expression it returns: its
        locals inlined, its parameters replaced by the (inlined) arguments. Only when each
        argument is a name or constant or its parameter is read once (nothing is evaluated more
        often than the call does), every parameter gets a value, and the function's other names
        are module-level names here too."""
        if depth >= self.MAX_INLINE_DEPTH:
            return None
        split = self.probe.split_model(call)
        if split is not None and element is None and not self._is_local(call.func.id) and call.func.id not in keep:
            own = split.args[0].args[0]  # the argument inside `model[:-1](...)`: this call's, inlined
            argument = self._inline(substitute(call.args[0], self._hole), line, depth + 1, keep)
            return substitute(split, lambda n: self._hole(n) or (argument if n is own else None))
        function = self.probe.straight_line_function(call)
        if function is None:
            return None
        parameters = [a.arg for a in function.args.args]
        defaults = dict(zip(parameters[len(parameters) - len(function.args.defaults):], function.args.defaults))
        given: dict[str, ast.expr] = dict(zip(parameters, call.args))
        if len(call.args) > len(parameters) or any(isinstance(a, ast.Starred) for a in call.args):
            return None
        for keyword in call.keywords:
            if keyword.arg not in parameters or keyword.arg in given:
                return None
            given[keyword.arg] = keyword.value
        for name in parameters:
            if name not in given:
                if name not in defaults or not isinstance(defaults[name], ast.Constant):
                    return None
                given[name] = defaults[name]
        returned = function.body[-1]
        def reads(node: ast.AST, name: str) -> bool:  # a hole is the witness's input, whatever its name
            return isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id == name and not getattr(node, HOLE, False)

        if element is not None and not (isinstance(returned.value, ast.Tuple) and element < len(returned.value.elts)):
            return None
        body = substitute(returned.value if element is None else returned.value.elts[element], self._hole)
        # A model inside the function (`return D_gan(h), D_aux(h)`) is split as at a call site,
        # so a hole at its logits is found there too.
        body = substitute(body, lambda n: None if (split := self.probe.split_model(n)) is None else substitute(split, self._hole))
        for _, name, value in reversed(_assignments(function)):  # straight-line: the latest first
            body = substitute(body, lambda n, name=name, value=value: substitute(value, self._hole) if reads(n, name) else None)
        if bound_inside(body) & (set(parameters) | {name for _, name, _ in _assignments(function)}):
            return None  # a lambda or comprehension inside binds one of the names: left as a call
        read = [n.id for n in ast.walk(body) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and not getattr(n, HOLE, False)]
        if any(self._is_local(name) or name in keep for name in set(read) - set(parameters)):
            return None  # a caller's local of the same name would take its place
        own = self.probe._foreign.get(id(function))
        if own is not None and any(_unwrapped(own.get(name, _MISSING)) is not _unwrapped(self.probe.namespace.get(name, _MISSING))
                                   for name in set(read) - set(parameters)):
            return None  # a function of another module reads a name that means something else here
        holed = any(getattr(n, HOLE, False) for n in ast.walk(body))
        for name, argument in given.items():  # each argument evaluated once, as the call does
            if read.count(name) > 1 and not isinstance(argument, (ast.Name, ast.Constant)):
                return None
            if read.count(name) == 0 and not holed and not isinstance(argument, (ast.Name, ast.Constant)):
                return None  # dropped with its effects, unless the witness's own input took its place
        arguments = {name: self._inline(substitute(argument, self._hole), line, depth + 1, keep) for name, argument in given.items()}
        return substitute(body, lambda n: copy.deepcopy(arguments[n.id]) if any(reads(n, p) for p in arguments) else None)

    def _read_through(self, name: str) -> list[str]:
        """`self.inp` that the expression only reads through (`self.inp.out`), and that `self`
        does not hold: the inputs are what is read (`self.inp.out`), and `self.inp` a namespace
        holding them. Otherwise `[name]`."""
        attribute = name[len(SELF_PREFIX):]
        if (self.instance is not None and hasattr(self.instance, attribute)) or self._calls_methods():
            return [name]
        reads = [n for n in ast.walk(self.node) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                 and n.value.id == "self" and n.attr == attribute]
        through = [n for n in ast.walk(self.node) if isinstance(n, ast.Attribute) and any(n.value is r for r in reads)]
        if not reads or len(through) != len(reads) or any(not isinstance(n.ctx, ast.Load) for n in through):
            return [name]
        called = {id(n.func) for n in ast.walk(self.node) if isinstance(n, ast.Call)}
        if any(id(n) in called for n in through):
            return [name]  # `self.fake.detach()`: a method of the value, not a namespace read through
        return [f"{name}.{n.attr}" for n in through]

    def _calls_methods(self) -> bool:
        return any(
            isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self" and n.attr in self._methods
            for n in ast.walk(self.node)
        )

    def _self_attributes(self) -> list[str]:
        """`self.x` reads in the class (not methods, not properties) that become inputs."""
        attrs: dict[str, None] = {}
        for node in ast.walk(self.cls):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and isinstance(node.ctx, ast.Load)
                and node.attr not in self._methods
            ):
                attrs.setdefault(SELF_PREFIX + node.attr, None)
        used = {SELF_PREFIX + n.attr for n in ast.walk(self.node) if isinstance(n, ast.Attribute)}
        calls_methods = self._calls_methods()
        return [a for a in attrs if calls_methods or a in used]

    def _compile(self) -> Callable:
        plain = [name for name in self.inputs if not name.startswith(SELF_PREFIX)] + list(self.fixed)
        lam = ast.Expression(
            ast.Lambda(
                ast.arguments(posonlyargs=[], args=[ast.arg("__gradlint_self__")] + [ast.arg(n) for n in plain],
                              vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
                substitute(
                    self.node,
                    lambda n: ast.Name("__gradlint_self__", ast.Load()) if isinstance(n, ast.Name) and n.id == "self" else None,
                ),
            )
        )
        if self.probe.job.python2:  # its `/` divides as Python 2 would, or says it cannot
            from gradlint.dynamic import python2

            lam = python2.transform(lam)
        code = compile(ast.fix_missing_locations(lam), self.probe.job.path, "eval")
        return eval(code, self.probe.namespace)

    # -- running --------------------------------------------------------------------------

    @property
    def called_inputs(self) -> list[str]:
        """Inputs the expression calls (`model(x)` with `model` a parameter): no array fits."""
        called = {n.func.id for n in ast.walk(self.node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        return [name for name in self.inputs if name in called]

    def __call__(self, **values: Any) -> Any:
        missing = [name for name in self.inputs if name not in values]
        if missing:
            raise TypeError(f"no value for {', '.join(missing)}")
        for name in self.called_inputs:
            if not callable(values[name]):
                raise TypeError(f"`{name}` is called in `{self.source}`, and its value is not known outside a "
                                "call of the enclosing function")
        attributes: dict[str, Any] = {}
        for name, value in values.items():
            if name.startswith(SELF_PREFIX):
                head, _, read = name[len(SELF_PREFIX):].partition(".")
                if read:  # `self.inp.out`: `self.inp` is a namespace holding what is read through it
                    setattr(attributes.setdefault(head, types.SimpleNamespace()), read, value)
                else:
                    attributes[head] = value
        proxy = _SelfProxy(self, attributes)
        plain = [values[name] for name in self.inputs if not name.startswith(SELF_PREFIX)]
        return self._compiled(proxy, *plain, *self.fixed.values())


class _SelfProxy:
    """Stands in for `self`: data attributes are the witness's inputs, methods are the class's
    own functions bound to this proxy (so they see the same inputs)."""

    def __init__(self, expression: Expression, attributes: dict[str, Any]) -> None:
        object.__setattr__(self, "_attributes", {**expression.instance_values, **attributes})
        cls = expression.probe.live_class(expression.cls) if expression.cls is not None else None
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_instance", expression.instance)

    def __getattr__(self, name: str) -> Any:
        attributes = object.__getattribute__(self, "_attributes")
        if name in attributes:
            return attributes[name]
        cls = object.__getattribute__(self, "_cls")
        for klass in getattr(cls, "__mro__", ()):
            if name in vars(klass):
                value = vars(klass)[name]
                return value.__get__(self, cls) if hasattr(value, "__get__") else value
        instance = object.__getattribute__(self, "_instance")
        if instance is not None and hasattr(instance, name):
            return getattr(instance, name)
        raise Inconclusive(f"`self.{name}` has no value outside a built instance")

    def __setattr__(self, name: str, value: Any) -> None:
        object.__getattribute__(self, "_attributes")[name] = value


HOLE = "gradlint_hole"


def _hole_name(name: str) -> ast.Name:
    """The name of a hole: the witness's input, never replaced by a value the code assigns
    (marked by an attribute, which copies keep)."""
    node = ast.Name(name, ast.Load())
    setattr(node, HOLE, True)
    return node


class _SizeGuess(ast.NodeTransformer):
    """Replaces the names of unknown sizes by `GUESSED_SIZE`."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Constant(models.GUESSED_SIZE), node) if node.id in self.names else node
