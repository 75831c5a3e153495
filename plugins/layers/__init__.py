"""Layer factories: each returns a `keras.layers.Layer`."""
