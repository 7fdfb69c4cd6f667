"""Build a torch module or a Keras layer, run it on a small random input, and say which of its
trainable weights get no gradient from the output.

Shared by the GL001 witness (`witnesses/unused_weight.py`) and `gradlint.testing`. Nothing here
imports a framework at module import: each is reached through the model it is given, so this
module loads in an environment without torch, TensorFlow or NumPy.

The scalar that is differentiated is `sum(output * r)` for a fixed random `r` of the output's
shape, not the plain sum: the plain sum of a normalised output (softmax, BatchNorm, LayerNorm) is
constant, which would make every weight before it look dead.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gradlint.data import section
from gradlint.dynamic.stand_ins import DEVICE

# A gradient whose largest entry is at most this counts as zero. Measured (TF 2.21, torch 2.13): the float32
# "zeros" TF/Keras/TFP produce were <= 4.8e-7, the healthy gradients in the same probes >= 1e-2.
NEAR_ZERO = 1e-6
# Input shapes tried in turn until the model accepts one (batch first). (1, 1) and (1,) come
# late: a `tf.cond`/`if` on an elementwise condition only runs with a one-element input
# (measured with TF 2.21).
# A volume (2, 16, 16, 16, 1) comes for Keras 3D convolutions, which say nothing of their input
# until built: 16 survives the three halvings of a small U-Net / V-Net.
TORCH_SHAPES = ((2, 4), (2, 8), (2, 16), (2, 1), (2, 3, 8, 8), (2, 5, 8), (2, 3, 16), (2, 5, 4), (1, 1), (1,))
KERAS_SHAPES = ((2, 4), (2, 8), (2, 16), (2, 1), (2, 8, 8, 3), (2, 5, 8), (2, 16, 3), (2, 16, 16, 16, 1), (1, 1), (1,))
# Sides of the square images tried for a torch network that starts with a 2D convolution.
IMAGE_SIDES = (8, 28, 32)
# Scales of the random input tried before a dead-looking weight is believed: a weight that acts
# only inside a small window of inputs (|x| < sigma) needs small inputs to show its gradient.
INPUT_SCALES = (1.0, 0.1, 0.01, 10.0)
# Constructor arguments that look like sizes get this value when they have no default, and
# `LARGER_SIZE` when the model cannot be built or called with it: 32 is divisible by the group
# counts of `GroupNorm(32, c)` and the usual head counts.
GUESSED_SIZE = 4
LARGER_SIZE = 32
# Constructor arguments that name a number of spatial dimensions (`spatial_dims`) get 2: an image.
DIMENSIONALITY = re.compile(section("stand_ins")["dimensionality"])
SPATIAL_DIMS = 2
SIZE_WORDS = frozenset({
    "dim", "dims", "size", "features", "channels", "units", "width", "hidden", "heads", "classes",
    "depth", "embed", "embedding", "vocab", "d", "n", "num", "in", "out", "len", "length", "filters",
    "planes", "inputs", "outputs", "neurons", "nodes", "latent",
})
BATCH = 2
# Keras attributes that list every weight again: a weight is named by where it lives instead.
AGGREGATES = frozenset({
    "trainable_variables", "trainable_weights", "non_trainable_variables", "non_trainable_weights",
    "variables", "weights", "tracker",
})
SEED = 0


class CannotRun(Exception):
    """The model could not be built or called; the message says why, for a user."""


@dataclass
class WeightGradient:
    """One trainable weight and what its gradient looked like."""

    name: str  # as the user spells it: `fc2.weight`, `threshold_level`
    label: str  # the framework's own name (Keras `name=`), for matching
    status: str  # "none", "zero", "non-finite" or "ok"
    norm: float | None = None
    bad_value: float | None = None  # the first non-finite entry
    largest: float | None = None  # the largest absolute entry

    @property
    def dead(self) -> bool:
        return self.status in ("none", "zero")

    @property
    def healthy(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        if self.status == "none":
            return f"grad of `{self.name}` is None"
        if self.status == "zero":
            return f"grad of `{self.name}` is zero"
        if self.status == "non-finite":
            return f"grad of `{self.name}` is non-finite ({self.bad_value})"
        return f"grad of `{self.name}` has norm {self.norm:.3g}"


# Which framework a model belongs to -------------------------------------------------------


def framework_of(model: Any) -> str | None:
    """"torch" for an `nn.Module`, "tensorflow" for a Keras layer or model (Keras 3 or 2) or
    a `tf.Module`, None otherwise. Looks at the class hierarchy, so it imports nothing."""
    for klass in inspect.getmro(model if isinstance(model, type) else type(model)):
        module = klass.__module__ or ""
        if module.startswith("torch.nn") and klass.__name__ == "Module":
            return "torch"
        if module.startswith(("keras", "tf_keras", "tensorflow")) and klass.__name__ in ("Layer", "Model"):
            return "tensorflow"
        if module.startswith("tensorflow") and klass.__name__ == "Module":  # `tf.Module`
            return "tensorflow"
    return None


# Building --------------------------------------------------------------------------------


def _size_like(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    return annotation is int or annotation == "int" or size_like(parameter.name)


def size_like(name: str) -> bool:
    """A name that reads as a size (`hidden_dim`, `X_dim`, `num_classes`, `d_model`)."""
    words = set(re.split(r"_+", name.lower()))
    return bool(words & SIZE_WORDS) or bool(re.fullmatch(r"(d|n|dim|in|out)\d*", name.lower()))


def _sizes_in_init(cls: type) -> set[str]:
    """Names the constructor uses as sizes: passed to a class it builds (`nn.Conv2d(feats, ...)`,
    `Block(feats)`) or to `range`, or scaled by a number (`feats * 2`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name[:1].isupper() or name == "range":
                found.update(a.id for a in (*node.args, *(k.value for k in node.keywords)) if isinstance(a, ast.Name))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.FloorDiv)):
            sides = (node.left, node.right)
            if any(isinstance(side, ast.Constant) and isinstance(side.value, int) for side in sides):
                found.update(side.id for side in sides if isinstance(side, ast.Name))
    return found


