from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import grad_disabled_block, not_differentiated
from gradlint.engine.names import referenced_names
from gradlint.engine.syntax import argument, is_constant, number, own_nodes, scoped_nodes
from gradlint.rule import Rule, Severity
from gradlint.semantic import values
from gradlint.semantic.views import viewed_name

SAVES_OUTPUT = api_table("torch_training_saves_output")
SAVES_OUTPUT_MODULES = api_table("torch_training_saves_output_modules")
SAVES_INPUTS = api_table("torch_training_saves_inputs")
SEQUENTIAL = api_table("torch_training_sequential")
BACKWARD = api_table("torch_training_backward")
LOSSES = api_table("torch_training_loss_functions")

# In-place methods that do not change a tensor's values.
_NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "retain_grad_", "detach_", "record_stream_"})
_SAVING_BINARY = (cst.Multiply, cst.Divide, cst.MatrixMultiply)
# Functions whose values are differentiated: a module's forward, a loss, a training step.
_DIFFERENTIATED = re.compile(r"^forward$|loss|objective|criterion|^_?(training|train)_step$", re.I)
# `if not self.training:` / `if eval_mode:`: a branch that runs without autograd.
_INFERENCE_TEST = re.compile(r"training|eval|inference|infer|predict", re.I)


@dataclass
class _Binding:
    index: int
    statement: cst.CSTNode | None = None
    call: cst.Call | None = None  # the value when it is `op(...)`: `op` may save its output
    torch_value: bool = False  # the value is visibly a torch tensor
    view_of: str | None = None  # `b = a`, `b = a.view(-1)`, `b = a[:, 1:]`: `b` shares `a`'s storage
    # A call of a project function that may return a view (of element `element`), asked of the
    # semantic model only when a write needs it.
    made_by: cst.Call | None = None
    element: int | None = None


@dataclass
class _Saved:
    """`z = a * w`: `operand` (`a`) is saved for backward by the op assigned to `results`."""

    index: int
    operand: str
    op: str
    results: set[str] = field(default_factory=set)
    statement: cst.CSTNode | None = None
    # `h = self.f(a)`: saved if calling `module` saves its input (asked when a write needs it);
    # such a module is a torch layer, so `a` is surely a tensor.
    module: cst.BaseExpression | None = None


