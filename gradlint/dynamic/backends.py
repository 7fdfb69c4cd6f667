"""One small adapter per framework: make arrays, differentiate, say which version ran where.

Used by the witnesses in the worker processes and by `gradlint.testing`. Each adapter imports
its framework when it is created, never at module import.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from typing import Any

import numpy as np

# Framework keys, the module whose presence means "installed", and the name users know.
FRAMEWORKS = {
    "torch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "TensorFlow"),
    "jax": ("jax", "JAX"),
    "pytensor": ("pytensor", "PyTensor"),
    "numpy": ("numpy", "NumPy"),
}
INSTALL_HINT = {
    "torch": "pip install torch numpy scipy",
    "tensorflow": "pip install tensorflow numpy scipy",
    "jax": "pip install jax numpy scipy",
    "pytensor": "pip install pytensor numpy scipy",
    "numpy": "pip install numpy scipy",
}


def installed(framework: str) -> bool:
    return importlib.util.find_spec(FRAMEWORKS[framework][0]) is not None


class NoGradient(Exception):
    """The output does not depend on the inputs through anything differentiable."""


# torch's complaints about a float64 input meeting the float32 weights of a module.
TORCH_DTYPE_CLASH = re.compile(r"must have the same dtype|expected (scalar type|m1 and m2 to have the same dtype)|"
                               r"Double and Float|Float and Double|found dtype Double but expected Float")

# TensorFlow's complaints about a float32 tensor meeting a float64 one.
DTYPE_CLASH = re.compile(r"expected to be a (double|float) tensor but is a (float|double)|"
                          r"float32.*float64|float64.*float32|must have the same dtype|same type as")


class Backend:
    """Arrays and gradients in one framework. Values cross this boundary as NumPy arrays."""

    name: str
    version: str
    device: str
    narrowed = False  # a check had to run in float32, the code's own dtype (reset per job by the worker)

    # How the framework says float64 inputs met the code's own float32 (its constants, a
    # module's weights), and the errors it says it with; None where the backend does not retry.
    dtype_clash: re.Pattern | None = None

    def _clash_errors(self) -> tuple[type[BaseException], ...]:
        return ()

    def gradients(self, fn: Callable[..., Any], inputs: dict[str, Any], dtype: str = "float64") -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
        """The value of `fn(**inputs)` and the gradient of its sum with respect to each input;
        None for an input the output does not depend on differentiably (TF's None, torch's
        unused input). Code whose own float32 meets float64 inputs runs in float32 instead, and
        the worker says so."""
        try:
            return self._gradients(fn, inputs, dtype)
        except self._clash_errors() as error:
            if dtype != "float64" or self.dtype_clash is None or not self.dtype_clash.search(str(error)):
                raise
            self.narrowed = True
            return self._gradients(fn, inputs, "float32")

    def _gradients(self, fn: Callable[..., Any], inputs: dict[str, Any], dtype: str) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
        raise NotImplementedError

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def describe(self) -> str:
        return f"{self.name} {self.version}"


def _output_sum_error(value: Any) -> TypeError:
    return TypeError(f"the expression returned {type(value).__name__}, not a tensor")


class TorchBackend(Backend):
    name = "torch"
    dtype_clash = TORCH_DTYPE_CLASH

    def __init__(self, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.version = torch.__version__.split("+")[0]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        self.device = device

    def tensor(self, value: Any, dtype: str = "float64", requires_grad: bool = False):
        torch = self.torch
        return torch.tensor(np.asarray(value), dtype=getattr(torch, dtype), device=self.device, requires_grad=requires_grad)

    def to_numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, self.torch.Tensor):
            return value.detach().cpu().numpy()
        return np.asarray(value)

    def _clash_errors(self):
        return (RuntimeError,)  # a module's float32 weights meet float64 inputs (`nn.Linear` in the code)

    def _gradients(self, fn, inputs, dtype):
        torch = self.torch
        names = list(inputs)
        tensors = {name: self.tensor(inputs[name], dtype, requires_grad=True) for name in names}
        output = fn(**tensors)
        if not isinstance(output, torch.Tensor):
            raise _output_sum_error(output)
        if not output.requires_grad:
            return self.to_numpy(output), {name: None for name in names}
        grads = torch.autograd.grad(output.sum(), [tensors[n] for n in names], allow_unused=True)
        return self.to_numpy(output), {n: (None if g is None else self.to_numpy(g)) for n, g in zip(names, grads)}



class TensorFlowBackend(Backend):
    name = "tensorflow"
    dtype_clash = DTYPE_CLASH

    def __init__(self, device: str = "cpu") -> None:
        import tensorflow as tf

        self.tf = tf
        self.version = tf.__version__
        gpus = tf.config.list_physical_devices("GPU")
        if device == "cuda" and not gpus:
            raise RuntimeError("TensorFlow sees no GPU")
        self.device = "cuda" if (device in ("cuda", "auto") and gpus) else "cpu"

    def to_numpy(self, value: Any) -> np.ndarray:
        if hasattr(value, "numpy"):
            return np.asarray(value.numpy())
        return np.asarray(value)

    def _clash_errors(self):
        # Code that makes its own float32 constants (`tf.constant(1e-4)`) cannot take float64 inputs.
        return (self.tf.errors.InvalidArgumentError, TypeError, ValueError)

    def _gradients(self, fn, inputs, dtype):
        tf = self.tf
        names = list(inputs)
        with tf.device("/GPU:0" if self.device == "cuda" else "/CPU:0"):
            tensors = {name: tf.constant(np.asarray(inputs[name]), dtype=getattr(tf, dtype)) for name in names}
            with tf.GradientTape() as tape:
                for tensor in tensors.values():
                    tape.watch(tensor)
                output = fn(**tensors)
                if not tf.is_tensor(output) and not hasattr(output, "dtype"):
                    raise _output_sum_error(output)
                total = tf.reduce_sum(output)
            grads = tape.gradient(total, [tensors[n] for n in names])
        return self.to_numpy(output), {n: (None if g is None else self.to_numpy(tf.convert_to_tensor(g))) for n, g in zip(names, grads)}


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, device: str = "cpu") -> None:
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 checks, as with the other frameworks
        self.jax = jax
        self.version = jax.__version__
        platforms = {d.platform for d in jax.devices()}
        if device == "cuda" and "gpu" not in platforms:
            raise RuntimeError("JAX sees no GPU")
        self.device = "cuda" if "gpu" in platforms and device != "cpu" else "cpu"

    def gradients(self, fn, inputs, dtype="float64"):
        jax = self.jax
        import jax.numpy as jnp

        names = list(inputs)
        arrays = [jnp.asarray(np.asarray(inputs[n]), dtype=dtype) for n in names]

        def total(*args):
            output = fn(**dict(zip(names, args)))
            return jnp.sum(output), output

        grads, output = jax.grad(total, argnums=tuple(range(len(names))), has_aux=True)(*arrays)
        # JAX has no "no gradient": an input the output ignores gets zeros.
        return np.asarray(output), {n: np.asarray(g) for n, g in zip(names, grads)}


class PyTensorBackend(Backend):
    """Symbolic: float64 inputs of the values' shapes, `pytensor.grad` of the summed output, one
    compiled function (default mode, so PyTensor's own rewrites run, as they do for the user)."""

    name = "pytensor"

    def __init__(self, device: str = "cpu") -> None:
        import pytensor
        import pytensor.tensor as pt

        self.pytensor = pytensor
        self.pt = pt
        self.version = pytensor.__version__
        self.device = "cpu"
        # The default graph rewrites (what makes `switch` safe and `log(sigmoid)` stable) with the
        # Python linker: the C linker compiles with g++ into a shared cache, which the worker's
        # sandbox refuses, and gives the same numbers.
        self.mode = pytensor.compile.mode.Mode(linker="py", optimizer="fast_run")
        pytensor.config.cxx = ""  # no C anywhere (constant folding in the rewrites compiles too)
        if importlib.util.find_spec("pymc") is not None:
            import pymc  # noqa: F401 - imported here, before the sandbox: it creates cache folders


    def gradients(self, fn, inputs, dtype="float64"):
        pytensor, pt = self.pytensor, self.pt
        names = list(inputs)
        values = {n: np.asarray(inputs[n], dtype=dtype) for n in names}
        symbols = {n: pt.tensor(name=n, dtype=dtype, shape=values[n].shape) for n in names}
        output = fn(**symbols)
        if not isinstance(output, pytensor.graph.basic.Variable):
            raise _output_sum_error(output)
        grads = pytensor.grad(pt.sum(output), [symbols[n] for n in names], disconnected_inputs="ignore",
                              return_disconnected="none")
        connected = [n for n, g in zip(names, grads) if g is not None]
        function = pytensor.function([symbols[n] for n in names], [output, *(g for g in grads if g is not None)],
                                     on_unused_input="ignore", mode=self.mode)
        with np.errstate(all="ignore"):
            value, *computed = function(*(values[n] for n in names))
        found = dict(zip(connected, computed))
        return np.asarray(value), {n: (np.asarray(found[n]) if n in found else None) for n in names}


class NumpyBackend(Backend):
    """No autodiff: gradients by central differences in float64 (step cbrt(eps) ~ 6e-6)."""

    name = "numpy"
    STEP = 6.1e-6

    def __init__(self, device: str = "cpu") -> None:
        self.version = np.__version__
        self.device = "cpu"

    def gradients(self, fn, inputs, dtype="float64"):
        values = {n: np.array(v, dtype=dtype) for n, v in inputs.items()}
        output = np.asarray(fn(**values), dtype=float)
        grads: dict[str, np.ndarray | None] = {}
        for name, value in values.items():
            grad = np.zeros_like(value, dtype=float)
            for index in np.ndindex(value.shape):
                up, down = value.copy(), value.copy()
                up[index] += self.STEP
                down[index] -= self.STEP
                grad[index] = (np.sum(fn(**{**values, name: up})) - np.sum(fn(**{**values, name: down}))) / (2 * self.STEP)
            grads[name] = grad
        return output, grads


BACKENDS = {"torch": TorchBackend, "tensorflow": TensorFlowBackend, "jax": JaxBackend, "pytensor": PyTensorBackend,
            "numpy": NumpyBackend}


def backend_for(framework: str, device: str = "cpu") -> Backend:
    return BACKENDS[framework](device)


def describe_array(values: Any, limit: int = 8) -> str:
    """`[nan, -1, -0.25]`: a short, readable rendering of a small array."""
    array = np.asarray(values, dtype=float).ravel()
    shown = ", ".join(f"{v:.4g}" for v in array[:limit])
    return f"[{shown}{', ...' if array.size > limit else ''}]"
