"""Values for the parameters of checked code that are not the data a witness varies: sizes (and
axes with a default) stay Python integers, a training step is a step number, a device is the
worker's device, a loss function is a mean squared error and a JAX random key is `PRNGKey(0)`.
Chosen by the parameter's name (as training code spells them) and named in the evidence.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from gradlint.data import section

_NAMES = section("stand_ins")
SIZE = re.compile(_NAMES["sizes"])
AXIS = re.compile(_NAMES["axes"])
STEP = re.compile(_NAMES["steps"])
DEVICE = re.compile(_NAMES["devices"])
CRITERION = re.compile(_NAMES["losses"])
RANDOM_KEY = re.compile(_NAMES["random_keys"])
# A size without a default: small, so that it fits the short inputs the witnesses feed.
GUESSED_SIZE = 2


def stand_in(name: str, default: ast.expr | None, backend: Any) -> tuple[Any, str] | None:
    """(value, how it is shown in the evidence) for a parameter that is not data; None otherwise."""
    given = _literal_int(default)
    if (SIZE.match(name) or AXIS.match(name)) and given is not None:
        return given, f"{name} = {given} (its default)"
    if SIZE.match(name):  # without a default: `dim` may be an axis or a width, so only clear sizes
        return GUESSED_SIZE, f"{name} = {GUESSED_SIZE} (an integer stand-in)"
    if STEP.match(name):
        value = 0 if given is None else given
        return value, f"{name} = {value}"
    if DEVICE.match(name):
        return backend.device, f"{name} = {backend.device!r}"
    if CRITERION.match(name):
        return mean_squared_error(backend), f"{name} = a mean squared error"
    if RANDOM_KEY.match(name) and backend.name == "jax":
        import jax

        return jax.random.PRNGKey(0), f"{name} = jax.random.PRNGKey(0)"
    return None


def _literal_int(node: ast.expr | None) -> int | None:
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def mean_squared_error(backend: Any) -> Any:
    if backend.name == "torch":
        return backend.torch.nn.functional.mse_loss
    if backend.name == "tensorflow":
        tf = backend.tf
        return lambda prediction, target: tf.reduce_mean(tf.square(prediction - target))
    if backend.name == "jax":
        import jax.numpy as jnp

        return lambda prediction, target: jnp.mean((prediction - target) ** 2)
    return lambda prediction, target: ((prediction - target) ** 2).mean()