class InplaceOnGraphTensor(Rule):
    """
    ## What it does
    Checks for an in-place write to a torch tensor that autograd saved for the backward
    pass, when the data flow is visible in one function:

    - the output of an op whose backward reads its own output (`torch.sigmoid`, `tanh`,
      `exp`, `exp2`, `expm1`, `softmax`, `log_softmax`, `relu`, `sqrt`, `rsqrt`,
      `reciprocal`, as functions or Tensor methods), later written in place: `y += 1`,
      `y *= 2`, `y[mask] = 0`, `y.add_()`, `y.mul_()`, `y.clamp_()`, `y.copy_()`,
      `torch.sigmoid_(y)`, `F.relu(y, inplace=True)`, `self.act(y)` with `self.act =
      nn.ReLU(inplace=True)` set in the class, and `y.data.<op>_()`; also through an
      alias or a view, which share the tensor's storage and version counter (`v = y`,
      `y.view(-1)`, `y.reshape(...)`, `y.t()`, `y[:, 1:]`, `y.detach()`, `y.chunk(2)`,
      `torch.narrow(y, ...)`, or a project function that returns slices of its argument;
      a tensor or list index copies and is not followed);
    - the output of such an op written as it is made: `self.drop(F.relu(h))` with an
      in-place dropout, `torch.sigmoid(x).mul_(2)`;
    - an operand of `*`, `/`, `@`, `**` or `torch.mul`/`matmul`/`mm`/`div`/`pow`/`F.linear`
      (which save their inputs), or the input of a weight layer or a normalisation
      (`self.conv(a)`, `nn.Linear`, `nn.BatchNorm2d`, `nn.LayerNorm`, ...), written in place
      after the op, also through a view: `a, b = x[:, :c], x[:, c:]; h = self.conv(a);
      b += h` writes the storage the convolution saved;
    - in `nn.Sequential`, an in-place module (`nn.ReLU(inplace=True)`, `nn.Dropout(...,
      inplace=True)`, ...) right after `nn.Sigmoid`, `nn.Tanh`, `nn.Softmax`,
      `nn.LogSoftmax` or `nn.ReLU`.

    ## Why is this bad?
    Autograd keeps a version counter on every tensor and checks it when backward reads a
    saved tensor. With torch 2.13.0, `y = torch.sigmoid(x); y += 1; y.sum().backward()`
    raises `RuntimeError: one of the variables needed for gradient computation has been
    modified by an inplace operation: [torch.FloatTensor [3]], which is output 0 of
    Sigmoid, is at version 1; expected version 0 instead. Hint: enable anomaly detection to
    find the operation that failed to compute its gradient, with
    torch.autograd.set_detect_anomaly(True, check_nan=False).` The same error comes from
    `z = a * w; a.add_(1)` ("output 0 of Mul") and from `nn.Sigmoid()` followed by
    `nn.Dropout(inplace=True)`. Through `.data` the check is bypassed and the gradient is
    silently wrong: `y = torch.sigmoid(x); y.data.mul_(2)` at `x = 0` gives the gradient
    `[0, 0, 0]` instead of `[0.25, 0.25, 0.25]` (torch 2.13.0).

    ## Example
    ```python
    def forward(self, x):
        gate = torch.sigmoid(self.gate(x))
        gate[self.mask] = 0.0
        return gate * x
    ```

    Use instead:
    ```python
    def forward(self, x):
        gate = torch.sigmoid(self.gate(x))
        gate = gate.masked_fill(self.mask, 0.0)
        return gate * x
    ```

    ## Notes
    Which ops save what was measured with torch 2.13.0: writing in place to the output of
    `pow`, `log`, `sin`, `abs`, `matmul`, `linear`, `+`, `*` by a constant, `elu`,
    `leaky_relu`, `gelu`, `silu`, `softplus`, `clamp`, `hardtanh`, `erf`, `log1p`,
    `logsigmoid`, `sinh`, `cosh`, `atan`, `cumsum` or a batch norm is fine, and is not
    flagged (so `nn.ReLU(inplace=True)` after a convolution, linear layer or batch norm is
    quiet). Writing to an input is fine for `+`, `sigmoid`, `exp`, `tanh` and `relu`.

    What a stored module or activation is comes from the semantic model: `self.act =
    pick_activation("relu")` with a helper that returns `F.relu` for that name saves its
    output, and a loop such as `for m in self.modules(): if isinstance(m, nn.Dropout):
    m.inplace = True` makes every `nn.Dropout` built in the file run in place.

    Flagged only when the tensor is used after the write (or a value computed from it
    before the write is), and the function is differentiated: it calls `backward()`,
    `torch.autograd.grad` or a torch loss after the write, or it is a `forward` (or a
    method its `forward` calls on `self`), a loss or a training step. Quiet for: `x = x.clone()` (or any rebinding) before the write, fresh
    tensors (`out = torch.zeros(...); out[i] = ...`), parameter updates and writes inside
    `torch.no_grad()` blocks, branches that test `training`/`eval`, weight initialisation,
    tests and metrics.

    A function of the project whose every `return` is the output of such an op (`def
    squash(x): return torch.sigmoid(x)`) gives a saved output too, as the semantic model
    reads it.

    Known misses: loop-carried values (a write in one iteration to a tensor saved in the
    previous one), tensors held in attributes or containers, tensors returned by other
    functions through a name or a further call (but views of their arguments, and the direct
    returns above), a module made in place by a loop in another
    file, and a write under `no_grad` to a tensor saved outside it (it still raises).

    ## References
    - PyTorch autograd mechanics, "In-place operations with autograd": saved tensors are
      version-checked and an in-place change raises.
    - PyTorch forums, "one of the variables needed for gradient computation has been
      modified by an inplace operation".
    """

    code = "GL092"
    severity = Severity.WARNING
    message = "`{write}` modifies `{name}` in place, but `{op}` saved it for backward: {effect}; {remedy}"
    _sequential_message = (
        "`{write}` right after `{before}` overwrites the output that `{before}` saved for backward: "
        "backward raises; drop `inplace=True`"
    )
    frameworks = ("torch",)
    differentiated_code_only = True

    def __init__(self, context) -> None:
        super().__init__(context)
        self._candidates: dict[int, cst.CSTNode | None] = {}
        self._exempt_functions: set[int] = set()
        self._inplace_classes: set[int] = set()  # classes that make a module with `inplace=`
        # Functions (0: the module) whose own code calls `backward` or a loss: only there, or in
        # a function named as differentiated, can a write come before a gradient is taken.
        self._differentiating: set[int] = set()
        # Function -> the walk's scopes inside it, to ask the semantic model there.
        self._scopes: dict[int, tuple[cst.CSTNode, ...]] = {}
        self._analysed: tuple[cst.CSTNode, ...] = ()  # the scopes of the function being analysed
        self._parameters: set[str] = set()  # and its parameters
        # Methods that a `forward` calls on `self` (`self.mix(x)`): differentiated with it.
        self._forward_calls: set[str] = set()
        self._from_forward: set[int] = set()
        # Methods, and whether the file sets `m.inplace = True` somewhere: then a module call in
        # any differentiated method may write in place.
        self._methods: dict[int, cst.FunctionDef] = {}
        self._configures_inplace = False
        self._mentions_inplace = False  # `inplace=` or `.inplace = ` somewhere in the file

    # The walk: note where in-place writes are, check `nn.Sequential` on the spot -----------

    def _mark(self) -> None:
        for scope in reversed(self.context.scopes):
            if isinstance(scope, cst.FunctionDef):
                self._candidates[id(scope)] = scope
                return
            if isinstance(scope, (cst.ClassDef, cst.Lambda)):
                return
        self._candidates[0] = None

    def _mark_differentiating(self) -> None:
        """The function whose own code (as `scoped_nodes` reads it) holds this call."""
        scopes = self.context.scopes
        if not scopes:
            self._differentiating.add(0)
        elif isinstance(scopes[-1], cst.FunctionDef):
            self._differentiating.add(id(scopes[-1]))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._mark()

    def visit_Assign(self, node: cst.Assign) -> None:
        if any(isinstance(t.target, cst.Subscript) for t in node.targets):
            self._mark()
        elif any(isinstance(t.target, cst.Attribute) and t.target.attr.value == "inplace" for t in node.targets):
            self._configures_inplace = self._mentions_inplace = True

    def visit_Call(self, node: cst.Call) -> None:
        if _differentiates(node, self.context.names):
            self._mark_differentiating()
        scopes = self.context.scopes
        if scopes and isinstance(scopes[-1], cst.FunctionDef) and scopes[-1].name.value == "forward":
            method = _self_method(node)
            if method is not None:
                self._forward_calls.add(method)
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value.endswith("_"):
            self._mark()
        elif node.args and self.callee(node, SEQUENTIAL):
            self._sequential(node)
        elif any(a.keyword is not None and a.keyword.value == "inplace" for a in node.args):
            self._mentions_inplace = True
            self._mark()
            cls = self.context.enclosing(cst.ClassDef)
            if cls is not None:
                self._inplace_classes.add(id(cls))

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        methods = [item for item in getattr(node.body, "body", ()) if isinstance(item, cst.FunctionDef)]
        # The calls of the class's own `forward` were noted on the way down (a nested class's
        # were taken by it first).
        for method in methods:
            if method.name.value in self._forward_calls and method.name.value != "forward":
                self._from_forward.add(id(method))
        if any(method.name.value == "forward" for method in methods):
            self._forward_calls = set()
        if id(node) not in self._inplace_classes:
            return
        attributes = frozenset(
            target.attr.value
            for method in methods
            for small in own_nodes(method.body)
            if isinstance(small, cst.Assign) and self._inplace_module(small.value)
            for target in (t.target for t in small.targets)
            if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self"
        )
        if not attributes:
            return
        for method in methods:
            if any(isinstance(n, cst.Call) and _self_method(n) in attributes for n in own_nodes(method.body)):
                self._candidates[id(method)] = method

    def _inplace_module(self, value: cst.BaseExpression) -> bool:
        """`nn.ReLU(inplace=True)`, `nn.Dropout(0.1, inplace=True)`."""
        if not isinstance(value, cst.Call) or not any(n.startswith("torch.nn.") for n in self.qualified_names(value.func)):
            return False
        inplace = argument(value, "inplace")
        return inplace is not None and is_constant(inplace, True)

    def _sequential(self, node: cst.Call) -> None:
        layers = [a.value for a in node.args if a.keyword is None and not a.star]
        for before, after in zip(layers, layers[1:]):
            saver = self.callee(before, SAVES_OUTPUT_MODULES)
            if saver is None or not isinstance(after, cst.Call):
                continue
            inplace = argument(after, "inplace")
            if inplace is None or not is_constant(inplace, True):
                continue
            if not any(n.startswith("torch.nn.") for n in self.qualified_names(after.func)):
                continue
            if not_differentiated(self.context):
                return
            self.report(
                after,
                self._sequential_message,
                write=_short(self.source(after)),
                before=self.source(before.func),
            )

    # The analysis, once per file -------------------------------------------------------------

    def leave_Module(self, node: cst.Module) -> None:
        if self._configures_inplace:  # a module switched in place may be called anywhere
            for key, method in self._methods.items():
                self._candidates.setdefault(key, method)
        for key, scope in self._candidates.items():
            if key in self._differentiating or key in self._from_forward or _named_differentiated(scope):
                self._analysed = self._scopes.get(key, ())
                self._check(node if scope is None else scope)

    def _quiet(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.With):
            return grad_disabled_block(node, self.context.names)
        if isinstance(node, cst.If):
            return bool(_INFERENCE_TEST.search(self.source(node.test)))
        return False

    def _check(self, root: cst.CSTNode) -> None:
        if self._exempt(root):
            return
        self._parameters = _parameters(root)
        names = self.context.names
        bindings: dict[str, list[_Binding]] = {}
        saved: list[_Saved] = []
        uses: list[tuple[int, str, cst.CSTNode | None]] = []
        writes: list[tuple[int, str, cst.CSTNode, cst.CSTNode, bool, bool]] = []
        differentiated_at: list[int] = []  # positions of backward / loss calls
        for index, (node, statement, _loops, hushed) in enumerate(scoped_nodes(root, self._quiet)):
            if isinstance(node, cst.Name):
                uses.append((index, node.value, statement))
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    self._bind(target.target, node.value, index, statement, bindings, saved)
                    if isinstance(target.target, cst.Subscript):
                        self._write(target.target.value, node, statement, index, hushed, writes)
            elif isinstance(node, (cst.AnnAssign, cst.NamedExpr)) and node.value is not None:
                self._bind(node.target, node.value, index, statement, bindings, saved)
            elif isinstance(node, cst.AugAssign):
                # `z += self.conv(z)`: what the value saves is saved before the write.
                self._save(node.value, referenced_names(node.target), index, statement, saved)
                self._write(node.target, node, statement, index, hushed, writes)
            elif isinstance(node, cst.For):
                self._bind(node.target, None, index, statement, bindings, saved)
            elif isinstance(node, cst.WithItem) and node.asname is not None:
                self._bind(node.asname.name, None, index, statement, bindings, saved)
            elif isinstance(node, cst.Call):
                if _differentiates(node, names):
                    differentiated_at.append(index)
                    continue
                method = names.method(node)
                if method is not None and method.endswith("_") and method not in _NOT_WRITES:
                    self._write(node.func.value, node, statement, index, hushed, writes, explicit=True)
                    continue
                qualified = self.qualified_names(node.func)
                if not node.args:
                    continue
                if not qualified and self._runs_in_place(node.func):  # `self.act(h)`
                    self._write(node.args[0].value, node, statement, index, hushed, writes, explicit=True)
                elif any(n.startswith("torch.") and n.endswith("_") and ".init." not in n for n in qualified):
                    self._write(node.args[0].value, node, statement, index, hushed, writes, explicit=True)
                elif any(n.startswith("torch.nn.functional.") for n in qualified):
                    inplace = argument(node, "inplace")
                    if inplace is not None and is_constant(inplace, True):
                        self._write(node.args[0].value, node, statement, index, hushed, writes, explicit=True)
        # A module's forward (or a method it calls), a loss or a training step, or a function
        # computing a loss.
        always = isinstance(root, cst.FunctionDef) and (
            _named_differentiated(root) or id(root) in self._from_forward or bool(differentiated_at)
        )
        for index, name, node, statement, data, explicit in writes:
            if not always and not any(i > index for i in differentiated_at):
                continue
            if isinstance(name, cst.Call):
                self._judge_fresh(name, node, statement)
            else:
                self._judge(index, name, node, statement, data, explicit, bindings, saved, uses)

    def _runs_in_place(self, func: cst.BaseExpression) -> bool:
        """Whether calling `func` writes its argument in place (`self.act` holding
        `nn.ReLU(inplace=True)`, or a module a loop sets `m.inplace = True` on); asked only in a
        file that says `inplace` somewhere."""
        return self._mentions_inplace and values.WRITES_INPUT in self._autograd(func)

    def _autograd(self, func: cst.BaseExpression) -> frozenset[str]:
        """What calling `func` does for autograd (`gradlint.semantic`), read in the function
        being analysed: `self.act` holding `nn.ReLU(inplace=True)` writes its input."""
        return self.context.semantic.value(func, self._analysed).autograd

    def _exempt(self, root: cst.CSTNode) -> bool:
        if isinstance(root, cst.FunctionDef):
            return id(root) in self._exempt_functions
        return not_differentiated(self.context)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        # Asked here, where the walk's scopes and statements are those around the function.
        if not_differentiated(self.context):
            self._exempt_functions.add(id(node))
        self._scopes[id(node)] = tuple(self.context.scopes)
        if self.context.enclosing(cst.ClassDef) is not None:
            self._methods[id(node)] = node

    def _bind(self, target, value, index, statement, bindings, saved) -> None:
        if not isinstance(target, (cst.Name, cst.Tuple, cst.List)):
            return  # attributes and subscripts bind no name
        if _paired(target, value):  # `a, b = z[:, :c], z[:, c:]`: element by element
            for element, part in zip(target.elements, value.elements):
                self._bind(element.value, part.value, index, statement, bindings, saved)
            return
        if isinstance(target, cst.Name):
            binding = _Binding(index, statement)
            if isinstance(value, cst.Call):
                binding.call = value
                binding.torch_value = bool(self.context.names.method(value)) or any(
                    n.startswith("torch.") for n in self.qualified_names(value.func)
                )
            if value is not None:
                binding.view_of = viewed_name(value, self.context.names)
                if binding.view_of is None and isinstance(value, cst.Call):
                    binding.made_by = value
            bindings.setdefault(target.value, []).append(binding)
        else:
            shared = _Binding(index, statement, view_of=viewed_name(value, self.context.names) if value is not None else None)
            for position, element in enumerate(target.elements):
                for name in sorted(referenced_names(element.value)):
                    binding = shared
                    if shared.view_of is None and isinstance(value, cst.Call) and isinstance(element.value, cst.Name):
                        # `a, b = halves(z)`: each element may view the argument on its own.
                        binding = _Binding(index, statement, made_by=value, element=position)
                    bindings.setdefault(name, []).append(binding)
        if value is not None:
            self._save(value, set(referenced_names(target)), index, statement, saved)

    def _save(self, value, results, index, statement, saved) -> None:
        """Record the names an op in `value` saves for backward."""
        for operand, op, module in self._saved_operands(value):
            saved.append(_Saved(index, operand, op, set(results), statement, module))

    def _view_of(self, binding: _Binding) -> str | None:
        """The name whose storage the bound value shares; for a call of a project function,
        what the semantic model knows it to return a view of (asked once)."""
        if binding.view_of is None and binding.made_by is not None:
            base = self.context.semantic.view_base(binding.made_by, self._analysed, binding.element)
            binding.view_of = viewed_name(base, self.context.names) if base is not None else None
            binding.made_by = None
        return binding.view_of

    def _storage_names(self, name: str, index: int, statement, bindings) -> list[str]:
        """`name` and the names whose storage it shares through its views, before position `index`."""
        found = [name]
        binding = _latest(bindings, name, index, statement)
        while binding is not None and self._view_of(binding) not in (None, *found) and len(found) < 8:
            found.append(binding.view_of)
            binding = _latest(bindings, binding.view_of, binding.index, binding.statement)
        return found

    def _saving_op(self, call: cst.Call) -> str | None:
        names = self.context.names
        method = names.method(call)
        if method in SAVES_OUTPUT.methods:
            return f".{method}()"
        if not self.qualified_names(call.func):  # `self.act(x)`: what the model knows `act` to be
            return self.source(call.func) if values.SAVES_OUTPUT in self._autograd(call.func) else None
        op = self.callee(call, SAVES_OUTPUT)
        # In place too (`F.relu(h, inplace=True)`): the output it saves is then `h`'s storage.
        return None if op is None else self.source(call.func)

    def _saved_operands(self, value: cst.BaseExpression):
        """Names that an op in `value` saves as an input: `a` in `a * w`, `a @ w`, `a ** 2`."""
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.Lambda, cst.FunctionDef)):
                continue
            if isinstance(node, cst.BinaryOperation):
                if isinstance(node.operator, _SAVING_BINARY):
                    if number(node.left) is None and number(node.right) is None:
                        for side in (node.left, node.right):
                            if isinstance(side, cst.Name):
                                yield side.value, self.source(node), None
                elif isinstance(node.operator, cst.Power) and isinstance(node.left, cst.Name):
                    if number(node.right) not in (0.0, 1.0):
                        yield node.left.value, self.source(node), None
            elif isinstance(node, cst.Call):
                method = self.context.names.method(node)
                args = [a.value for a in node.args if a.keyword is None and not a.star]
                module = None
                if method in SAVES_INPUTS.methods and args and number(args[0]) is None:
                    operands = [node.func.value, *args]
                elif method is None and self.callee(node, SAVES_INPUTS) and len(args) >= 2:
                    operands = args if all(number(a) is None for a in args) else []
                elif args and not self.qualified_names(node.func):
                    operands, module = args[:1], node.func  # `self.conv(x)`: a weight layer saves `x`
                else:
                    operands = []
                for operand in operands:
                    if isinstance(operand, cst.Name):
                        yield operand.value, _short(self.source(node)), module
            stack.extend(_children(node))

    def _write(self, target, node, statement, index, hushed, writes, explicit=False) -> None:
        if hushed:
            return
        data = False
        if isinstance(target, cst.Attribute) and target.attr.value == "data":
            target, data = target.value, True
        if isinstance(target, cst.Name):
            writes.append((index, target.value, node, statement, data, explicit))
        elif isinstance(target, cst.Call) and not data:  # `self.drop(F.relu(h))`: written as it is made
            writes.append((index, target, node, statement, data, explicit))

    def _judge(self, index, name, node, statement, data, explicit, bindings, saved, uses) -> None:
        binding = _latest(bindings, name, index, statement)
        views = set()
        # A write through an alias or a view writes the tensor it views (to a bounded depth).
        while binding is not None and self._view_of(binding) not in (None, *views) and len(views) < 8:
            views.add(name)
            name = binding.view_of
            binding = _latest(bindings, name, binding.index, binding.statement)
        if binding is None and name in self._parameters:
            binding = _Binding(-1)  # a tensor passed in: what the function saves of it counts
        if binding is None:
            return
        start, op, derived = None, None, set()
        made = self._saving_op(binding.call) if binding.call is not None else None
        if made is not None:
            start, op, derived = binding.index, made, {name}
        else:
            record = self._first_saved(name, binding, index, statement, explicit, bindings, saved)
            if record is not None:
                start, op, derived = record.index, record.op, set(record.results)
                if record.index == index:  # `z[:, c:] += conv(...)`: the op's result is written into `z`
                    derived.add(name)
        if start is None:
            return
        # Values computed from the tensor (or from the op's result) before the write.
        derived = self._derived(start, index, derived | views, bindings, uses)
        used_after = any(i > index and n in derived and s is not statement for i, n, s in uses)
        if not used_after and not _result_flows_on(node, statement):
            return
        self.report(
            node,
            statement=statement,
            write=_short(self.source(node)),
            name=name,
            op=op,
            effect="the gradient is silently wrong" if data else "backward raises",
            remedy="write to a clone" if data else "use an out-of-place op or write to a clone",
        )

    def _first_saved(self, name, binding, index, statement, explicit, bindings, saved) -> _Saved | None:
        """The first record, after `binding` and before the write at `index`, of an op saving
        the storage of `name` (the tensor itself or a view of it: `h = conv(z[:, :c])`)."""
        for record in saved:
            # Saved before the write, or by the write's own value (`z += conv(z)`).
            before = record.index < index or (record.index == index and record.statement is statement)
            if not (binding.index < record.index and before):
                continue
            if not (explicit or binding.torch_value or record.module is not None):
                continue
            if name not in self._storage_names(record.operand, record.index, record.statement, bindings):
                continue
            if record.module is None or values.SAVES_INPUT in self._autograd(record.module):
                return record
        return None

    def _judge_fresh(self, made: cst.Call, node, statement) -> None:
        """An in-place write to an op's output as it is made (`self.drop(F.relu(h))`,
        `torch.sigmoid(x).mul_(2)`): it breaks backward when the op saved its output and the
        written tensor goes on into the graph."""
        op = self._saving_op(made)
        if op is None or not _result_flows_on(node, statement):
            return
        self.report(
            node,
            statement=statement,
            write=_short(self.source(node)),
            name=_short(self.source(made)),
            op=op,
            effect="backward raises",
            remedy="use an out-of-place op or write to a clone",
        )

    def _derived(self, start, end, seed, bindings, uses) -> set[str]:
        """`seed` and the names bound between `start` and `end` from values reading one of them."""
        found = set(seed)
        assigned = sorted(
            (b.index, n, b.statement) for n, records in bindings.items() for b in records if start < b.index < end
        )
        for _position, target, statement in assigned:
            if target not in found and any(s is statement and n in found for _, n, s in uses):
                found.add(target)
        return found