def constructor(cls: type, size: int = GUESSED_SIZE) -> tuple[Callable[[], Any], str]:
    """A factory for `cls` and how it calls it (`Net()`, `Net(dim=4)`). Required arguments that
    look like sizes, or that the constructor uses as sizes, get `size`; a number of spatial
    dimensions gets `SPATIAL_DIMS`; any other required argument makes it `CannotRun`."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return cls, f"{cls.__name__}()"
    guessed: dict[str, Any] = {}
    missing: list[str] = []
    sizes = _sizes_in_init(cls)
    for parameter in signature.parameters.values():
        if parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.kind is not inspect.Parameter.POSITIONAL_ONLY and DEVICE.match(parameter.name):
            guessed[parameter.name] = "cpu"  # the models run on the CPU
        elif parameter.kind is not inspect.Parameter.POSITIONAL_ONLY and DIMENSIONALITY.match(parameter.name):
            guessed[parameter.name] = SPATIAL_DIMS
        elif parameter.kind is inspect.Parameter.POSITIONAL_ONLY or not (_size_like(parameter) or parameter.name in sizes):
            missing.append(parameter.name)
        else:
            guessed[parameter.name] = size
    if missing:
        raise CannotRun(f"could not build `{cls.__name__}`: missing constructor arguments {', '.join(missing)}")
    call = f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in guessed.items())})"
    return (lambda: cls(**guessed)), call


def constructors(cls: type) -> list[tuple[Callable[[], Any], str]]:
    """`constructor(cls)`, then, when it guesses sizes, the same with `LARGER_SIZE`."""
    first = constructor(cls)
    larger = constructor(cls, LARGER_SIZE)
    return [first] if larger[1] == first[1] else [first, larger]


def seed_frameworks(seed: int = SEED) -> None:
    """Seed the random generators of the frameworks already imported, so that a model built
    twice has the same weights and its evidence the same numbers."""
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "utils"):
        sys.modules["keras"].utils.set_random_seed(seed)


def build(factory: Callable[[], Any], call: str) -> Any:
    """The model `factory` builds, from seeded generators."""
    try:
        seed_frameworks()
        return factory()
    except CannotRun:
        raise
    except Exception as error:  # noqa: BLE001 - the user's constructor failed: say how
        raise CannotRun(f"could not build `{call}`: {type(error).__name__}: {error}") from None


# Sample inputs -------------------------------------------------------------------------


def _torch_inferred_shapes(module: Any) -> list[tuple]:
    """Input shapes suggested by the first layer that says what it expects."""
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, nn.GroupNorm):  # channels first, any spatial size: an image
            return [(BATCH, layer.num_channels, 8, 8)]
        if isinstance(layer, nn.Linear):
            return [(BATCH, layer.in_features)]
        if isinstance(layer, nn.Bilinear):
            return []
        if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
            return [(BATCH, layer.in_channels, 16)]
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            # A network that flattens to a fixed width needs its dataset's image size: MNIST's
            # 28 x 28, CIFAR's 32 x 32.
            return [(BATCH, layer.in_channels, side, side) for side in IMAGE_SIDES]
        if isinstance(layer, (nn.Conv3d, nn.ConvTranspose3d)):
            return [(BATCH, layer.in_channels, 4, 4, 4)]
        if isinstance(layer, nn.RNNBase):
            return [(BATCH, 5, layer.input_size) if layer.batch_first else (5, BATCH, layer.input_size)]
        if isinstance(layer, nn.Embedding):
            return [("int", layer.num_embeddings, (BATCH, 5))]
    return []


def candidate_shapes(model: Any, framework: str) -> list[tuple]:
    shapes: list[tuple] = []
    if framework == "torch":
        shapes = _torch_inferred_shapes(model) + list(TORCH_SHAPES)
    else:
        shapes = list(KERAS_SHAPES)
    return list(dict.fromkeys(shapes))


def describe_shape(shape: tuple) -> str:
    if shape and shape[0] == "int":
        return f"integers in [0, {shape[1]}) of shape {shape[2]}"
    return f"normal{shape}"


class _Random:
    """Seeded random arrays in the model's framework (no global RNG is touched)."""

    def __init__(self, framework: str, seed: int = SEED) -> None:
        import numpy as np

        self.np = np
        self.framework = framework
        self.rng = np.random.default_rng(seed)

    def array(self, shape: tuple, scale: float = 1.0, dtype: str = "float32") -> Any:
        if shape and shape[0] == "int":
            value = self.rng.integers(0, shape[1], size=shape[2])
        else:
            value = (self.rng.standard_normal(shape) * scale).astype(dtype)
        return self.tensor(value)

    def like(self, tensor: Any) -> Any:
        value = self.rng.standard_normal(tuple(tensor.shape))
        if self.framework == "torch":
            import torch

            return torch.as_tensor(value, dtype=tensor.dtype, device=tensor.device)
        return self.tensor(value.astype(tensor.dtype.name if hasattr(tensor.dtype, "name") else "float32"))

    def tensor(self, value: Any) -> Any:
        if self.framework == "torch":
            import torch

            return torch.as_tensor(value)
        if self.framework == "tensorflow":
            import tensorflow as tf

            return tf.convert_to_tensor(value)
        return value


