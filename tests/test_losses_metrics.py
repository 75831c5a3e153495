"""Losses on the course's table of scores and metrics against scikit-learn, built as a recipe builds them.

The course's table (scores of a linear classifier for three images, one per column):

            cat image   car image   bird image
    cat        3.2         1.3         2.2
    car        5.1         4.9         2.5
    bird      -1.7         2.0        -3.1

Multi-class SVM loss per image: 2.9, 0, 12.9 (mean 5.27); cross-entropy of the cat image
-log softmax(cat) ~ 2.04.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from pipeline import registries
from pipeline.model.training import build_metrics, is_test_split_report
from pipeline.components import build_spec
from pipeline.keras_compat import tensorflow_probe_disabled
from pipeline.recipe.validate import plan_recipe

pytestmark = pytest.mark.usefixtures("backend_started")


def to_np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], dtype="float32")
LABELS = np.array([0, 1, 2])  # cat, car, bird


def compiled(fn):
    """`fn` traced and compiled once, as inside `model.fit` (and much faster than eager JAX ops)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn


def loss_value(spec, y_true, y_pred) -> float:
    fn = build_spec(registries.losses, spec)
    return float(to_np(compiled(fn)(np.asarray(y_true), np.asarray(y_pred, dtype="float32"))))


def per_example(spec, y_true, y_pred) -> np.ndarray:
    """The loss of each example (no reduction), through the built loss's `call`."""
    fn = build_spec(registries.losses, spec)
    return to_np(compiled(fn.call)(np.asarray(y_true, "float32"), np.asarray(y_pred, "float32")))


# -- multi-class hinge -------------------------------------------------------------------------------
def test_hinge_on_the_course_table_is_the_sum_over_wrong_classes():
    np.testing.assert_allclose(per_example("hinge", LABELS, SCORES), [2.9, 0.0, 12.9], rtol=1e-5)
    assert loss_value("hinge", [0], SCORES[:1]) == pytest.approx(2.9, rel=1e-5)
    assert loss_value("hinge", LABELS, SCORES) == pytest.approx((2.9 + 12.9) / 3, rel=1e-5)  # 5.27


def test_hinge_is_not_keras_categorical_hinge():
    """Keras' CategoricalHinge takes the max over wrong classes: max(0, 1 + 5.1 - 3.2) = 2.9 on the cat
    image too, but 6.6 (not 6.3 + 6.6) on the bird image."""
    keras_value = keras.losses.CategoricalHinge()(np.eye(3)[[2]], SCORES[2:]).__float__()
    assert keras_value == pytest.approx(6.6, rel=1e-5)
    assert loss_value("hinge", [2], SCORES[2:]) == pytest.approx(12.9, rel=1e-5)


def test_hinge_margin_and_one_hot_labels_and_aliases():
    # margin 0: only classes scoring above the true one count (5.1 - 3.2 = 1.9)
    assert loss_value({"type": "hinge", "margin": 0.0}, [0], SCORES[:1]) == pytest.approx(1.9, rel=1e-5)
    assert loss_value("multiclass_hinge", np.eye(3)[LABELS], SCORES) == pytest.approx(15.8 / 3, rel=1e-5)
    assert loss_value("svm", LABELS[:, None], SCORES) == pytest.approx(15.8 / 3, rel=1e-5)  # (batch, 1)


def test_hinge_with_one_output_is_the_binary_svm_loss():
    # labels 0/1 -> -1/+1; max(0, 1 - y s)
    np.testing.assert_allclose(per_example("hinge", [1, 1, 0], [[2.0], [0.5], [0.5]]), [0.0, 0.5, 1.5], rtol=1e-6)


def test_hinge_gradient_pushes_the_violating_score_down_and_the_true_score_up():
    import jax

    fn = build_spec(registries.losses, "hinge")
    g = np.asarray(jax.jit(jax.grad(lambda s: fn(np.array([0]), s)))(SCORES[:1]))
    np.testing.assert_allclose(g, [[-1.0, 1.0, 0.0]])  # car violates the margin, bird does not


