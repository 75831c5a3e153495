"""Data that does not fit in memory: a streamed image folder (`stream: true`), memory-mapped `.npz`
and `.npy` (`mmap: true`), lazy rows (`pipeline.data.rows`) and the feed that reads them, sliced by
process. The streamed path must give exactly what the in-memory path gives."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from pipeline import registries
from pipeline.components import build_spec
from pipeline.data.feed_keras import TrainingFeed
from pipeline.data.image_folder import SkippedFilesWarning
from pipeline.data.preprocess import MinMax, PCA, Standardize, fit_preprocessing
from pipeline.data.rows import Rows
from pipeline.data.split import split_dataset

REPO = Path(__file__).resolve().parents[1]


def source(spec):
    return build_spec(registries.datasets, spec)


def write_folder(root: Path, per_class: int = 10, classes: int = 3, seed: int = 0) -> Path:
    """root/c<k>/<i>.png|jpg of random pixels (two formats, two sizes), a text file and a truncated PNG."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((10 + i % 3, 12, 3)) * 120 + 40 * c).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"c{c}" / f"{i}.{'png' if i % 2 else 'jpg'}")
    good = (root / "c0" / "1.png").read_bytes()
    (root / "c0" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "c1" / "notes.txt").write_text("not an image")
    return root


def both(root: Path, **spec):
    """The same folder in memory and streamed (each reports its 2 unreadable files once)."""
    spec = {"type": "image_folder", "root": str(root), "image_size": [8, 8], **spec}
    with pytest.warns(SkippedFilesWarning, match="skipped 2 file"):
        memory = source(spec)
    with pytest.warns(SkippedFilesWarning, match="skipped 2 file"):
        streamed = source({**spec, "stream": True})
    return memory, streamed


def everything(rows) -> np.ndarray:
    return rows.read(np.arange(len(rows)))


@pytest.mark.parametrize("split", [{"val": 0.25, "test": 0.2}, {"val": 0.2, "test": 0.2, "kfold": 3, "fold": 1}])
def test_streamed_folder_splits_and_preprocesses_exactly_like_in_memory(tmp_path, split):
    memory, streamed = both(write_folder(tmp_path / "imgs"))
    assert isinstance(streamed.x, Rows) and streamed.x.shape == memory.x.shape == (30, 8, 8, 3)
    assert streamed.info["skipped_files"] == memory.info["skipped_files"] == "2"
    cut = dict(stratify=True, seed=7, **split)
    a, b = split_dataset(memory, **cut), split_dataset(streamed, **cut)
    for name in ("train", "val", "test"):  # the same examples, in the same order, decoded alike
        np.testing.assert_array_equal(getattr(a, f"y_{name}"), getattr(b, f"y_{name}"))
        np.testing.assert_array_equal(getattr(a, f"x_{name}"), everything(getattr(b, f"x_{name}")))
    steps = lambda: [Standardize(per="channel"), MinMax(per="feature")]  # noqa: E731
    fit_preprocessing(a, steps()), fit_preprocessing(b, steps())
    assert b.raw_shape == a.raw_shape and b.raw_dtype == a.raw_dtype == "float32"
    for fitted, streamed_step in zip(a.preprocessors, b.preprocessors):  # one streaming pass, float64
        np.testing.assert_allclose(streamed_step.shift, fitted.shift, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(streamed_step.scale, fitted.scale, rtol=1e-6)
    np.testing.assert_allclose(everything(b.x_val), a.x_val, atol=1e-5)
    assert b.x_train.shape == a.x_train.shape and b.x_train.dtype == np.float32


def test_pca_on_lazy_rows_is_fitted_on_the_training_rows(tmp_path):
    memory, streamed = both(write_folder(tmp_path / "imgs"), color="grayscale", image_size=[4, 4])
    a, b = (split_dataset(d, val=0.2, test=0.2, stratify=True, seed=0) for d in (memory, streamed))
    fit_preprocessing(a, [PCA(n_components=3)]), fit_preprocessing(b, [PCA(n_components=3)])
    # fewer rows than SAMPLE_ROWS: the sample is the whole training split, in its order
    np.testing.assert_allclose(np.abs(b.preprocessors[0].matrix), np.abs(a.preprocessors[0].matrix), atol=1e-4)
    assert b.x_test.shape == a.x_test.shape == (len(a.y_test), 3)


def test_feed_slices_each_global_batch_by_process_and_reads_only_its_part(tmp_path):
    _, streamed = both(write_folder(tmp_path / "imgs"))
    x, y = streamed.x, streamed.y
    one = TrainingFeed(x, y, 8, seed=1)
    halves = [TrainingFeed(x, y, 8, seed=1, process_index=i, process_count=2) for i in (0, 1)]
    assert len(one) == 4 and [len(h) for h in halves] == [4, 4]  # 30 rows: 3 full batches + 6 (3 each)
    files = x.base.listing.files
    for index in range(len(one)):
        xs, ys = one[index]
        parts = [h[index] for h in halves]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), xs)  # the global batch
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), ys)
        read = [{files[i] for i in h.part(index)} for h in halves]
        assert not read[0] & read[1] and len(read[0]) == len(read[1]) == len(ys) // 2
    three = TrainingFeed(x, y, 9, process_index=2, process_count=3)
    assert len(three) == 4 and len(three[3][1]) == 1  # last batch: 3 rows, one per process
    with pytest.raises(ValueError, match="batch_size that process_count divides"):
        TrainingFeed(x, y, 8, process_count=3)


