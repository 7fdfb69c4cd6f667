"""A trainable bump layer, as first written (seed: "Implementing a trainable generalized Bump
function layer in Keras/Tensorflow"). Keras warns "Gradients do not exist for variables
['threshlevel']" on every fit: the threshold only chooses a branch, and the branch is chosen
for the whole batch by `tf.cond`, not element by element."""
import tensorflow as tf


def f_true(x):
    bump_value = 1 - tf.math.pow(x, 2)
    bump_value = -tf.math.pow(bump_value, -1)
    return tf.math.exp(bump_value)


def f_false(x):
    return 0 * x


class TrainableBumpLayer(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.threshold_level = self.add_weight(
            name="threshlevel", shape=[1], initializer="GlorotUniform", trainable=True
        )

    def call(self, inputs):
        the_logic = tf.math.less(inputs, self.threshold_level)
        return tf.cond(the_logic, lambda: f_true(inputs), lambda: f_false(inputs))