# -- cross-entropy and focal -------------------------------------------------------------------------
CE_CAT = math.log(sum(math.exp(s) for s in (3.2, 5.1, -1.7))) - 3.2


def test_cross_entropy_on_the_course_table():
    assert CE_CAT == pytest.approx(2.04, abs=5e-3)
    spec = {"type": "sparse_categorical_crossentropy", "from_logits": True}
    assert loss_value(spec, [0], SCORES[:1]) == pytest.approx(CE_CAT, rel=1e-5)


@pytest.mark.parametrize("from_logits", [True, False])
def test_focal_with_gamma_zero_is_cross_entropy(from_logits):
    scores = SCORES if from_logits else to_np(keras.ops.softmax(SCORES))
    focal = loss_value({"type": "focal", "gamma": 0.0, "from_logits": from_logits}, LABELS, scores)
    ce = loss_value({"type": "sparse_categorical_crossentropy", "from_logits": from_logits}, LABELS, scores)
    assert focal == pytest.approx(ce, rel=1e-5)
    assert loss_value({"type": "focal", "gamma": 0.0, "from_logits": True}, [0], SCORES[:1]) == \
        pytest.approx(CE_CAT, rel=1e-5)


def test_focal_gamma_two_down_weights_easy_examples():
    """FL = (1 - p_t)^2 CE: an easy example (p_t = 0.9) keeps 1% of its cross-entropy, a hard one
    (p_t = 0.1) 81%, so the hard example's share of the loss grows from 4% to 80%."""
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.45, 0.45]], dtype="float32")
    labels = [0, 0]
    ce = per_example("sparse_categorical_crossentropy", labels, probs)
    fl = per_example({"type": "focal", "gamma": 2.0}, labels, probs)
    np.testing.assert_allclose(fl / ce, [0.1 ** 2, 0.9 ** 2], rtol=1e-5)
    assert ce[1] / ce.sum() < 0.96 and fl[1] / fl.sum() > 0.98
    np.testing.assert_allclose(fl, -(1 - np.array([0.9, 0.1])) ** 2 * np.log([0.9, 0.1]), rtol=1e-5)


def test_focal_alpha_weights_classes():
    probs = np.array([[0.7, 0.3], [0.4, 0.6]], dtype="float32")
    base = per_example({"type": "focal", "gamma": 2.0}, [0, 1], probs)
    weighted = per_example({"type": "focal", "gamma": 2.0, "alpha": [0.25, 0.75]}, [0, 1], probs)
    np.testing.assert_allclose(weighted, base * [0.25, 0.75], rtol=1e-6)
    scaled = per_example({"type": "focal", "gamma": 2.0, "alpha": 0.5}, [0, 1], probs)
    np.testing.assert_allclose(scaled, base * 0.5, rtol=1e-6)


def test_binary_focal_is_lin_et_al():
    """One sigmoid output: p_t = p for y = 1, 1 - p for y = 0; alpha for positives, 1 - alpha for negatives."""
    logits = np.array([[2.0], [-1.0], [0.5]], dtype="float32")
    y = np.array([1, 0, 0])
    p = 1 / (1 + np.exp(-logits[:, 0].astype("float64")))
    pt = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, 0.25, 0.75)
    expected = -alpha_t * (1 - pt) ** 2 * np.log(pt)
    spec = {"type": "focal", "gamma": 2.0, "alpha": 0.25, "from_logits": True}
    np.testing.assert_allclose(per_example(spec, y, logits), expected, rtol=1e-5)
    keras_focal = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, gamma=2.0,
                                                       from_logits=True, reduction=None)
    np.testing.assert_allclose(to_np(keras_focal(y[:, None].astype("float32"), logits)), expected, rtol=1e-5)


def test_focal_gradients_are_finite_on_a_saturated_prediction():
    import jax

    for gamma in (0.0, 0.5, 2.0):
        fn = build_spec(registries.losses, {"type": "focal", "gamma": gamma, "from_logits": True})
        g = np.asarray(jax.jit(jax.grad(lambda s: fn(np.array([0]), s)))(np.array([[60.0, -60.0, 0.0]], "float32")))
        assert np.isfinite(g).all(), (gamma, g)