def test_batches_read_ahead_are_those_asked_for_in_every_epoch(tmp_path):
    _, streamed = both(write_folder(tmp_path / "imgs"))
    plain, ahead = (TrainingFeed(streamed.x, streamed.y, 8, seed=2, prefetch=p) for p in (0, 2))
    for epoch in range(2):
        for index in [0, 0, 1, 2, 3] if epoch == 0 else [2, 0, 1, 3]:  # a peek, then order; then out of order
            for got, want in zip(ahead[index], plain[index]):
                np.testing.assert_array_equal(got, want)
        plain.on_epoch_end(), ahead.on_epoch_end()
    assert not ahead._ahead  # nothing kept across an epoch


def test_oversampling_and_mixing_read_lazy_rows_too(tmp_path):
    _, streamed = both(write_folder(tmp_path / "imgs"))
    keep = np.flatnonzero(streamed.y != 2)[:-8]  # a rare class 1
    rows, y = streamed.x.take(keep), streamed.y[keep]
    feed = TrainingFeed(rows, y, 6, classes=3, mixer=build_spec(registries.mixers, {"type": "mixup"}),
                        oversample=True, seed=0)
    x, soft = feed[0]
    assert x.shape == (6, 8, 8, 3) and soft.shape == (6, 3) and np.allclose(soft.sum(axis=1), 1)
    drawn = np.concatenate([y[feed.part(i)] for i in range(len(feed))])
    assert abs(np.mean(drawn == 1) - 0.5) < 0.2  # class-balanced draws from the lazy rows


def test_a_file_that_fails_while_streaming_keeps_the_batch_shape_and_is_reported_once(tmp_path):
    _, streamed = both(write_folder(tmp_path / "imgs"))
    broken = streamed.x.base.listing.files[4]
    broken.write_bytes(broken.read_bytes()[:40])  # passed the scan's check, truncated since
    feed = TrainingFeed(streamed.x, streamed.y, 10, shuffle=False)
    with pytest.warns(SkippedFilesWarning, match=f"could not decode {broken}.*all-zero image") as seen:
        x, y = feed[0]
        x_again, _ = feed[0]  # read again (a second epoch): not reported again
    assert len([w for w in seen if "could not decode" in str(w.message)]) == 1
    assert x.shape == (10, 8, 8, 3) and len(y) == 10 and not x[4].any() and x[3].any()
    assert list(streamed.x.base.failed) == [str(broken)]


def test_npz_mmap_keeps_views_over_the_file_and_agrees_with_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5, 2)).astype(np.float32), np.arange(60) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:7], y_test=y[:7])
    spec = {"type": "npz", "path": str(tmp_path / "d.npz")}
    memory, mapped = source(spec), source({**spec, "mmap": True})
    assert isinstance(mapped.x, Rows) and isinstance(mapped.x.base, np.memmap)
    assert mapped.fingerprint() == memory.fingerprint()  # the same bytes, hashed in chunks
    a, b = (split_dataset(d, val=0.25, test=0.0, stratify=True, seed=1) for d in (memory, mapped))
    assert b.x_train.base is mapped.x.base and isinstance(b.x_val, Rows)  # index views, no copy
    np.testing.assert_array_equal(everything(b.x_train), a.x_train)
    np.testing.assert_array_equal(everything(b.x_test), a.x_test)
    with pytest.raises(TypeError, match="read in batches"):
        np.asarray(b.x_train)


def test_npy_mmap(tmp_path):
    x = np.arange(40 * 3, dtype=np.float64).reshape(40, 3)
    np.save(tmp_path / "x.npy", x), np.save(tmp_path / "y.npy", np.arange(40) % 2)
    data = source({"type": "npy", "x_path": str(tmp_path / "x.npy"), "y_path": str(tmp_path / "y.npy"), "mmap": True})
    assert isinstance(data.x.base, np.memmap) and data.x.shape == (40, 3) and data.x.dtype == np.float64
    np.testing.assert_array_equal(data.x[[5, 1, 5]], x[[5, 1, 5]])  # any order, repeats: as NumPy


