"""Checking a recurrent model's gradient against finite differences (seed: a Lasagne RNN whose
gradient disagreed with finite differences because of `gradient_steps`): the model detaches its
hidden state every few steps, so autograd returns a truncated-BPTT gradient."""
import torch
import torch.nn as nn


class TruncatedRNN(nn.Module):
    def __init__(self, n_in, n_hidden, k=2):
        super().__init__()
        self.cell = nn.RNNCell(n_in, n_hidden)
        self.head = nn.Linear(n_hidden, 1)
        self.n_hidden, self.k = n_hidden, k

    def forward(self, x):
        h = x.new_zeros(x.size(0), self.n_hidden)
        for t in range(x.size(1)):
            if t > 0 and t % self.k == 0:
                h = h.detach()
            h = self.cell(x[:, t], h)
        return self.head(h).squeeze(-1)


model = TruncatedRNN(3, 8).double()
x, y = torch.randn(4, 8, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
loss = ((model(x) - y) ** 2).mean()
loss.backward()

eps = 1e-6
with torch.no_grad():
    model.cell.weight_ih[0, 0] += eps
    bumped = ((model(x) - y) ** 2).mean()
finite_diff = (bumped - loss).item() / eps
print("autograd:", model.cell.weight_ih.grad[0, 0].item(), "finite difference:", finite_diff)
