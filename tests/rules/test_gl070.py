"""GL070 log-prob-of-reparameterized-sample: spellings and exemptions that fixtures show poorly."""

import textwrap

import pytest

from gradlint import lint_source
from tests.conftest import findings_in, write_files


def findings(source: str):
    return lint_source(textwrap.dedent(source), select=["GL070"])


@pytest.mark.parametrize(
    "imports, build",
    [
        ("import torch", "torch.distributions.Normal(mu, s)"),
        ("from torch.distributions.normal import Normal", "Normal(mu, s)"),
        ("import torch.distributions as td", "td.Normal(mu, s)"),
        ("import torch", "policy(obs)"),
    ],
)
def test_torch_rsample(imports, build):
    found = findings(f"""
        {imports}
        def loss(mu, s, policy, obs, returns):
            d = {build}
            a = d.rsample()
            return -(d.log_prob(a) * returns).mean()
    """)
    assert [(f.line, f.severity) for f in found] == [(6, "error")]


@pytest.mark.parametrize(
    "prelude, build",
    [
        ("import tensorflow_probability as tfp\ntfd = tfp.distributions", "tfd.Normal(mu, s)"),
        ("from tensorflow_probability import distributions as tfd", "tfd.MultivariateNormalTriL(mu, s)"),
        ("import tensorflow_probability as tfp", "tfp.distributions.Laplace(mu, s)"),
    ],
)
def test_tfp_sample(prelude, build):
    source = "import tensorflow as tf\n" + prelude + textwrap.dedent(f"""
        def loss(mu, s, advantages):
            d = {build}
            a = d.sample()
            return -tf.reduce_mean(d.log_prob(a) * advantages)
    """)
    assert len(lint_source(source, select=["GL070"])) == 1


def test_local_tfd_alias():
    assert len(findings("""
        import tensorflow as tf
        import tensorflow_probability as tfp
        def loss(mu, s, returns):
            tfd = tfp.distributions
            d = tfd.Normal(mu, s)
            a = d.sample()
            return -tf.reduce_mean(d.log_prob(a) * returns)
    """)) == 1


@pytest.mark.parametrize(
    "body",
    [
        "a = d.sample()\nreturn -(d.log_prob(a) * returns).mean()",  # torch sample(): the score
        "a = d.rsample().detach()\nreturn -(d.log_prob(a) * returns).mean()",
        "a = d.rsample()\na = a.clamp(-1, 1)\nreturn -(d.log_prob(a) * returns).mean()",  # rebound
        "a = d.rsample()\nreturn (0.2 * d.log_prob(a) - critic(obs, a)).mean()",
        "a = d.rsample()\nreturn a, d.log_prob(a)",  # a policy's sample(): the caller decides
        "z = d.rsample()\nkl = d.log_prob(z) - prior.log_prob(z)\nreturn kl.mean()",
        "z = d.rsample()\nlog_q = d.log_prob(z)\nreturn (log_q - prior_log_prob).mean() if False else log_q.mean() * alpha",
        "a = other.rsample()\nreturn -(d.log_prob(a) * returns).mean()",  # another distribution
    ],
)
def test_quiet(body):
    source = "import torch\ndef loss(d, other, prior, critic, obs, returns, alpha, prior_log_prob):\n"
    source += textwrap.indent(body, "    ") + "\n"
    assert lint_source(source, select=["GL070"]) == []


def test_weak_use_needs_reward_weighting():
    found = findings("""
        import torch
        def loss(d, memory, advantages):
            a = d.rsample()
            memory.append(a)
            return -(d.log_prob(a) * advantages).mean()
    """)
    assert [(f.line, f.severity) for f in found] == [(6, "warning")]
    assert "weighted by `advantages`" in found[0].message


def test_not_differentiated_and_tfp_not_reparameterized():
    assert findings("""
        import torch
        import tensorflow as tf
        import tensorflow_probability as tfp
        def test_log_prob(d, returns):
            a = d.rsample()
            return -(d.log_prob(a) * returns).mean()
        def policy_loss(logits, returns):
            d = tfp.distributions.Categorical(logits=logits)
            a = d.sample()
            return -tf.reduce_mean(d.log_prob(a) * returns)
        def fit(d, returns):
            with torch.no_grad():
                a = d.rsample()
                lp = d.log_prob(a)
            return lp
    """) == []


def test_noqa():
    assert findings("""
        import torch
        def loss(d, returns):
            a = d.rsample()
            return -(d.log_prob(a) * returns).mean()  # noqa: GL070
    """) == []


def test_a_file_that_imports_only_tensorflow_probability_is_checked():
    source = (
        "import tensorflow_probability as tfp\n"
        "tfd = tfp.distributions\n\n"
        "def loss(mu, sigma):\n"
        "    dist = tfd.Normal(mu, sigma)\n"
        "    z = dist.sample()\n"
        "    return -dist.log_prob(z)\n"
    )
    assert [f.line for f in lint_source(source, select=["GL070"])] == [7]


def _handwritten(source: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL070"])]


def test_a_handwritten_sample_travels_through_a_helper_to_the_argument_given():
    source = """
    import torch
    from torch.distributions import Normal

    def jitter(center, width):
        noise = torch.randn_like(center)
        return center + width * noise

    def policy(mean, other):
        a = jitter(mean, 0.1)
        b = jitter(other, 0.1)
        scored = Normal(mean, 0.1).log_prob(a)
        kept = Normal(mean, 0.1).log_prob(b)
        return scored, kept
    """
    assert _handwritten(source) == [12]  # `b` is located at `other`: its log-density keeps a gradient


def test_a_learned_or_computed_scale_is_left_to_the_pathwise_reading():
    source = """
    import torch
    import torch.nn as nn
    from torch.distributions import Normal

    class Policy(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.log_std = nn.Parameter(torch.zeros(n))
            self.width = self.log_std.exp()

        def forward(self, mean):
            a = mean + self.width * torch.randn_like(mean)
            b = mean + torch.randn_like(mean)
            return Normal(mean, self.log_std.exp()).log_prob(a), Normal(mean, self.width).log_prob(b)
    """
    assert _handwritten(source) == []


def test_a_policy_in_another_module_whose_caller_weights_its_log_prob(tmp_path):
    write_files(tmp_path, {
        "rl/__init__.py": "",
        "rl/policy.py": """
            import torch.nn as nn
            from torch.distributions import Normal

            class Policy(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.mu = nn.Linear(4, 2)

                def act(self, obs):
                    dist = Normal(self.mu(obs), 1.0)
                    action = dist.rsample()
                    return action, dist.log_prob(action).sum(-1)

                def explore(self, obs):
                    dist = Normal(self.mu(obs), 1.0)
                    action = dist.rsample()
                    return action, dist.log_prob(action).sum(-1)
        """,
        "rl/agent.py": """
            from .policy import Policy

            class Agent:
                def __init__(self):
                    self.policy = Policy()

                def update(self, obs, adv):
                    action, logp = self.policy.act(obs)
                    return -(logp * adv).mean()

                def actor_loss(self, obs, critic, alpha):
                    action, log_pi = self.policy.explore(obs)
                    return (alpha * log_pi - critic(obs, action)).mean()
        """,
    })
    assert findings_in(tmp_path / "rl", ["GL070"]) == [("policy.py", 13, "GL070")]
