"""A REINFORCE policy for a continuous action (seed: "tensorflow_probability: Gradients always zero
when backpropagating the log_prob of a sample"): the action is an `rsample()`, so its log-probability
no longer depends on the mean and the policy's mean never learns."""
import torch
import torch.nn as nn
from torch.distributions import Normal


class GaussianPolicy(nn.Module):
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.mean = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, act_dim))
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def forward(self, obs):
        return Normal(self.mean(obs), self.log_std.exp())


def reinforce_loss(policy, obs, returns):
    dist = policy(obs)
    actions = dist.rsample()
    log_probs = dist.log_prob(actions).sum(-1)
    return -(log_probs * returns).mean()


policy = GaussianPolicy(obs_dim=4, act_dim=2)
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
obs, returns = torch.randn(32, 4), torch.randn(32)
loss = reinforce_loss(policy, obs, returns)
optimizer.zero_grad()
loss.backward()
optimizer.step()
print("grad of the mean head:", policy.mean[-1].bias.grad)