def _torch_dtype(module: Any) -> str:
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return str(parameter.dtype).replace("torch.", "")
    return "float32"


def find_sample(factory: Callable[[], Any], call: str, framework: str) -> tuple[Any, tuple]:
    """A fresh instance that has run once on a random input, and that input's shape. Each
    failed shape gets a new instance: a Keras layer builds itself for the first shape it sees."""
    model = build(factory, call)
    random = _Random(framework)
    errors: list[str] = []
    count = tensor_inputs(model)
    for shape in candidate_shapes(model, framework):
        dtype = _torch_dtype(model) if framework == "torch" else "float32"
        try:
            _forward(model, framework, [random.array(shape, dtype=dtype) for _ in range(count)])
            return model, shape
        except Exception as error:  # noqa: BLE001 - try the next shape
            errors.append(f"{describe_shape(shape)}: {type(error).__name__}: {error}")
            model = build(factory, call)
    first = errors[0] if errors else "no shape to try"
    raise CannotRun(f"could not call `{call}` on a small random input (tried {len(errors)} shapes; {first})")


def find_sample_among(candidates: list[tuple[Callable[[], Any], str]], framework: str) -> tuple[Any, tuple, str]:
    """`find_sample` for the first of the (factory, call) candidates that builds and runs; the
    error of the first one when none does."""
    first: CannotRun | None = None
    for factory, call in candidates:
        try:
            model, shape = find_sample(factory, call, framework)
            return model, shape, call
        except CannotRun as error:
            first = first or error
    raise first or CannotRun("no way to build the model")


