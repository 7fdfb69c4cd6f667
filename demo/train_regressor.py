"""A small regressor with a learned gate, trained by hand. Two torch training pitfalls:
the gate's sigmoid output is overwritten in place (backward raises "one of the variables
needed for gradient computation has been modified by an inplace operation"), and the
optimiser is zeroed once before the loop, so every step adds up all earlier gradients."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class GatedRegressor(nn.Module):
    def __init__(self, features, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(inplace=True))
        self.gate = nn.Linear(features, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, dropped):
        gate = torch.sigmoid(self.gate(x))
        gate[:, dropped] = 0.0
        return self.head(self.body(x) * gate)


def train(model, loader, epochs=5, lr=1e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    optimizer.zero_grad()
    for _ in range(epochs):
        for inputs, targets, dropped in loader:
            loss = F.mse_loss(model(inputs, dropped).squeeze(-1), targets)
            loss.backward()
            optimizer.step()
    return model
