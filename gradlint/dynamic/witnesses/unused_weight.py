"""GL001: a trainable weight that never reaches the output gets no gradient.

The class that creates the flagged weight is built (no arguments, or small sizes for arguments
that look like sizes), called on a small random input, and `sum(output * r)` is differentiated
with respect to every trainable weight. The finding is confirmed when the flagged weight's
gradient is None or zero for every input tried (several input scales, then once more with all
weights perturbed), and not reproduced as soon as it gets a real gradient. The other weights'
gradients are quoted as the contrast that shows the experiment itself worked. Construction is
seeded, so the numbers are the same on every run. A model that no guess can build or call gets
its own model and inputs from a `@gradlint.example` function in the project (see the README).

Flax, Equinox and Haiku models run in the JAX worker: the module (or the Haiku function) is
initialised on a small random input (linen `init(PRNGKey(0), x)`, `hk.transform`, NNX
`nnx.split`, `eqx.partition`), `jax.grad` is taken over the whole parameter pytree, and each
leaf is named by its path. JAX gives exact zeros, not None, for a parameter the output ignores.
"""

from __future__ import annotations

import ast

from gradlint import examples
from gradlint.dynamic import models
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, not_reproduced

# Calls whose keyword `name=` names the weight they create (Keras `add_weight`, `tf.Variable`).
NAMING_CALLS = frozenset({"add_weight", "add_variable", "Variable"})
# Calls whose first argument names the parameter they create (Flax linen, Haiku).
JAX_NAMING_CALLS = frozenset({"param", "get_parameter"})
REGISTERING_CALLS = frozenset({"register_parameter", "add_module", "register_module", "setattr"})


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _self_attribute(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def flagged_names(probe: Probe, node: ast.AST) -> tuple[set[str], set[str]]:
    """(attribute names, framework `name=` labels) the flagged weight goes by."""
    statement = next((a for a in (node, *probe.ancestors(node)) if isinstance(a, ast.stmt)), None)
    if statement is None:
        raise Inconclusive(f"cannot tell which weight `{probe.code(node)}` creates")
    attributes: set[str] = set()
    labels: set[str] = set()
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        attributes.update(name for name in map(_self_attribute, targets) if name)
    for call in ast.walk(statement):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if called in NAMING_CALLS:
            labels.update(s for k in call.keywords if k.arg == "name" and (s := _string(k.value)))
        if called in JAX_NAMING_CALLS and call.args and (label := _string(call.args[0])):
            labels.add(label)
        if called in REGISTERING_CALLS and call.args:
            position = 1 if called == "setattr" else 0
            if len(call.args) > position and (name := _string(call.args[position])):
                attributes.add(name)
    if not attributes and not labels:
        raise Inconclusive(f"cannot tell which weight `{probe.code(statement)[:80]}` creates")
    return attributes, labels


def _matches(weight: models.WeightGradient, attributes: set[str], labels: set[str]) -> bool:
    if any(weight.name == a or weight.name.startswith(a + ".") for a in attributes):
        return True
    return weight.label in labels and not attributes


def _spelling(attributes: set[str], labels: set[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(attributes or labels))


def _unbuilt_layer(model, framework: str, attributes: set[str]) -> str | None:
    """A Keras sub-layer that the forward pass never called has no weights at all."""
    if framework != "tensorflow":
        return None
    for attribute in sorted(attributes):
        layer = getattr(model, attribute, None)
        if models.framework_of(layer) == "tensorflow" and not getattr(layer, "weights", True):  # a `tf.Module` has none
            return f"`{attribute}` was never called by the forward pass: it holds no weights, so none can train"
    return None


def witness(probe: Probe):
    node = probe.target
    framework = probe.backend.name
    if framework == "jax":
        return _jax_witness(probe, node)
    if framework not in ("torch", "tensorflow"):
        raise Inconclusive(f"GL001 checks torch modules, Keras layers and `tf.Module`s; this code runs under {framework}")
    class_node = probe.enclosing_class(node)
    if class_node is None:
        raise Inconclusive("the weight is not created inside a class")
    cls = probe.live_class(class_node)
    if models.framework_of(cls) != framework:
        raise Inconclusive(f"`{cls.__name__}` is not a {'torch module' if framework == 'torch' else 'Keras layer'}")
    attributes, labels = flagged_names(probe, node)
    example = examples.find(cls)
    try:
        if example is not None:  # the user's own model and inputs
            call = f"{example.__name__}()"
            models.seed_frameworks()
            model, sample = examples.build(example, cls)
        else:
            call = cls.__name__
            model, shape, call = models.find_sample_among(probe.constructors(cls), framework)
    except models.CannotRun as error:
        raise Inconclusive(str(error)) from None
    except Exception as error:  # noqa: BLE001 - the user's example failed: say how
        raise Inconclusive(f"the @gradlint.example `{call}` failed: {type(error).__name__}: {error}") from None

    def runs():
        for perturbed in (False, True):
            if perturbed:
                models.perturb_weights(model, framework)
            tries = ([("its inputs", list(sample))] if example is not None
                     else [(f"x = {label}", inputs) for label, inputs in models.attempts(model, framework, shape)])
            for label, inputs in tries:
                try:
                    report = models.weight_gradients(model, framework, inputs)
                except models.CannotRun as error:
                    raise Inconclusive(str(error)) from None
                yield report, f"`{call}`{' (a @gradlint.example)' if example is not None else ''} on {label}", perturbed

    def missing(report, where):
        unbuilt = _unbuilt_layer(model, framework, attributes)
        if unbuilt:
            return confirmed(unbuilt, where)
        absent = [a for a in sorted(attributes) if not hasattr(model, a)]
        if absent:
            raise Inconclusive(f"the built `{call}` has no `{absent[0]}`: its creation did not run")
        found = ", ".join(f"`{w.name}`" for w in report) or "none"
        raise Inconclusive(f"{_spelling(attributes, labels)} is not among the trainable weights of `{call}` (found: {found})")

    return _judge(runs(), lambda w: _matches(w, attributes, labels), missing, "weight", "")


def _jax_matches(weight: models.WeightGradient, attributes: set[str], labels: set[str], library: str) -> bool:
    """Linen and NNX name a leaf by attribute (`shift`, `aux.kernel`) or `self.param` name;
    Equinox by field; Haiku by `module/~` and parameter name (`~.b`, `gated.gate`)."""
    if any(weight.name == a or weight.name.startswith(a + ".") for a in attributes):
        return True
    return weight.label in labels and (library == "haiku" or weight.name == weight.label or not attributes)


def _jax_subject(probe: Probe, node: ast.AST) -> tuple[object, str, str]:
    """(live class or function, library, how it is spelled) for the flagged parameter."""
    class_node = probe.enclosing_class(node)
    if class_node is not None:
        cls = probe.live_class(class_node)
        library = models.jax_library(cls)
        if library is None:
            raise Inconclusive(f"`{cls.__name__}` is not a Flax, Equinox or Haiku module")
        title = f"hk.transform(lambda x: {cls.__name__}()(x))" if library == "haiku" else cls.__name__
        return cls, library, title
    function = next((a for a in probe.ancestors(node) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    live = probe.namespace.get(function.name) if function is not None else None
    if live is None or not callable(live):
        raise Inconclusive("the parameter is not created in a module class or a top-level function")
    return live, "haiku", f"hk.transform({function.name})"


def _jax_witness(probe: Probe, node: ast.AST):
    subject, library, title = _jax_subject(probe, node)
    attributes, labels = flagged_names(probe, node)
    try:
        if library == "haiku":
            factory, call = (lambda: subject), title
        else:
            factory, call = models.jax_constructor(subject, library)

        def make(inputs):
            model = models.build(factory, call) if library != "haiku" else subject
            return models.jax_model(model, inputs, library, call)

        built, shape = models.jax_sample(make, library, call)
    except models.CannotRun as error:
        raise Inconclusive(str(error)) from None

    def runs():
        for perturbed in (False, True):
            current = models.jax_perturbed(built) if perturbed else built
            for label, x in models.jax_attempts(shape):
                yield models.jax_weight_gradients(current, (x,)), f"`{call}` on x = {label}", perturbed

    def missing(report, where):
        unbuilt = _uncalled_linen_layer(built, attributes, labels)
        if unbuilt:
            return confirmed(unbuilt, where)
        found = ", ".join(f"`{w.name}`" for w in report) or "none"
        raise Inconclusive(f"{_spelling(attributes, labels)} is not among the parameters of `{call}` (found: {found})")

    return _judge(runs(), lambda w: _jax_matches(w, attributes, labels, library), missing, "parameter",
                  "jax.grad over the parameters, ")


def _judge(runs, is_flagged, missing, noun: str, how: str):
    """The verdict over `runs` ((gradient report, where, perturbed) per input tried): not
    reproduced as soon as the flagged weight gets a real gradient; confirmed only when it gets
    none on every input, at the initial and at perturbed weights, while another one does."""
    first = None
    tried: list[str] = []
    contrasts: list[models.WeightGradient] = []  # healthy other weights: the experiment worked
    for report, where, perturbed in runs:
        flagged = [w for w in report if is_flagged(w)]
        if not flagged:
            return missing(report, where)
        where += f" after perturbing the {noun}s" if perturbed else ""
        tried.append(where)
        first = first or (flagged, where)
        contrasts.extend(w for w in report if w.healthy and w not in flagged)
        live = [w for w in flagged if w.healthy]
        if live:
            evidence = "; ".join(w.describe() for w in live)
            if perturbed:
                initially = "; ".join(w.describe() for w in first[0])
                evidence = f"{initially} at the initial {noun}s, but after perturbing them {evidence}"
            return not_reproduced(evidence, where)
        broken = [w for w in flagged if w.status == "non-finite"]
        if broken:
            raise Inconclusive("; ".join(w.describe() for w in broken)
                               + f": the {noun} reaches the output, but its gradient is not finite (another pitfall)")
    flagged, where = first
    contrast = max(contrasts, key=lambda w: w.norm, default=None)
    evidence = "; ".join(w.describe() for w in flagged)
    if contrast is not None:
        evidence += f"; {contrast.describe()}"
    evidence += f" ({how}on all {len(tried)} inputs tried, also after perturbing them)"
    return confirmed(evidence, where)


def _uncalled_linen_layer(built: models.JaxModel, attributes: set[str], labels: set[str]) -> str | None:
    """A Flax linen sub-layer assigned in `setup` and never called makes no parameters."""
    if built.library != "linen" or labels:
        return None  # a `self.param` always makes its parameter
    for attribute in sorted(attributes):
        return (f"`{attribute}` was never called by the forward pass: `init` made no parameters for it "
                f"(the parameters are {', '.join(f'`{k}`' for k in built.params)}), so none can train")
    return None
