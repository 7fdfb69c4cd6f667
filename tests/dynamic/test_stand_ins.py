"""Stand-ins for parameters that are not data, chosen by name (`gradlint.dynamic.stand_ins`)."""

from __future__ import annotations

import pytest

from gradlint.dynamic.backends import backend_for, installed
from gradlint.dynamic.stand_ins import stand_in
from tests.conftest import require_frameworks


@pytest.mark.skipif(not installed("jax") and not require_frameworks(), reason="JAX is not installed")
@pytest.mark.parametrize("name", ["key", "rng", "rng_key", "subkey"])
def test_a_jax_random_key_parameter_gets_a_key(name):
    import jax

    value, shown = stand_in(name, None, backend_for("jax"))
    assert jax.numpy.array_equal(value, jax.random.PRNGKey(0)) and shown == f"{name} = jax.random.PRNGKey(0)"


@pytest.mark.skipif(not installed("torch") and not require_frameworks(), reason="torch is not installed")
def test_a_key_outside_jax_is_left_to_the_witness():
    assert stand_in("key", None, backend_for("torch")) is None
