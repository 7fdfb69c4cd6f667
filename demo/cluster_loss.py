"""The distance term of a discriminative clustering loss (seed: "TensorFlow loss function zeroes
out after first epoch"): the pairwise differences include every cluster centre minus itself,
and the gradient of `tf.norm` at the zero vector is NaN."""
import tensorflow as tf


def distance_loss(mu, delta_d=1.5):
    num_clusters = tf.shape(mu)[0]
    mu_interleaved_rep = tf.tile(mu, [num_clusters, 1])
    mu_band_rep = tf.reshape(tf.tile(mu, [1, num_clusters]), (num_clusters * num_clusters, -1))
    mu_diff = tf.subtract(mu_band_rep, mu_interleaved_rep)
    mu_diff = tf.norm(mu_diff, axis=1)
    mu_diff = tf.clip_by_value(2 * delta_d - mu_diff, 0.0, 2 * delta_d)
    return tf.reduce_mean(tf.square(mu_diff))