def build_among(candidates: list[tuple[Callable[[], Any], str]]) -> tuple[Any, str]:
    """The model the first of the candidates that builds makes, and its call."""
    first: CannotRun | None = None
    for factory, call in candidates:
        try:
            return build(factory, call), call
        except CannotRun as error:
            first = first or error
    raise first or CannotRun("no way to build the model")


def _forward(model: Any, framework: str, inputs: list) -> Any:
    return model(*inputs)


def tensor_inputs(model: Any) -> int:
    """How many inputs the model's `forward` / `call` requires (`forward(x, skip)`: 2); each
    gets its own random array of the sample shape."""
    method = getattr(model, "forward", None) or getattr(model, "call", None)
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return 1
    required = [p for p in parameters if p.default is inspect.Parameter.empty
                and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return max(1, len(required))


# Gradients -------------------------------------------------------------------------------


def _float_leaves(output: Any, framework: str) -> list:
    """The floating tensors in a model's output (a tensor, a tuple, a dict, a dataclass)."""
    found: list = []
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "__dataclass_fields__"):
            stack.extend(getattr(item, name) for name in item.__dataclass_fields__)
        elif framework == "torch":
            import torch

            if isinstance(item, torch.Tensor) and item.is_floating_point():
                found.append(item)
        elif framework == "tensorflow" and hasattr(item, "dtype") and hasattr(item, "shape"):
            dtype = getattr(item.dtype, "is_floating", None)
            if dtype is True or (dtype is None and "float" in str(item.dtype)):
                found.append(item)
    return found


def gradient_status(values: Any, framework: str) -> tuple[str, float | None, float | None, float | None]:
    """(status, norm, first non-finite value, largest absolute entry) of one gradient."""
    if values is None:
        return "none", None, None, None
    if framework == "torch":
        detached = values.detach().double()
        finite = bool(detached.isfinite().all())
        if not finite:
            return "non-finite", None, float(detached[~detached.isfinite()].flatten()[0]), None
        largest = float(detached.abs().max()) if detached.numel() else 0.0
        norm = float(detached.norm())
    else:
        import numpy as np

        array = np.asarray(values.numpy() if hasattr(values, "numpy") else values, dtype=float)
        if not np.all(np.isfinite(array)):
            return "non-finite", None, float(array[~np.isfinite(array)].ravel()[0]), None
        largest = float(np.max(np.abs(array))) if array.size else 0.0
        norm = float(np.linalg.norm(array))
    return ("zero" if largest <= NEAR_ZERO else "ok"), norm, None, largest


def _public_attributes(obj: Any) -> list[tuple[str, Any]]:
    """Public attributes, plus the property `x` where `_x` is stored (Keras 3 keeps a Dense
    layer's kernel in `_kernel` behind the `kernel` property, a Sequential's layers in `_layers`)."""
    if not hasattr(obj, "__dict__"):
        return []
    found = [(k, v) for k, v in vars(obj).items() if not k.startswith("_") and k not in AGGREGATES]
    klass = type(obj)
    for key in vars(obj):
        public = key[1:]
        if public in AGGREGATES:
            continue
        if key.startswith("_") and not key.startswith("__") and isinstance(getattr(klass, public, None), property):
            try:
                found.append((public, getattr(obj, public)))
            except Exception:  # noqa: BLE001, S112 - a property that cannot be read names nothing
                continue
    return found


def _walk_attributes(root: Any, is_weight: Callable[[Any], bool], is_container: Callable[[Any], bool]) -> dict[int, str]:
    """id(weight) -> attribute path (`dense.kernel`), found through public attributes,
    lists and dicts, sub-layers first by the order they were assigned."""
    names: dict[int, str] = {}
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("", root, 0)]
    while stack:
        prefix, obj, depth = stack.pop(0)
        if id(obj) in seen or depth > 6:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            items = [(str(k), v) for k, v in obj.items()]
        elif isinstance(obj, (list, tuple)):
            items = [(str(i), v) for i, v in enumerate(obj)]
        else:
            items = _public_attributes(obj)
        for key, value in items:
            path = f"{prefix}.{key}" if prefix else key
            if is_weight(value):
                names.setdefault(id(value), path)
            elif is_container(value) or isinstance(value, (list, tuple, dict)):
                stack.append((path, value, depth + 1))
    return names


def _keras_weight_names(layer: Any) -> dict[int, str]:
    def is_weight(value: Any) -> bool:
        return hasattr(value, "assign") and hasattr(value, "trainable") and hasattr(value, "shape")

    def is_layer(value: Any) -> bool:
        return framework_of(value) == "tensorflow" and not isinstance(value, type)

    return _walk_attributes(layer, is_weight, is_layer)


