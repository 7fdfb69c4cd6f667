"""Checking a backprop gradient by finite differences (seed: "Strange gradient results with
recurrent layers"): a one-sided difference with eps = 1e-3 errs by about 1e-3, so the check
cannot tell a correct gradient from a wrong one."""
import numpy as np


def cost(w, x, y):
    return 0.5 * np.mean((np.tanh(x @ w) - y) ** 2)


def backprop(w, x, y):
    t = np.tanh(x @ w)
    return x.T @ ((t - y) * (1 - t**2)) / len(y)


def numerical_gradient(w, x, y, eps=1e-3):
    base = cost(w, x, y)
    grad = np.zeros_like(w)
    for i in range(w.size):
        w_plus = w.copy()
        w_plus[i] += eps
        grad[i] = (cost(w_plus, x, y) - base) / eps
    return grad


rng = np.random.default_rng(0)
x, y, w = rng.normal(size=(64, 4)), rng.normal(size=64), rng.normal(size=4)
numeric = numerical_gradient(w, x, y)
print(np.abs(numeric - backprop(w, x, y)).max())
