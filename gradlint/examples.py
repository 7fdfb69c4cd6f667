"""`@gradlint.example`: the inputs a model really takes, for the dynamic mode and gradlint.testing.

When no generic guess can build a model or call it (`forward(x, mask, prior)` with a fixed
channel split), say how, next to the model or in a module its file imports:

    import gradlint

    @gradlint.example(Fusion)
    def fusion_example():
        model = Fusion(channels=6)
        return model, (torch.randn(2, 6, 8, 8), torch.ones(2, 8, 8), torch.zeros(2, 6))

The function returns the model and a tuple of the positional inputs of one call. The dynamic
mode's model-level checks (GL001, and every witness that needs a built `self`) use it instead of
guessing constructor arguments and input shapes, and say so in the evidence;
`gradlint.testing.assert_gradients_flow(model)` uses it when called without inputs. Importing
this module imports no framework.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The decorated functions, by the class they build (reset by the dynamic worker after each job).
_EXAMPLES: dict[type, Callable[[], Any]] = {}


def example(cls: type) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Mark a function that returns `(model, inputs)` for instances of `cls`."""
    if not isinstance(cls, type):
        raise TypeError(f"@gradlint.example takes the model's class, not {type(cls).__name__}")

    def register(function: Callable[[], Any]) -> Callable[[], Any]:
        _EXAMPLES[cls] = function
        return function

    return register


def find(cls: type) -> Callable[[], Any] | None:
    """The example registered for `cls` itself, if any."""
    return _EXAMPLES.get(cls)


def build(function: Callable[[], Any], cls: type) -> tuple[Any, tuple]:
    """Call the example; its model and inputs, checked to be what the hook promises."""
    result = function()
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], cls)):
        raise TypeError(f"`{function.__name__}` (a @gradlint.example for `{cls.__name__}`) must return "
                        f"(a `{cls.__name__}`, a tuple of inputs)")
    model, inputs = result
    return model, tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def clear() -> None:
    _EXAMPLES.clear()