def _keras_label(variable: Any) -> str:
    return str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":")[0]


def trainable_weights(model: Any, framework: str) -> list[tuple[str, str, Any]]:
    """(name as the user spells it, framework label, weight) for each trainable weight."""
    if framework == "torch":
        return [(name, name.rsplit(".", 1)[-1], p) for name, p in model.named_parameters() if p.requires_grad]
    names = _keras_weight_names(model)
    found = []
    # A Keras layer lists `trainable_weights`; a `tf.Module`, `trainable_variables`.
    for variable in getattr(model, "trainable_weights", None) or model.trainable_variables:
        label = _keras_label(variable)
        name = names.get(id(variable)) or str(getattr(variable, "path", None) or label)
        found.append((name, label, variable))
    return found


def weight_gradients(model: Any, framework: str, inputs: list, seed: int = SEED) -> list[WeightGradient]:
    """Run `model(*inputs)` and differentiate `sum(output * r)` with respect to every trainable
    weight. Raises CannotRun when the output holds no floating tensor."""
    random = _Random(framework, seed)
    if framework == "torch":
        import torch

        with torch.enable_grad():
            output = model(*inputs)
            weights = trainable_weights(model, framework)  # after the call: lazy modules make theirs then
            leaves = _float_leaves(output, framework)
            if not leaves:
                raise CannotRun(f"the output of `{type(model).__name__}` holds no floating tensor")
            total = sum((leaf * random.like(leaf)).sum() for leaf in leaves)
            params = [w for _, _, w in weights]
            if total.requires_grad and params:
                grads = torch.autograd.grad(total, params, allow_unused=True)
            else:
                grads = [None] * len(params)
    else:
        import tensorflow as tf

        if not getattr(model, "built", True):
            model(*inputs)  # a Keras layer creates its weights on its first call
        weights = trainable_weights(model, framework)
        with tf.GradientTape() as tape:
            output = model(*inputs)
            leaves = _float_leaves(output, framework)
            if not leaves:
                raise CannotRun(f"the output of `{type(model).__name__}` holds no floating tensor")
            total = tf.add_n([tf.reduce_sum(tf.cast(leaf, tf.float32) * tf.cast(random.like(leaf), tf.float32)) for leaf in leaves])
        grads = tape.gradient(total, [w for _, _, w in weights]) if weights else []
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
    result = []
    for (name, label, _), grad in zip(weights, grads):
        result.append(WeightGradient(name, label, *gradient_status(grad, framework)))
    return result


def perturb_weights(model: Any, framework: str, seed: int = SEED) -> None:
    """Add noise to every trainable weight, in place: a weight behind a zero-initialised one
    (a LoRA `B`, a ReZero gate) has a zero gradient at initialisation only."""
    random = _Random(framework, seed + 1)
    if framework == "torch":
        import torch

        with torch.no_grad():
            for _, _, weight in trainable_weights(model, framework):
                weight.add_(0.5 * random.like(weight))
    else:
        for _, _, weight in trainable_weights(model, framework):
            weight.assign(weight + 0.5 * random.like(weight))


def attempts(model: Any, framework: str, shape: tuple, scales: Iterable[float] = INPUT_SCALES) -> Iterator[tuple[str, list]]:
    """(description of the input, inputs) for each input scale."""
    random = _Random(framework)
    dtype = _torch_dtype(model) if framework == "torch" else "float32"
    count = tensor_inputs(model)
    for scale in scales:
        label = describe_shape(shape) if scale == 1.0 or shape[0] == "int" else f"{scale:g} * {describe_shape(shape)}"
        if count > 1:
            label += f" for each of the {count} inputs"
        yield label, [random.array(shape, scale, dtype) for _ in range(count)]



# JAX libraries: Flax linen and NNX, Equinox, Haiku ----------------------------------------
#
# Each model becomes a parameter pytree and `apply(params, x)`, and `jax.grad` of the weighted
# sum of the output is taken with respect to the whole pytree. JAX never says None: a leaf the
# output does not depend on gets an exact zero (measured with JAX 0.10.2, Flax 0.12.8, Equinox
# 0.13.8, dm-haiku 0.0.17).

