"""A reciprocal feature for zero-padded sequences, as first written: the mask keeps the forward
pass finite, but the gradient of `1 / scaled` at the padded zeros is NaN and reaches `scale`
(GL040). Fix: `1.0 / torch.where(valid, scaled, torch.ones_like(scaled))`."""
import torch
import torch.nn as nn


class ReciprocalFeature(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(features))
        self.proj = nn.Linear(2 * features, features)

    def forward(self, x):
        scaled = self.scale * x
        valid = scaled != 0
        inverse = torch.where(valid, 1.0 / scaled, torch.zeros_like(scaled))
        return self.proj(torch.cat([scaled, inverse], dim=-1))


model = ReciprocalFeature(8)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.rand(4, 16, 8) + 0.5
x[:, 12:] = 0.0  # padding
loss = model(x).pow(2).mean()
loss.backward()
optimizer.step()
