"""GL051 late-binding-closure: aliases, severities and look-alikes that fixtures show poorly."""

import textwrap

from gradlint import lint_source


def found(source: str) -> list[tuple[int, str]]:
    return [(f.line, f.severity) for f in lint_source(textwrap.dedent(source), select=["GL051"])]


def test_switch_alias_is_error():
    source = """
    from jax import lax
    fns = []
    for k in range(3):
        fns.append(lambda v: v * k)
    out = lax.switch(1, fns, 2.0)
    """
    assert found(source) == [(5, "error")]


def test_container_never_used_after_loop_is_quiet():
    source = """
    import torch
    def f(xs):
        fns = []
        for x in xs:
            fns.append(lambda: x)
    """
    assert found(source) == []


def test_container_rebuilt_each_iteration_is_quiet():
    source = """
    import tensorflow as tf
    out = []
    for k in range(3):
        fns = [lambda: tf.constant(1.0)]
        fns.append(lambda: tf.constant(float(k)))
        out.append(tf.switch_case(tf.constant(1), fns))
    """
    assert found(source) == []


def test_default_argument_and_partial_are_quiet():
    source = """
    import functools
    import torch
    fns = []
    for k in range(3):
        fns.append(lambda k=k: k)
        fns.append(functools.partial(torch.mul, k))
    run = [f() for f in fns]
    """
    assert found(source) == []


def test_def_closure_appended_by_name():
    source = """
    import torch
    hooks = []
    for i in range(3):
        def hook(grad):
            return grad * i
        hooks.append(hook)
    print(hooks)
    """
    assert found(source) == [(5, "warning")]


def test_while_loop_counter():
    source = """
    import numpy as np
    fns = []
    i = 0
    while i < 3:
        fns.append(lambda: np.float32(i))
        i += 1
    print([f() for f in fns])
    """
    assert found(source) == [(6, "warning")]


def test_name_derived_from_loop_variable():
    source = """
    import torch
    fns = []
    for i in range(3):
        scale = 10.0 ** i
        fns.append(lambda g: g * scale)
    print(fns)
    """
    assert found(source) == [(6, "warning")]


def test_setattr_in_loop():
    source = """
    import torch
    class Ops:
        pass
    for name in ["sin", "cos"]:
        setattr(Ops, name, lambda self, x: getattr(torch, name)(x))
    """
    assert found(source) == [(6, "warning")]


def test_no_framework_import_is_skipped():
    source = """
    fns = [lambda: k for k in range(3)]
    """
    assert found(source) == []


def test_noqa():
    source = """
    import jax
    fns = [lambda: k for k in range(3)]  # noqa: GL051
    """
    assert found(source) == []