# Shapes for JAX models: batched first (linen, NNX, Haiku), one example first for Equinox,
# whose layers (`eqx.nn.Linear`) take a single example and are `vmap`ped by the user.
JAX_BATCHED_SHAPES = ((2, 4), (2, 8), (2, 16), (2, 1), (2, 8, 8, 3), (2, 5, 8), (2, 16, 3), (1, 1), (1,))
JAX_SINGLE_SHAPES = ((4,), (8,), (16,), (1,), (3, 8, 8), (5, 8))
# Constructor arguments filled in for JAX modules: NNX's `rngs`, Equinox's `key`.
RNG_ARGUMENTS = frozenset({"rngs", "rng", "key", "keys", "prng_key", "rng_key"})


def jax_library(model: Any) -> str | None:
    """"linen", "nnx", "equinox" or "haiku" for a module (instance or class) of that library,
    None otherwise. Looks at the class hierarchy, so it imports nothing."""
    for klass in inspect.getmro(model if isinstance(model, type) else type(model)):
        module = klass.__module__ or ""
        if klass.__name__ != "Module":
            continue
        if module.startswith("flax.linen"):
            return "linen"
        if module.startswith("flax.nnx"):
            return "nnx"
        if module.startswith("equinox"):
            return "equinox"
        if module.startswith("haiku"):
            return "haiku"
    return None


def path_name(path: tuple) -> str:
    """`lin.kernel` for a pytree path; NNX's trailing `.value` is dropped."""
    parts = []
    for key in path:
        for attribute in ("key", "idx", "name"):
            if hasattr(key, attribute):
                parts.append(str(getattr(key, attribute)))
                break
        else:
            parts.append(str(key))
    if len(parts) > 1 and type(path[-1]).__name__ == "GetAttrKey" and parts[-1] == "value":
        parts.pop()  # an NNX variable's array
    return ".".join(parts) or "params"


def jax_constructor(cls: type, library: str) -> tuple[Callable[[], Any], str]:
    """Like `constructor`, also filling NNX's `rngs=nnx.Rngs(0)` and Equinox's `key=PRNGKey(0)`."""
    try:
        signature = inspect.signature(cls.__init__ if library == "nnx" else cls)
    except (TypeError, ValueError):
        return cls, f"{cls.__name__}()"
    guessed: dict[str, Any] = {}
    spelled: list[str] = []
    missing: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.name == "self" or parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.name in RNG_ARGUMENTS and library in ("nnx", "equinox"):
            guessed[parameter.name] = None  # made when called: the framework is imported then
            spelled.append(f"{parameter.name}=" + ("nnx.Rngs(0)" if library == "nnx" else "jax.random.PRNGKey(0)"))
        elif parameter.kind is inspect.Parameter.POSITIONAL_ONLY or not _size_like(parameter):
            missing.append(parameter.name)
        else:
            guessed[parameter.name] = GUESSED_SIZE
            spelled.append(f"{parameter.name}={GUESSED_SIZE}")
    if missing:
        raise CannotRun(f"could not build `{cls.__name__}`: missing constructor arguments {', '.join(missing)}")

    def factory() -> Any:
        arguments = dict(guessed)
        for name, value in guessed.items():
            if value is None:
                arguments[name] = _rng(library)
        return cls(**arguments)

    return factory, f"{cls.__name__}({', '.join(spelled)})"


def _rng(library: str) -> Any:
    if library == "nnx":
        from flax import nnx

        return nnx.Rngs(SEED)
    import jax

    return jax.random.PRNGKey(SEED)


@dataclass
class JaxModel:
    """A JAX model as a parameter pytree and a pure function of it."""

    params: Any
    apply: Callable[..., Any]  # apply(params, *inputs)
    title: str
    library: str
    holder: Any = None  # what the parameters were read from (a linen module, a Haiku transform)


