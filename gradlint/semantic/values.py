"""The facts the semantic model knows about a value: one lattice shared by every rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Value:
    """What an expression holds, as far as the model can tell; every field may be unknown.

    `probability` is the kind of probability computed from logits (the kinds of
    `gradlint.rules.gl080_log_of_softmax`: "softmax", "sigmoid", ...); `indirect` says it was
    reached through a name, an attribute, a view or a call rather than written in place;
    `through_call` that it comes out of a call of a layer, a model or a function;
    `output` is what calling the value returns (a layer, a model, a function); `elements` are
    the values of a tuple, in order; `location` says the value is a reparameterised sample,
    its location plus noise drawn apart from it (`mu + sigma * torch.randn_like(mu)`), and
    names the location: a key that two reads of the same value share (`ModuleModel.location_key`);
    `autograd` is what calling the value does that torch's backward depends on (`SAVES_INPUT`,
    `SAVES_OUTPUT`, `WRITES_INPUT`: a weight layer, an activation whose backward reads its
    output, a module run in place); `width` is the size of the last axis of a layer's output
    when the layer fixes it (`nn.Linear(8, 1)(h)`, `Dense(units)(h)` with `units = 1`);
    `instance` is the project class (a `ClassRef` of the model) whose instance the value is,
    so that a call of one of its methods (`self.policy.probs(x)`) runs that method.
    """

    probability: str | None = None
    indirect: bool = False
    through_call: bool = False
    output: Value | None = None
    elements: tuple[Value, ...] | None = None
    location: tuple | None = None
    autograd: frozenset[str] = frozenset()
    width: int | None = None
    instance: object | None = None

    @property
    def known(self) -> bool:
        return self != UNKNOWN

    def reached(self) -> Value:
        """The same value reached indirectly (through a name, an attribute, a call)."""
        return self if self.indirect or not self.known else replace(self, indirect=True)

    def element(self, index: int | tuple[int, ...]) -> Value:
        """The element at `index`, or at a path of indices (`(a, b), c = ...`: `a` is (0, 0))."""
        if isinstance(index, tuple):
            value = self
            for step in index:
                value = value.element(step)
            return value
        if self.elements is not None and -len(self.elements) <= index < len(self.elements):
            return self.elements[index].reached()
        return UNKNOWN


UNKNOWN = Value()

# What calling a torch op or module does for autograd (`Value.autograd`).
SAVES_INPUT = "saves its input"  # backward reads the input: writing it in place afterwards raises
SAVES_OUTPUT = "saves its output"  # backward reads the output: writing that in place raises
WRITES_INPUT = "writes its input"  # runs in place (`nn.ReLU(inplace=True)`)


def join(values: Iterable[Value]) -> Value:
    """What a name holds when it may hold any of `values`: a fact survives only when every
    value has it (a name is a probability only if each assignment gives one)."""
    values = list(values)
    if not values:
        return UNKNOWN
    first = values[0]
    if all(value == first for value in values):
        return first
    kinds = {value.probability for value in values}
    probability = first.probability if None not in kinds else None
    outputs = [value.output for value in values]
    output = join(outputs) if all(o is not None for o in outputs) else None
    sizes = {len(value.elements) if value.elements is not None else -1 for value in values}
    elements = None
    if len(sizes) == 1 and -1 not in sizes:
        elements = tuple(join(parts) for parts in zip(*(value.elements for value in values)))
    locations = {value.location for value in values}
    location = first.location if len(locations) == 1 else None
    autograd = frozenset.intersection(*(value.autograd for value in values))
    widths = {value.width for value in values}
    instances = {value.instance for value in values}
    return Value(probability, any(value.indirect for value in values), any(value.through_call for value in values),
                 output if output and output.known else None, elements, location, autograd,
                 first.width if len(widths) == 1 else None, first.instance if len(instances) == 1 else None)
