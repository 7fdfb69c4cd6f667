"""A piecewise learning-rate schedule and a training step, with two closure pitfalls:
every schedule branch sees the last segment (GL051), and the loss is computed before the
tape starts recording (GL052)."""
import tensorflow as tf

BOUNDARIES = [1000, 5000]
RATES = [1e-3, 5e-4, 1e-4]


def learning_rate(step):
    branches = []
    for rate in RATES:
        branches.append(lambda: tf.constant(rate))
    segment = tf.reduce_sum(tf.cast(step >= tf.constant(BOUNDARIES), tf.int32))
    return tf.switch_case(segment, branches)


def train_step(model, optimizer, x, y, step):
    loss = tf.reduce_mean(tf.square(model(x) - y))
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.learning_rate = learning_rate(step)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return predictions