def cli(*args, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_compressed_npz_with_mmap_exits_2_with_the_location(tmp_path, write_recipe):
    np.savez_compressed(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.arange(4))
    recipe = write_recipe("r.yaml", STREAMED.replace(
        "{type: image_folder, root: ROOT, image_size: [8, 8], stream: true}",
        f"{{type: npz, path: {tmp_path / 'd.npz'}, mmap: true}}").replace("LR", "0.1"))
    done = cli("run", str(recipe), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", timeout=120)
    assert done.returncode == 2, done.stderr
    assert "r.yaml:3:" in done.stderr and "data.source.mmap" in done.stderr
    assert "np.savez_compressed" in done.stderr and "np.savez" in done.stderr and "Traceback" not in done.stderr


STREAMED = """\
seed: 3
data:
  source: {type: image_folder, root: ROOT, image_size: [8, 8], stream: true}
  split: {val: 0.25, test: 0.2}
  preprocess: [{type: standardize, per: channel}]
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 3}
train:
  epochs: 2
  batch_size: 8
  verbose: 0
  optimizer: {type: sgd, learning_rate: LR}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: streamed}
"""


def test_streamed_recipe_runs_end_to_end_and_its_model_reloads(tmp_path, write_recipe):
    root = write_folder(tmp_path / "imgs")
    recipe = write_recipe("streamed.yaml", STREAMED.replace("ROOT", str(root)).replace("LR", "0.05"))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    done = cli("run", str(recipe), "--tracking-uri", uri)
    assert done.returncode == 0, done.stderr[-3000:]
    mlflow.set_tracking_uri(uri)
    [run] = mlflow.search_runs(experiment_names=["streamed"], output_format="list")
    assert run.info.status == "FINISHED" and run.data.params["data.source.stream"] == "True"
    assert run.data.params["data.skipped_files"] == "2" and "test_accuracy" in run.data.metrics
    import keras

    import pipeline.data.preprocess_keras  # noqa: F401  (the saved preprocessing layers)

    model = keras.saving.load_model(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                                        artifact_path="model/model.keras",
                                                                        dst_path=str(tmp_path)))
    image = np.asarray(Image.open(root / "c2" / "0.jpg").convert("RGB").resize((8, 8)), np.float32)[None] / 255
    assert model.predict(image, verbose=0).shape == (1, 3)


def test_first_epoch_loss_of_a_streamed_run_equals_the_in_memory_one(tmp_path, tracking_uri, write_recipe):
    """With a learning rate of ~0 (1e-9: the schema wants > 0; the weights move by ~1e-9 x the
    gradient) an epoch's mean loss does not depend on the batch order (Keras weights each batch's
    loss by its size), and the streamed feed's order differs from Keras's shuffle of arrays: so any
    difference left is in the data, the preprocessing or the model's start. Float32 sums in another
    order: 1e-5 relative."""
    from pipeline.cli import main

    root = write_folder(tmp_path / "imgs")
    curves = {}
    for stream in ("true", "false"):
        text = STREAMED.replace("ROOT", str(root)).replace("LR", "1.0e-9").replace("stream: true", f"stream: {stream}")
        recipe = write_recipe(f"{stream}.yaml", text.replace("epochs: 2", "epochs: 1").replace(
            "track: {experiment: streamed}", "track: {experiment: streamed, log_model: false}"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedFilesWarning)
            assert main(["run", str(recipe)]) == 0
        [run] = mlflow.search_runs(experiment_names=["streamed"], filter_string=f"params.data.source.stream = "
                                   f"'{stream == 'true'}'", output_format="list")
        curves[stream] = run.data.metrics
    for metric in ("loss", "val_loss", "test_loss"):
        assert curves["true"][metric] == pytest.approx(curves["false"][metric], rel=1e-5), metric


def test_a_memory_mapped_npz_run_finishes_with_the_in_memory_fingerprint(tmp_path, tracking_uri, write_recipe):
    from pipeline.cli import main

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4, 4, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x.mean(axis=(1, 2, 3)) > 0).astype(np.int64) + np.arange(80) % 2)
    text = STREAMED.replace("{type: image_folder, root: ROOT, image_size: [8, 8], stream: true}",
                            f"{{type: npz, path: {tmp_path / 'd.npz'}, mmap: true}}").replace("LR", "0.1")
    assert main(["run", str(write_recipe("mapped.yaml", text))]) == 0
    [run] = mlflow.search_runs(experiment_names=["streamed"], output_format="list")
    in_memory = source({"type": "npz", "path": str(tmp_path / "d.npz")}).fingerprint()
    assert run.info.status == "FINISHED" and run.data.tags["data.fingerprint"] == in_memory
    assert int(run.data.params["data.size.train"]) + int(run.data.params["data.size.val"]) + \
        int(run.data.params["data.size.test"]) == 80 and "test_accuracy" in run.data.metrics


def test_show_reads_a_streamed_recipe_without_decoding_the_folder(tmp_path, write_recipe, capsys, monkeypatch):
    from pipeline.cli import main
    from pipeline.data import image_folder

    root = write_folder(tmp_path / "imgs")
    text = STREAMED.replace("ROOT", str(root)).replace("LR", "0.1").replace(
        "  preprocess: [{type: standardize, per: channel}]\n", "")  # no statistics pass to read the images

    decoded = []
    monkeypatch.setattr(image_folder, "decode", lambda *args: decoded.append(args) or np.zeros((8, 8, 3), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFilesWarning)
        assert main(["show", str(write_recipe("s.yaml", text))]) == 0
    assert "(None, 8, 8, 3)" in capsys.readouterr().out and not decoded