def test_focal_refuses_a_negative_gamma():
    with pytest.raises(ValueError) as error:
        build_spec(registries.losses, {"type": "focal", "gamma": -1.0})
    assert str(error.value) == "gamma: expected float (>= 0). Received: -1.0"


@pytest.mark.parametrize("spec", ["hinge", {"type": "hinge", "margin": 2.0},
                                  {"type": "focal", "gamma": 1.5, "alpha": [0.2, 0.3, 0.5], "from_logits": True},
                                  {"type": "focal", "alpha": 0.25}])
def test_new_losses_round_trip_their_config(spec):
    loss = build_spec(registries.losses, spec)
    config = loss.get_config()
    clone = type(loss).from_config(config)
    assert clone.get_config() == config
    with tensorflow_probe_disabled():
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == config
    probs = to_np(keras.ops.softmax(SCORES))
    assert float(to_np(restored(LABELS, probs))) == pytest.approx(float(to_np(loss(LABELS, probs))), rel=1e-6)


# -- metrics against scikit-learn ---------------------------------------------------------------------
RNG = np.random.default_rng(0)
N, C = 120, 4
Y = RNG.integers(0, C, size=N)
# informative but imperfect logits: the true class gets a bonus
LOGITS = (RNG.normal(size=(N, C)) + 1.2 * np.eye(C)[Y]).astype("float32")
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
PRED = LOGITS.argmax(axis=1)


def accumulate(metric, y_true, y_pred, batches=3, sample_weight=None):
    """`metric`'s result over a few equal batches, as during an epoch. On JAX it is built and updated
    as `fit` does it: state built symbolically, then a compiled stateless update (and result)."""
    parts = np.array_split(np.arange(len(y_true)), batches)
    weights = [None if sample_weight is None else sample_weight[p] for p in parts]
    if keras.backend.backend() != "jax":
        for part, w in zip(parts, weights):
            metric.update_state(y_true[part], y_pred[part], sample_weight=w)
        return to_np(metric.result())
    import jax
    from keras.src.backend import compute_output_spec  # what Trainer._symbolic_build uses

    first = parts[0]
    compute_output_spec(metric.update_state, keras.KerasTensor(y_true[first].shape, str(y_true.dtype)),
                        keras.KerasTensor(y_pred[first].shape, str(y_pred.dtype)),
                        None if weights[0] is None else keras.KerasTensor(weights[0].shape))
    update = jax.jit(metric.stateless_update_state)
    state = [v.value for v in metric.variables]
    for part, w in zip(parts, weights):
        state = update(state, y_true[part], y_pred[part], sample_weight=w)
    return to_np(jax.jit(metric.stateless_result)(state))


def metric_value(spec, y_true, y_pred, batches=3, sample_weight=None) -> float:
    return float(accumulate(build_spec(registries.metrics, spec), y_true, y_pred, batches, sample_weight))


