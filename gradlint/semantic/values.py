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
    names the location: a key that two reads of the same value share (`ModuleModel.location_key`).
    """

    probability: str | None = None
    indirect: bool = False
    through_call: bool = False
    output: Value | None = None
    elements: tuple[Value, ...] | None = None
    location: tuple | None = None

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
    return Value(probability, any(value.indirect for value in values), any(value.through_call for value in values),
                 output if output and output.known else None, elements, location)
