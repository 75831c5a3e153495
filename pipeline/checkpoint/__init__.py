"""Epoch checkpoints that make a resumed run continue exactly where it stopped.

`files`: the file format and the atomic write (previous checkpoint kept); `training_state`: what
is captured (weights, optimizer, RNG, callback and feed state via `get_state`/`set_state`);
`callback_keras`: the Keras callback that saves after each epoch and restores at the start of a
resumed `fit`; `location`: where a run's checkpoints live in the store.
"""
