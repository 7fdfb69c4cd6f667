"""Fitting an autoencoder with L-BFGS-B (seed: "Implementing backpropagation gradient descent
using scipy.optimize.minimize"): the objective ignores `x` and always evaluates the initial
`theta`, so the optimiser stops at once and returns theta unchanged."""
import numpy as np
import scipy.optimize


def autoencoder_cost_and_grad(theta, visible_size, hidden_size, lambda_, data):
    weights = theta[: visible_size * hidden_size].reshape(hidden_size, visible_size)
    hidden = np.tanh(weights @ data)
    residual = weights.T @ hidden - data
    cost = 0.5 * np.sum(residual**2) / data.shape[1] + 0.5 * lambda_ * np.sum(weights**2)
    grad = np.zeros_like(theta)
    return cost, grad


visible_size, hidden_size, lambda_ = 8, 3, 1e-4
patches_train = np.random.default_rng(0).normal(size=(visible_size, 20))
theta = np.random.default_rng(1).normal(scale=0.1, size=visible_size * hidden_size)

J = lambda x: autoencoder_cost_and_grad(theta, visible_size, hidden_size, lambda_, patches_train)
result = scipy.optimize.minimize(J, theta, method="L-BFGS-B", jac=True, options={"maxiter": 400})
