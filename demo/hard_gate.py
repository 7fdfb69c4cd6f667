"""A binary classifier whose output layer is a hard sigmoid, and a recurrent cell with a
hard 0/1 gate: the first stops learning once its units saturate, the second never learns."""

import torch
import torch.nn as nn


class StepGateCell(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(2 * dim, 2 * dim)

    def forward(self, x, h):
        z = self.proj(torch.cat([x, h], dim=-1))
        candidate, gate = z.chunk(2, dim=-1)
        update = (gate > 0).float()
        return update * torch.tanh(candidate) + (1 - update) * h


model = nn.Sequential(
    nn.Linear(16, 32),
    nn.ReLU(),
    nn.Linear(32, 1),
    nn.Hardsigmoid(),
)
criterion = nn.BCELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(100):
    x = torch.randn(64, 16)
    y = (x.sum(dim=1, keepdim=True) > 0).float()
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