def _named_differentiated(scope: cst.CSTNode | None) -> bool:
    """A function whose name says it is differentiated: `forward`, a loss, a training step."""
    return isinstance(scope, cst.FunctionDef) and bool(_DIFFERENTIATED.search(scope.name.value))


def _differentiates(call: cst.Call, names) -> bool:
    """`loss.backward()`, `torch.autograd.backward(...)`, or a loss function of torch."""
    method = names.method(call)
    if method is not None:
        return method in BACKWARD.methods
    return bool(names.qualified_names(call.func) & LOSSES) or names.callee(call, BACKWARD) is not None


def _latest(bindings, name: str, index: int, statement) -> _Binding | None:
    """The last binding of `name` before position `index`, outside `statement`."""
    before = [b for b in bindings.get(name, ()) if b.index < index and b.statement is not statement]
    return before[-1] if before else None


def _paired(target: cst.BaseExpression, value: cst.BaseExpression | None) -> bool:
    """A tuple target and a literal tuple value of the same length, without starred elements."""
    if not (isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List))):
        return False
    elements = (*target.elements, *value.elements)
    return len(target.elements) == len(value.elements) and not any(isinstance(e, cst.StarredElement) for e in elements)


def _parameters(root: cst.CSTNode) -> set[str]:
    if not isinstance(root, cst.FunctionDef):
        return set()
    params = root.params
    return {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}


def _children(node: cst.CSTNode):
    from gradlint.engine.walker import iter_children

    return iter_children(node)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _self_method(call: cst.Call) -> str | None:
    """`act` of `self.act(x)`."""
    func = call.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        return func.attr.value
    return None


def _result_flows_on(node: cst.CSTNode, statement: cst.CSTNode | None) -> bool:
    """An in-place call whose result is used where it is made (`return self.act(t)`): the
    written tensor goes on into the graph."""
    if not isinstance(node, cst.Call) or not isinstance(statement, cst.SimpleStatementLine):
        return False
    return not any(isinstance(small, cst.Expr) and small.value is node for small in statement.body)
