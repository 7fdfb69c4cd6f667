"""A Flax classifier head: the learned temperature is created but never used."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


class ClassifierHead(nn.Module):
    num_classes: int = 10

    def setup(self):
        self.hidden = nn.Dense(128)
        self.out = nn.Dense(self.num_classes)
        self.temperature = self.param("temperature", nn.initializers.ones, ())

    def __call__(self, x):
        h = nn.gelu(self.hidden(x))
        return self.out(h)  # fix: `self.out(h) / self.temperature`


def loss_fn(params, x, labels):
    logits = ClassifierHead().apply({"params": params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


x = jnp.ones((8, 32))
labels = jnp.zeros(8, dtype=jnp.int32)
params = ClassifierHead().init(jax.random.PRNGKey(0), x)["params"]
grads = jax.grad(loss_fn)(params, x, labels)