def jax_model(model: Any, inputs: tuple, library: str, title: str, params: Any = None) -> JaxModel:
    """Initialise (linen: `init(PRNGKey(0), x)`; Haiku: `hk.transform`) or split (NNX:
    `nnx.split(model, nnx.Param, ...)`; Equinox: `eqx.partition(model, eqx.is_inexact_array)`)."""
    import jax

    if library == "linen":
        variables = params if params is not None else model.init(jax.random.PRNGKey(SEED), *inputs)
        if "params" not in variables:
            variables = {"params": variables}
        rest = {k: v for k, v in variables.items() if k != "params"}
        return JaxModel(variables["params"], lambda p, *values: model.apply({**rest, "params": p}, *values), title, library, model)
    if library == "nnx":
        from flax import nnx

        graphdef, state, rest = nnx.split(model, nnx.Param, ...)
        return JaxModel(state, lambda p, *values: nnx.merge(graphdef, p, rest)(*values), title, library, model)
    if library == "equinox":
        import equinox as eqx

        arrays, static = eqx.partition(model, eqx.is_inexact_array)
        return JaxModel(arrays, lambda p, *values: eqx.combine(p, static)(*values), title, library, model)
    if library == "haiku":
        import haiku as hk

        function = (lambda *values: model()(*values)) if isinstance(model, type) else model
        transformed = hk.transform_with_state(function)
        p, state = transformed.init(jax.random.PRNGKey(SEED), *inputs) if params is None else (params, {})
        return JaxModel(p, lambda q, *values: transformed.apply(q, state, None, *values)[0], title, library, transformed)
    raise CannotRun(f"`{title}` is not a Flax, Equinox or Haiku module")


def jax_sample(make: Callable[[Any], JaxModel], library: str, title: str) -> tuple[JaxModel, tuple]:
    """The first small random input the model accepts, and the model made with it."""
    shapes = JAX_SINGLE_SHAPES + JAX_BATCHED_SHAPES if library == "equinox" else JAX_BATCHED_SHAPES
    random = _Random("jax")
    errors: list[str] = []
    for shape in shapes:
        x = random.array(shape)
        try:
            built = make((x,))
            _float_leaves_jax(built.apply(built.params, x))
            return built, shape
        except CannotRun:
            raise
        except Exception as error:  # noqa: BLE001 - try the next shape
            errors.append(f"{describe_shape(shape)}: {type(error).__name__}: {error}")
    first = errors[0] if errors else "no shape to try"
    raise CannotRun(f"could not call `{title}` on a small random input (tried {len(errors)} shapes; {first})")


def _float_leaves_jax(output: Any) -> list:
    import jax
    import jax.numpy as jnp

    leaves = [leaf for leaf in jax.tree_util.tree_leaves(output) if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact)]
    if not leaves:
        raise CannotRun("the output holds no floating array")
    return leaves


def jax_weight_gradients(built: JaxModel, inputs: tuple, seed: int = SEED) -> list[WeightGradient]:
    """`jax.grad` of `sum(output * r)` with respect to every floating leaf of the parameters,
    each named by its path (`dense.kernel`, `~.b`)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = [jnp.asarray(rng.standard_normal(jnp.shape(leaf)), dtype=jnp.asarray(leaf).dtype)
               for leaf in _float_leaves_jax(built.apply(built.params, *inputs))]

    def total(params: Any) -> Any:
        leaves = _float_leaves_jax(built.apply(params, *inputs))
        return sum(jnp.sum(leaf * w) for leaf, w in zip(leaves, weights))

    flat, _ = jax.tree_util.tree_flatten_with_path(built.params)
    grads, _ = jax.tree_util.tree_flatten_with_path(jax.grad(total)(built.params))
    result = []
    for (path, leaf), (_, grad) in zip(flat, grads):
        if not jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact):
            continue
        name = path_name(path)
        result.append(WeightGradient(name, name.rsplit(".", 1)[-1], *gradient_status(np.asarray(grad), "jax")))
    return result


def jax_perturbed(built: JaxModel, seed: int = SEED) -> JaxModel:
    """The same model with noise added to every floating parameter (a copy: JAX is pure)."""
    import jax
    import jax.numpy as jnp

    random = _Random("jax", seed + 1)

    def shift(leaf: Any) -> Any:
        if not jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact):
            return leaf
        return leaf + 0.5 * jnp.asarray(random.rng.standard_normal(jnp.shape(leaf)), dtype=jnp.asarray(leaf).dtype)

    return JaxModel(jax.tree_util.tree_map(shift, built.params), built.apply, built.title, built.library, built.holder)


def jax_attempts(shape: tuple, scales: Iterable[float] = INPUT_SCALES) -> Iterator[tuple[str, Any]]:
    random = _Random("jax")
    for scale in scales:
        label = describe_shape(shape) if scale == 1.0 else f"{scale:g} * {describe_shape(shape)}"
        yield label, random.array(shape, scale)
