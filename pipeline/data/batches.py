"""What a Keras call (`fit`, `evaluate`, `predict`) receives for one split: the arrays and the batch
size, or, for lazy rows (`pipeline.data.rows`: a streamed folder, a memory-mapped array), a feed
that reads them a batch at a time (`pipeline.data.feed_keras.TrainingFeed`, in order), so that no
consumer holds a whole split in memory.

The feeds run without Keras's worker threads (`workers=0`): Keras's enqueuer keeps the batches it
fetched ahead when an epoch stops (as `fit` does after reading one batch to build the model) and
hands them out first in the next epoch, so a feed that reshuffles every epoch would show some rows
twice and others never (measured: a wrong first-epoch loss). The parallelism is inside the batch
instead (an image folder decodes a batch's files in its own thread pool, `ImageFiles`), and the
feed reads the next batches in a background thread while the model works on this one
(`TrainingFeed(prefetch=...)`; Keras asks for them in order)."""

from __future__ import annotations

from pipeline.data.rows import is_lazy

#: batches a feed of lazy rows reads ahead (bounded memory: this many batches)
PREFETCH = 2


def keras_inputs(x, y=None, batch_size: int = 32, **feed) -> dict:
    """Keyword arguments for `model.evaluate` / `model.predict` (y None): `x` (and `y`, `batch_size`)
    as they are for arrays; a feed in order for lazy rows (`feed`: e.g. process_index, process_count)."""
    if not is_lazy(x):
        return {"x": x, "batch_size": batch_size} | ({} if y is None else {"y": y})
    from pipeline.data.feed_keras import TrainingFeed

    return {"x": TrainingFeed(x, y, batch_size, shuffle=False, **{"prefetch": PREFETCH, **feed})}
