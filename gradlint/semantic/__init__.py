"""The semantic model: what a value is, asked once, answered the same way for every rule.

A rule sees one node at a time; whether that node is a probability, a layer or a model's
output is often decided elsewhere: in `__init__`, in a helper function, in another module of
the project. The pieces:

- `index.ProjectIndex` (the project index): finds the modules of the project on disk (the file's
  folder, its package root and the folders above it up to the repository root), resolves
  imports, relative ones included, and parses a module only when a question needs it; a few
  recent modules are kept per process.
- `values.Value` (the facts): one small lattice for every rule. A value may be a probability
  computed from logits (and which kind), may be reached indirectly, may be callable with a
  known result (a layer, a model, a function), or may be a tuple of values.
- `gradlint/data/semantics.toml` (what APIs do, as data): which calls keep the facts of their
  receiver (`.view`, `.reshape`, indexing), which layers and activations produce a probability,
  which containers compose their members (`nn.Sequential`). The producers themselves are the
  API tables the rules already use (`softmax_softmax`, `softmax_sigmoid`, ...).
- `model.ModuleModel` (summaries): one per module; the value of an expression in a scope,
  following local assignments, `self.<attr>` assignments in any method of the class, calls of
  stored layers, of functions and methods of the module, of classes (their `forward` / `call` /
  `__call__`), of `nn.Sequential` and of imported project functions and classes. Each function's
  result is computed once and memoised; depth is bounded and cycles are cut.
- `summaries.Summaries` (per-function summaries): what a module's own function does with its
  parameters (which one it treats as logits), computed once per function.
- `uses.Uses` (where a value goes): whether a value may reach a place where a gradient is taken
  (`.backward()`, `tape.gradient`, an unknown call), or only ends cut (`.detach()`, NumPy),
  looked at (a comparison, `print`) or evaluated (`sess.run`).

A finding is made by a rule asking `context.semantic.value(node, context.scopes)` at the node it
looks at, then deciding from the facts (GL080: "a log whose argument is a probability"; GL082:
"a probability given to a loss that expects logits").
"""

from gradlint.semantic.model import ModuleModel
from gradlint.semantic.values import UNKNOWN, Value

__all__ = ["UNKNOWN", "ModuleModel", "Value"]
