"""Batch mixing and the training feed: the labels say exactly how much of each example was used."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import registries
from pipeline.components import build_spec
from pipeline.errors import RecipeError

K = 5


def mixer(spec):
    return build_spec(registries.mixers, spec)


def labelled_batch(shape, n=32, seed=0):
    """Each example is a constant signal equal to its class id, so a mixed cell shows whose it is."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.arange(n) % K)
    x = np.broadcast_to(classes.reshape(-1, *[1] * len(shape)), (n, *shape)).astype("float32")
    return x, np.eye(K, dtype="float32")[classes], classes


def mixed_with(spec, x, y, seed=7):
    """Run the mixer and also return its partner permutation (the same generator draws it first)."""
    out = mixer(spec)(x, y, np.random.default_rng(seed))
    partner = np.random.default_rng(seed).permutation(len(x))
    return (*out, partner)


def test_mixup_labels_sum_to_one_and_match_the_blend():
    x, y, classes = labelled_batch((10, 1))
    x_mixed, y_mixed, partner = mixed_with({"type": "mixup", "alpha": 0.4}, x, y)
    np.testing.assert_allclose(y_mixed.sum(axis=1), 1, rtol=1e-6)
    assert len(np.unique(np.round(y_mixed.max(axis=1), 4))) > 10  # a share per example
    # x = (1 - w) x + w x' with the same w the labels carry: each cell equals E[class] under y_mixed
    np.testing.assert_allclose(x_mixed[:, 0, 0], y_mixed @ np.arange(K), rtol=1e-5, atol=1e-5)
    same = classes == classes[partner]
    np.testing.assert_allclose(y_mixed[same], y[same])  # mixing with its own class changes nothing


@pytest.mark.parametrize("shape", [(40, 1), (12, 12, 3)])
def test_cutmix_pasted_area_matches_the_label_weights(shape):
    x, y, classes = labelled_batch(shape)
    x_mixed, y_mixed, partner = mixed_with({"type": "cutmix", "alpha": 1.0}, x, y)
    np.testing.assert_allclose(y_mixed.sum(axis=1), 1, rtol=1e-6)
    differ = classes != classes[partner]
    assert differ.sum() > 10
    pasted = (x_mixed[differ] == classes[partner][differ].reshape(-1, *[1] * len(shape))).mean(
        axis=tuple(range(1, len(shape) + 1)))
    np.testing.assert_allclose(y_mixed[differ, classes[partner][differ]], pasted, atol=1e-6)
    np.testing.assert_allclose(y_mixed[differ, classes[differ]], 1 - pasted, atol=1e-6)
    assert 0 < pasted.mean() < 1 and pasted.std() > 0.05
    if len(shape) == 3:  # one axis-aligned box per image, the same in every channel
        for img, p in zip(x_mixed[differ], classes[partner][differ]):
            rows, cols = np.nonzero(img[..., 0] == p)
            if len(rows):
                assert len(rows) == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
                assert (img[..., 1] == img[..., 0]).all()


def test_cowmask_mask_share_matches_the_label_weight_and_the_sampled_proportion():
    x, y, classes = labelled_batch((32, 32, 1), n=40)
    spec = {"type": "cowmask", "proportion": [0.3, 0.3], "sigma": [4, 4]}
    x_mixed, y_mixed, partner = mixed_with(spec, x, y)
    differ = classes != classes[partner]
    pasted = (x_mixed[differ, ..., 0] == classes[partner][differ, None, None]).mean(axis=(1, 2))
    np.testing.assert_allclose(y_mixed[differ, classes[partner][differ]], pasted, atol=1e-6)
    # the threshold erfinv(2p - 1) leaves a share p of the smoothed noise below it (one mask: ±0.1)
    assert abs(pasted.mean() - 0.3) < 0.05 and np.all(np.abs(pasted - 0.3) < 0.15)
    # irregular regions, not one box: the pasted cells of an image do not fill their bounding box
    img = x_mixed[np.flatnonzero(differ)[0], ..., 0] == classes[partner][np.flatnonzero(differ)[0]]
    rows, cols = np.nonzero(img)
    assert len(rows) < 0.9 * (np.ptp(rows) + 1) * (np.ptp(cols) + 1)


def test_mask_mixers_refuse_flat_vectors():
    x, y, _ = labelled_batch((6,))
    with pytest.raises(ValueError, match=r"Expected \(batch, steps, channels\)"):
        mixer("cutmix")(x, y, np.random.default_rng(0))


@pytest.mark.parametrize("spec, message", [({"type": "mixup", "alpha": 0}, r"alpha: expected float \(> 0\)"),
                                           ({"type": "cowmask", "proportion": [0.6, 0.2]}, "proportion")])
def test_bad_arguments_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        mixer(spec)


def test_feed_is_seeded_reshuffles_each_epoch_and_mixes_only_training_batches():
    from pipeline.data.feed_keras import TrainingFeed

    x = np.arange(20, dtype="float32").reshape(20, 1, 1).repeat(4, axis=1)
    y = np.arange(20) % K
    feed = TrainingFeed(x, y, 8, classes=K, mixer=mixer("mixup"), seed=3)
    again = TrainingFeed(x, y, 8, classes=K, mixer=mixer("mixup"), seed=3)
    assert len(feed) == 3
    first = [feed[i] for i in range(len(feed))]
    for (xa, ya), (xb, yb) in zip(first, (again[i] for i in range(3))):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert sum(len(b[0]) for b in first) == 20 and first[0][1].shape == (8, K)
    np.testing.assert_allclose(np.concatenate([b[1] for b in first]).sum(axis=1), 1, rtol=1e-6)
    order = feed.order.copy()
    feed.on_epoch_end()
    assert not np.array_equal(order, feed.order) and sorted(feed.order) == list(range(20))


def test_recipe_mix_needs_a_loss_that_takes_soft_labels(write_recipe):
    from pipeline.recipe import load_recipe
    from tests.conftest import MINIMAL_RECIPE

    ok = MINIMAL_RECIPE.replace("  split: {val: 0.2}", "  split: {val: 0.2}\n  mix: {type: mixup}")
    assert load_recipe(write_recipe("ok.yaml", ok)).plan.mix.name == "mixup"
    bad = ok.replace("loss: sparse_categorical_crossentropy", "loss: hinge")
    with pytest.raises(RecipeError, match=r"train.loss: data.mix \(mixup\) trains on soft labels, which loss "
                                          r"'hinge' does not take"):
        load_recipe(write_recipe("bad.yaml", bad))
    unknown = ok.replace("mix: {type: mixup}", "mix: {type: mixpu}")
    with pytest.raises(RecipeError, match=r"data.mix.type: unknown mixer 'mixpu'; did you mean 'mixup'"):
        load_recipe(write_recipe("unknown.yaml", unknown))
