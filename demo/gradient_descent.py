"""A hand-written gradient descent tested with one objective: the loop calls the global `grad_J`,
so every other objective passed in gets `J`'s minimiser ([3, 3] instead of [-1, -1])."""
import numpy as np


def J(x):
    return np.sum((x - 3.0) ** 2)


def grad_J(x):
    return 2.0 * (x - 3.0)


def gradient_descent(f, grad, x0, lr=0.1, steps=200):
    x = np.asarray(x0, dtype=float)
    for _ in range(steps):
        x = x - lr * grad_J(x)
    return x, f(x)


print(gradient_descent(J, grad_J, np.zeros(2)))
# Expected [-1, -1]; returns [3, 3].
print(gradient_descent(lambda x: np.sum((x + 1.0) ** 2), lambda x: 2.0 * (x + 1.0), np.zeros(2)))