@pytest.mark.parametrize("name, reference", [
    ("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)])
@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_precision_recall_f1_equal_sklearn(name, reference, average):
    expected = reference(Y, PRED, average=average, zero_division=0)
    spec = {"type": name, "average": average}
    assert metric_value(spec, Y, LOGITS) == pytest.approx(expected, abs=1e-5)  # logits
    assert metric_value(spec, Y, PROBS) == pytest.approx(expected, abs=1e-5)  # probabilities
    assert metric_value(spec, np.eye(C)[Y], PROBS) == pytest.approx(expected, abs=1e-5)  # one-hot labels


def test_macro_scores_weigh_a_rare_class_like_a_common_one():
    y = np.array([0] * 9 + [1])
    pred = np.eye(2)[np.zeros(10, dtype=int)].astype("float32")  # always class 0
    assert metric_value("recall", y, pred, batches=1) == pytest.approx(0.5)  # class 1 recall 0
    assert metric_value({"type": "recall", "average": "micro"}, y, pred, batches=1) == pytest.approx(0.9)
    assert metric_value("f1", y, pred, batches=1) == pytest.approx(skm.f1_score(y, np.zeros(10), average="macro"),
                                                                   abs=1e-5)


def test_class_scores_with_one_output_are_those_of_the_positive_class():
    y = (RNG.random(60) < 0.4).astype(int)
    logit = (RNG.normal(size=60) + 1.5 * (2 * y - 1)).astype("float32")[:, None]
    pred = (logit[:, 0] > 0).astype(int)
    for name, reference in (("precision", skm.precision_score), ("recall", skm.recall_score),
                            ("f1", skm.f1_score)):
        assert metric_value({"type": name, "from_logits": True}, y, logit) == \
            pytest.approx(reference(y, pred), abs=1e-5)
        probs = 1 / (1 + np.exp(-logit))
        assert metric_value(name, y, probs) == pytest.approx(reference(y, pred), abs=1e-5)


def test_sample_weights_count_like_repeated_examples():
    w = RNG.integers(1, 4, size=N).astype("float32")
    expected = skm.f1_score(Y, PRED, average="macro", sample_weight=w)
    assert metric_value("f1", Y, LOGITS, sample_weight=w) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_equals_sklearn(k):
    expected = skm.top_k_accuracy_score(Y, LOGITS, k=k, labels=range(C))
    value = metric_value({"type": "top_k_accuracy", "k": k}, Y, LOGITS)
    assert value == pytest.approx(expected, abs=1e-6)
    assert build_spec(registries.metrics, {"type": "top_k_accuracy", "k": k}).name == f"top_{k}_accuracy"


def test_roc_auc_one_vs_rest_equals_sklearn():
    expected = skm.roc_auc_score(Y, PROBS, multi_class="ovr", average="macro")
    assert metric_value({"type": "roc_auc", "from_logits": True}, Y, LOGITS) == pytest.approx(expected, abs=5e-3)
    assert metric_value("roc_auc", Y, PROBS) == pytest.approx(expected, abs=5e-3)
    # a per-class sigmoid of the logits would rank differently: the softmax is what matches sklearn
    assert metric_value({"type": "roc_auc", "from_logits": True, "num_thresholds": 1000}, Y, LOGITS) == \
        pytest.approx(expected, abs=1e-3)


def test_pr_auc_one_vs_rest_is_close_to_sklearns_average_precision():
    expected = np.mean([skm.average_precision_score(Y == c, PROBS[:, c]) for c in range(C)])
    value = metric_value({"type": "pr_auc", "from_logits": True, "num_thresholds": 1000}, Y, LOGITS)
    assert value == pytest.approx(expected, abs=0.02)  # Keras interpolates the curve; sklearn sums steps
    assert 0.25 < value < 1  # better than chance (the positive rate, 1/4)


def test_auc_with_one_output_is_binary():
    y = (RNG.random(80) < 0.5).astype(int)
    logit = (RNG.normal(size=80) + (2 * y - 1)).astype("float32")[:, None]
    expected = skm.roc_auc_score(y, logit[:, 0])
    assert metric_value({"type": "roc_auc", "from_logits": True}, y, logit) == pytest.approx(expected, abs=5e-3)


def test_auc_of_perfect_and_reversed_rankings():
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3, dtype="float32")[y] * 5
    assert metric_value({"type": "roc_auc", "from_logits": True}, y, perfect, batches=1) == pytest.approx(1.0)
    assert metric_value({"type": "pr_auc", "from_logits": True}, y, perfect, batches=1) == pytest.approx(1.0, abs=1e-3)
    assert metric_value({"type": "roc_auc", "from_logits": True}, y, -perfect, batches=1) == pytest.approx(0.0, abs=1e-3)


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    counts = accumulate(build_spec(registries.metrics, "confusion_matrix"), Y, LOGITS)
    np.testing.assert_array_equal(counts, skm.confusion_matrix(Y, PRED))
    normalized = accumulate(build_spec(registries.metrics, {"type": "confusion_matrix", "normalize": "true"}),
                            Y, PROBS)
    np.testing.assert_allclose(normalized, skm.confusion_matrix(Y, PRED, normalize="true"), rtol=1e-6)
    binary = build_spec(registries.metrics, {"type": "confusion_matrix", "from_logits": True})
    binary.update_state(np.array([1, 0, 1, 0]), np.array([[2.0], [-1.0], [-0.5], [0.3]], "float32"))
    np.testing.assert_array_equal(to_np(binary.result()), [[1, 1], [1, 1]])


def test_confusion_matrix_report_is_a_figure_and_the_counts():
    report = build_spec(registries.metrics, "confusion_matrix")
    assert is_test_split_report(report)
    artifacts = report.test_split_report(Y, LOGITS)
    assert set(artifacts) == {"plots/confusion_matrix.png", "confusion_matrix.json"}
    assert hasattr(artifacts["plots/confusion_matrix.png"], "savefig")
    assert artifacts["confusion_matrix.json"]["counts"] == skm.confusion_matrix(Y, PRED).tolist()
    again = report.test_split_report(Y[:10], LOGITS[:10])  # each report starts from zero
    assert np.sum(again["confusion_matrix.json"]["counts"]) == 10
    import matplotlib.pyplot as plt

    plt.close("all")


def test_only_the_confusion_matrix_is_kept_out_of_compile():
    plan, problems = plan_recipe({
        "data": {"source": "digits"}, "model": {"layers": [{"type": "dense", "units": 10}]},
        "train": {"epochs": 1, "loss": {"type": "sparse_categorical_crossentropy", "from_logits": True},
                  "metrics": ["accuracy", "f1", "confusion_matrix", {"type": "top_k_accuracy", "k": 3}]}})
    assert not problems
    compiled, reports = build_metrics(plan)
    assert [getattr(m, "name", m) for m in compiled] == ["accuracy", "f1", "top_3_accuracy"]
    assert [r.name for r in reports] == ["confusion_matrix"]


NEW_METRICS = ["precision", "recall", "f1", {"type": "f1", "average": "weighted", "from_logits": True},
               "roc_auc", {"type": "pr_auc", "from_logits": True, "num_thresholds": 50},
               {"type": "top_k_accuracy", "k": 2}, {"type": "confusion_matrix", "normalize": "pred"}]


@pytest.mark.parametrize("spec", NEW_METRICS, ids=str)
def test_new_metrics_round_trip_their_config_and_state(spec):
    metric = build_spec(registries.metrics, spec)
    config = metric.get_config()
    clone = type(metric).from_config(config)
    assert clone.get_config() == config
    with tensorflow_probe_disabled():
        restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is type(metric) and restored.get_config() == config
    np.testing.assert_allclose(accumulate(restored, Y, PROBS), accumulate(metric, Y, PROBS), rtol=1e-6)


def test_metrics_work_compiled_into_a_model():
    """Traced into the compiled step on integer labels with a logits model, as a recipe uses them."""
    x = RNG.normal(size=(64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, kernel_initializer="orthogonal")])
    metrics = [build_spec(registries.metrics, s) for s in
               ("precision", "recall", "f1", {"type": "roc_auc", "from_logits": True},
                {"type": "pr_auc", "from_logits": True}, {"type": "top_k_accuracy", "k": 2})]
    model.compile(optimizer="adam", loss=build_spec(registries.losses, {"type": "focal", "from_logits": True}),
                  metrics=metrics)
    scores = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert {"precision", "recall", "f1", "roc_auc", "pr_auc", "top_2_accuracy"} <= set(scores)
    logits = model.predict(x, batch_size=64, verbose=0)
    probs = to_np(keras.ops.softmax(logits))
    pred = logits.argmax(1)
    assert scores["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-5)
    assert scores["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0),
                                                abs=1e-5)
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"), abs=0.01)
    assert scores["top_2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, logits, k=2), abs=1e-6)
