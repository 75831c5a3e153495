"""What a Keras call (`fit`, `evaluate`, `predict`) receives for one split: the arrays and the batch
size, or, for lazy rows (`pipeline.data.rows`: a streamed folder, a memory-mapped array), a feed
that reads them a batch at a time (`pipeline.data.feed_keras.TrainingFeed`, in order), so that no
consumer holds a whole split in memory."""

from __future__ import annotations

from pipeline.data.rows import is_lazy

#: Keras's `PyDataset` settings for lazy rows: 2 threads prepare the next batches while the model
#: trains (decoding itself runs in the image folder's own thread pool); the queue bounds memory.
PREFETCH = {"workers": 2, "use_multiprocessing": False, "max_queue_size": 4}


def feed_settings(x) -> dict:
    """Extra `TrainingFeed` arguments for `x`: prefetching threads for lazy rows, none for arrays."""
    return dict(PREFETCH) if is_lazy(x) else {}


def keras_inputs(x, y=None, batch_size: int = 32, **feed) -> dict:
    """Keyword arguments for `model.evaluate` / `model.predict` (y None): `x` (and `y`, `batch_size`)
    as they are for arrays; a feed in order for lazy rows (`feed`: e.g. process_index, process_count)."""
    if not is_lazy(x):
        return {"x": x, "batch_size": batch_size} | ({} if y is None else {"y": y})
    from pipeline.data.feed_keras import TrainingFeed

    return {"x": TrainingFeed(x, y, batch_size, shuffle=False, **PREFETCH, **feed)}
