"""Optimizers follow the course's update rules, schedules its formulas, built as a recipe builds them.

Optimizers take a few steps on a known quadratic and are compared with the rule written by hand in
NumPy (the slides' pseudo-code). Schedules are evaluated at chosen steps through the trainer's own
path (`pipeline.model.training.build_optimizer`) or the schedule factory's `make`, and compared with
their formulas; warmup and round trips are parametrized over the registry, so a new schedule or
optimizer cannot go untested.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.model.training import build_optimizer, learning_rate_used
from pipeline.components import build_spec, parameters
from pipeline.keras_compat import tensorflow_probe_disabled
from pipeline.recipe.validate import plan_recipe

pytestmark = pytest.mark.usefixtures("backend_started")


def to_np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x.value if isinstance(x, keras.Variable) else x))


# -- optimizers: a few steps on f(w) = 1/2 sum(a w^2) - b.w, gradient a w - b -------------------------
A = np.array([1.0, 4.0, 0.25], dtype="float64")
B = np.array([0.5, -1.0, 2.0], dtype="float64")
W0 = np.array([1.0, -2.0, 3.0], dtype="float64")
STEPS = 4
LR = 0.1


def grad(w):
    return A * w - B


def keras_trajectory(spec, steps=STEPS, w0=W0):
    """w after each step, the gradient computed (in NumPy) at the optimizer's current w."""
    opt = build_spec(registries.optimizers, spec)
    w = keras.Variable(w0.astype("float32"))
    out = []
    for _ in range(steps):
        g = grad(to_np(w).astype("float64")).astype("float32")
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), w)])
        out.append(to_np(w).astype("float64"))
    return np.array(out)


def sgd_rule(lr=LR):
    w, out = W0.copy(), []
    for _ in range(STEPS):
        w = w - lr * grad(w)
        out.append(w)
    return np.array(out)


def momentum_rule(rho=0.9, lr=LR):
    """The slide: v = rho v + dx; x -= lr v."""
    w, v, out = W0.copy(), np.zeros(3), []
    for _ in range(STEPS):
        v = rho * v + grad(w)
        w = w - lr * v
        out.append(w)
    return np.array(out)


def nesterov_rule(rho=0.9, lr=LR):
    """The slide: v' = rho v - lr grad(x + rho v); x' = x + v'. Keras stores the look-ahead point
    x + rho v (Sutskever et al.'s change of variables), so that is what is compared."""
    x, v, out = W0.copy(), np.zeros(3), []
    for _ in range(STEPS):
        v = rho * v - lr * grad(x + rho * v)
        x = x + v
        out.append(x + rho * v)
    return np.array(out)


def adagrad_rule(lr=LR, eps=1e-7):
    """The slide: grad_squared += dx * dx; x -= lr * dx / (sqrt(grad_squared) + eps)."""
    w, gs, out = W0.copy(), np.zeros(3), []
    for _ in range(STEPS):
        g = grad(w)
        gs = gs + g * g
        w = w - lr * g / (np.sqrt(gs) + eps)
        out.append(w)
    return np.array(out)


def rmsprop_rule(rho=0.9, lr=LR, eps=1e-7, momentum=0.0, centered=False):
    """The slide's leaky grad_squared; optionally centered (minus the mean gradient squared) and
    with momentum on the scaled step (Keras' form)."""
    w, gs, mg, m, out = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for _ in range(STEPS):
        g = grad(w)
        gs = rho * gs + (1 - rho) * g * g
        mg = rho * mg + (1 - rho) * g
        step = lr * g / np.sqrt((gs - mg ** 2 if centered else gs) + eps)
        m = momentum * m + step
        w = w - m
        out.append(w)
    return np.array(out)


def adam_rule(lr=LR, beta1=0.9, beta2=0.999, eps=1e-7, weight_decay=0.0):
    """The slide's full form with bias correction; AdamW first shrinks w by lr * wd * w (decoupled:
    the decay never enters the moments)."""
    w, m, v, out = W0.copy(), np.zeros(3), np.zeros(3), []
    for t in range(1, STEPS + 1):
        g = grad(w)
        w = w - lr * weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return np.array(out)


RULES = {
    "sgd": ({"type": "sgd", "learning_rate": LR}, sgd_rule),
    "sgd+momentum": ({"type": "sgd", "learning_rate": LR, "momentum": 0.9}, momentum_rule),
    "nesterov": ({"type": "sgd", "learning_rate": LR, "momentum": 0.9, "nesterov": True}, nesterov_rule),
    "adagrad": ({"type": "adagrad", "learning_rate": LR, "initial_accumulator_value": 0.0}, adagrad_rule),
    "rmsprop": ({"type": "rmsprop", "learning_rate": LR}, rmsprop_rule),
    "rmsprop centered+momentum": ({"type": "rmsprop", "learning_rate": LR, "centered": True, "momentum": 0.5},
                                  lambda: rmsprop_rule(centered=True, momentum=0.5)),
    "adam": ({"type": "adam", "learning_rate": LR}, adam_rule),
    "adamw": ({"type": "adamw", "learning_rate": LR, "weight_decay": 0.5},
              lambda: adam_rule(weight_decay=0.5)),
}


@pytest.mark.parametrize("case", sorted(RULES))
def test_optimizer_steps_follow_the_rule_written_by_hand(case):
    spec, rule = RULES[case]
    np.testing.assert_allclose(keras_trajectory(spec), rule(), rtol=2e-5, atol=1e-6)


def test_every_builtin_optimizer_has_a_hand_written_rule():
    covered = {spec["type"] for spec, _ in RULES.values()}
    builtin = {e.name for e in registries.optimizers.entries() if e.provider.plugin == "builtin"}
    assert builtin <= covered, f"no NumPy rule for {sorted(builtin - covered)}"


def test_adam_bias_correction_makes_the_first_step_lr_sized():
    """Without the correction the first step would be lr * 0.1 / sqrt(0.001) ~ 3.2 lr."""
    w = keras_trajectory({"type": "adam", "learning_rate": 0.01}, steps=1)[0]
    np.testing.assert_allclose(np.abs(w - W0), 0.01, rtol=1e-4)


def test_adagrad_steps_shrink_but_rmsprop_steps_do_not():
    """AdaGrad's sum of squares only grows; RMSProp's leaky average forgets (constant gradient)."""
    def steps(spec):
        opt = build_spec(registries.optimizers, spec)
        w = keras.Variable(np.zeros(1, "float32"))
        values = [0.0]
        for _ in range(30):
            opt.apply_gradients([(keras.ops.convert_to_tensor(np.ones(1, "float32")), w)])
            values.append(float(to_np(w)[0]))
        return -np.diff(values)

    ada = steps({"type": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.0})
    np.testing.assert_allclose(ada, 0.1 / np.sqrt(np.arange(1, 31)), rtol=1e-5)  # lr / sqrt(t)
    rms = steps({"type": "rmsprop", "learning_rate": 0.1, "rho": 0.9})
    assert rms[-1] == pytest.approx(0.1, rel=0.05) and rms[-1] > 5 * ada[-1]


def test_adamw_decay_is_decoupled_from_the_gradient():
    """Zero gradient: AdamW still shrinks w by exactly (1 - lr * wd); L2 in the loss would have moved
    it by ~lr (Adam normalizes the gradient), whatever the weight's size."""
    opt = build_spec(registries.optimizers, {"type": "adamw", "learning_rate": 0.1, "weight_decay": 0.2})
    w = keras.Variable(np.array([5.0, -0.01], "float32"))
    opt.apply_gradients([(keras.ops.zeros((2,)), w)])
    np.testing.assert_allclose(to_np(w), [5.0 * 0.98, -0.01 * 0.98], rtol=1e-6)


CLIPS = [("clipnorm", 1.0, lambda gs: [g * min(1, 1 / np.linalg.norm(g)) for g in gs]),
         ("clipvalue", 0.5, lambda gs: [np.clip(g, -0.5, 0.5) for g in gs]),
         ("global_clipnorm", 1.0,
          lambda gs: [g * min(1, 1 / math.sqrt(sum(np.sum(x ** 2) for x in gs))) for g in gs])]


@pytest.mark.parametrize("option, value, clip", CLIPS, ids=[c[0] for c in CLIPS])
@pytest.mark.parametrize("name", registries.optimizers.names())
def test_every_optimizer_clips_gradients(name, option, value, clip):
    """A clipped optimizer given g moves exactly as the unclipped one given clip(g). Two steps, a
    large gradient then a small one: Adam-like first steps ignore the gradient's scale."""
    steps = [[np.array([3.0, -4.0]), np.array([0.3, 0.1])], [np.array([0.2, 0.1]), np.array([-0.1, 0.05])]]

    def run(spec, grads_per_step):
        opt = build_spec(registries.optimizers, spec)
        ws = [keras.Variable(np.ones(2, "float32")), keras.Variable(np.ones(2, "float32"))]
        for gs in grads_per_step:
            opt.apply_gradients([(keras.ops.convert_to_tensor(np.asarray(g, "float32")), w)
                                 for g, w in zip(gs, ws)])
        return np.concatenate([to_np(w) for w in ws])

    clipped = run({"type": name, "learning_rate": 0.1, option: value}, steps)
    by_hand = run({"type": name, "learning_rate": 0.1}, [clip(gs) for gs in steps])
    np.testing.assert_allclose(clipped, by_hand, rtol=1e-5, atol=1e-7)
    assert not np.allclose(clipped, run({"type": name, "learning_rate": 0.1}, steps), rtol=1e-4)


def test_only_one_clipping_option_at_a_time():
    with pytest.raises(ValueError, match="Only one of"):
        build_spec(registries.optimizers, {"type": "adam", "clipnorm": 1.0, "global_clipnorm": 1.0})


# -- schedules: formulas at chosen steps -------------------------------------------------------------
SPE, EPOCHS, LR0 = 10, 6, 0.2
T = SPE * EPOCHS


def values(schedule, steps) -> np.ndarray:
    steps = np.asarray(steps)
    if keras.backend.backend() == "jax":  # one compiled call instead of one eager call per step
        import jax

        return np.asarray(jax.jit(jax.vmap(schedule))(steps), dtype=np.float64)
    return np.array([float(to_np(schedule(s))) for s in steps])


def curve(spec, lr=LR0, steps_per_epoch=SPE, epochs=EPOCHS, extra=5):
    """The rate at every step of training (and a few after), from the factory's `make`."""
    schedule = build_spec(registries.schedules, spec)(lr, steps_per_epoch, epochs)
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    return values(schedule, np.arange(steps_per_epoch * epochs + extra))


def test_cosine_is_half_a0_one_plus_cos_pi_t_over_t():
    t = np.arange(T + 1)
    np.testing.assert_allclose(curve("cosine")[:T + 1], 0.5 * LR0 * (1 + np.cos(np.pi * t / T)),
                               rtol=1e-5, atol=1e-7)


def test_cosine_after_warmup_spans_the_remaining_steps():
    w = 2 * SPE
    t = np.arange(w, T + 1)
    expected = 0.5 * LR0 * (1 + np.cos(np.pi * (t - w) / (T - w)))
    np.testing.assert_allclose(curve({"type": "cosine", "warmup_epochs": 2})[w:T + 1], expected, rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("k", [0.5, 2.0])
def test_inverse_time_is_a0_over_one_plus_k_t(k):
    t = np.arange(T)
    np.testing.assert_allclose(curve({"type": "inverse_time", "decay_rate": k})[:T],
                               LR0 / (1 + k * t / SPE), rtol=1e-5)  # t in epochs


def test_inverse_sqrt_is_a0_over_sqrt_t():
    lrs = curve("inverse_sqrt")
    t = np.arange(SPE, T)
    np.testing.assert_allclose(lrs[SPE:T], LR0 / np.sqrt(t / SPE), rtol=1e-5)  # t in epochs, from 1
    np.testing.assert_allclose(lrs[:SPE], LR0)  # flat until t = 1 epoch
    assert lrs[4 * SPE] == pytest.approx(LR0 / 2, rel=1e-6)  # 1/sqrt(4)


def test_inverse_sqrt_after_warmup_continues_without_a_jump():
    """The Transformer's rule: a0 sqrt(W / t) after a warmup of W steps."""
    w = 2 * SPE
    lrs = curve({"type": "inverse_sqrt", "warmup_epochs": 2})
    t = np.arange(w, T)
    np.testing.assert_allclose(lrs[w:T], LR0 * np.sqrt(w / t), rtol=1e-5)
    assert lrs[w - 1] < lrs[w] == pytest.approx(LR0)


def test_step_drops_by_the_factor_at_each_milestone():
    lrs = curve({"type": "step", "milestones": [2, 4], "factor": 0.1})
    np.testing.assert_allclose(lrs[:2 * SPE], LR0, rtol=1e-6)
    np.testing.assert_allclose(lrs[2 * SPE:4 * SPE], LR0 * 0.1, rtol=1e-6)
    np.testing.assert_allclose(lrs[4 * SPE:], LR0 * 0.01, rtol=1e-6)


def test_step_milestones_stay_at_their_epochs_with_warmup():
    lrs = curve({"type": "step", "milestones": [3], "factor": 0.5, "warmup_epochs": 1})
    np.testing.assert_allclose(lrs[SPE:3 * SPE], LR0, rtol=1e-6)
    np.testing.assert_allclose(lrs[3 * SPE:], LR0 / 2, rtol=1e-6)


def test_exponential_is_a0_decay_rate_to_the_t():
    lrs = curve({"type": "exponential", "decay_rate": 0.5})
    t = np.arange(T)
    np.testing.assert_allclose(lrs[:T], LR0 * 0.5 ** (t / SPE), rtol=1e-5)
    # the course's a0 exp(-k t) is decay_rate = exp(-k)
    k = 0.3
    np.testing.assert_allclose(curve({"type": "exponential", "decay_rate": math.exp(-k)})[:T],
                               LR0 * np.exp(-k * t / SPE), rtol=1e-5)


def test_exponential_staircase_decays_once_per_epoch():
    lrs = curve({"type": "exponential", "decay_rate": 0.5, "staircase": True})
    t = np.arange(T)
    np.testing.assert_allclose(lrs[:T], LR0 * 0.5 ** (t // SPE), rtol=1e-6)


def test_linear_is_a0_one_minus_t_over_t():
    t = np.arange(T + 1)
    np.testing.assert_allclose(curve("linear")[:T + 1], LR0 * (1 - t / T), rtol=1e-5, atol=1e-7)
    ending = curve({"type": "linear", "end_fraction": 0.1})
    np.testing.assert_allclose(ending[:T + 1], LR0 * (0.1 + 0.9 * (1 - t / T)), rtol=1e-5)
    np.testing.assert_allclose(ending[T:], 0.1 * LR0, rtol=1e-5)  # stays at the end value


# -- warmup composes with every schedule -------------------------------------------------------------
#: Arguments a schedule needs (or that make its decay visible) in the warmup and round-trip tests.
EXAMPLES = {"step": {"milestones": [4]}}


def schedule_names():
    return registries.schedules.names()


@pytest.mark.parametrize("name", schedule_names())
@pytest.mark.parametrize("warmup_epochs", [1, 2.5])
def test_every_schedule_warms_up_linearly_from_zero(name, warmup_epochs):
    spec = {"type": name, **EXAMPLES.get(name, {}), "warmup_epochs": warmup_epochs}
    lrs = curve(spec)
    w = round(warmup_epochs * SPE)
    np.testing.assert_allclose(lrs[:w + 1], LR0 * np.arange(w + 1) / w, rtol=1e-5, atol=1e-8)
    assert lrs.max() == pytest.approx(LR0, rel=1e-6)  # the peak is the learning rate


@pytest.mark.parametrize("name", schedule_names())
def test_every_schedule_starts_at_the_learning_rate_without_warmup(name):
    lrs = curve({"type": name, **EXAMPLES.get(name, {})})
    assert lrs[0] == pytest.approx(LR0, rel=1e-6) and lrs.max() == pytest.approx(LR0, rel=1e-6)


@pytest.mark.parametrize("name", schedule_names())
@pytest.mark.parametrize("warmup_epochs", [0, 2])
def test_every_schedule_round_trips_with_and_without_warmup(name, warmup_epochs):
    schedule = build_spec(registries.schedules, {"type": name, **EXAMPLES.get(name, {}),
                                                 "warmup_epochs": warmup_epochs})(LR0, SPE, EPOCHS)
    with tensorflow_probe_disabled():  # as the pipeline saves: no TensorFlow import on JAX
        restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(restored) is type(schedule)
    assert type(restored).from_config(schedule.get_config()).get_config() == schedule.get_config()
    steps = [0, 7, 20, 33, 59, 70]
    np.testing.assert_allclose(values(restored, steps), values(schedule, steps), rtol=1e-6)


def test_every_schedule_accepts_warmup_epochs():
    for entry in registries.schedules.entries():
        assert "warmup_epochs" in parameters(entry), f"schedule '{entry.name}' takes no warmup_epochs"


@pytest.mark.parametrize("spec, message", [
    ({"type": "cosine", "warmup_epochs": -1}, "warmup_epochs: expected float (>= 0). Received: -1"),
    ({"type": "exponential", "decay_rate": 1.5}, "decay_rate: expected float (> 0, <= 1). Received: 1.5"),
    ({"type": "inverse_sqrt", "timescale_epochs": 0}, "timescale_epochs: expected float (> 0). Received: 0")])
def test_schedule_arguments_out_of_range_are_refused(spec, message):
    with pytest.raises(ValueError) as error:
        build_spec(registries.schedules, spec)
    assert str(error.value) == message


# -- the trainer's path: build_optimizer, scale_lr_with_batch ----------------------------------------
def plan(train: dict):
    recipe = {"data": {"source": {"type": "digits"}},
              "model": {"layers": [{"type": "dense", "units": 2}]},
              "train": {"epochs": EPOCHS, "loss": "sparse_categorical_crossentropy", **train}}
    built, problems = plan_recipe(recipe)
    assert not problems, problems
    return built


def rates(optimizer, steps):
    """What the optimizer uses at each of `steps` (its `iterations` set to that step)."""
    out = []
    for step in steps:
        optimizer.iterations.assign(step)
        out.append(float(to_np(optimizer.learning_rate)))
    return np.array(out)


def test_build_optimizer_gives_the_schedule_the_optimizers_learning_rate():
    opt = build_optimizer(plan({"optimizer": {"type": "sgd", "learning_rate": LR0, "momentum": 0.9},
                                "schedule": {"type": "cosine", "warmup_epochs": 1}}), SPE)
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9
    t = np.array([0, 5, 10, 35, 60])
    expected = [0.0, LR0 / 2, LR0, 0.5 * LR0 * (1 + math.cos(math.pi * 25 / 50)), 0.0]
    np.testing.assert_allclose(rates(opt, t), expected, rtol=1e-5, atol=1e-7)


def test_build_optimizer_uses_the_optimizer_default_as_the_peak():
    opt = build_optimizer(plan({"optimizer": "adam", "schedule": "inverse_sqrt"}), SPE)
    np.testing.assert_allclose(rates(opt, [0, 4 * SPE]), [0.001, 0.0005], rtol=1e-5)


@pytest.mark.parametrize("batch_size, expected", [(256, 0.1), (512, 0.2), (64, 0.025)])
def test_scale_lr_with_batch_is_the_linear_scaling_rule(batch_size, expected):
    train = {"optimizer": {"type": "sgd", "learning_rate": 0.1}, "batch_size": batch_size,
             "scale_lr_with_batch": 256}
    assert learning_rate_used(plan(train)) == pytest.approx(expected)
    np.testing.assert_allclose(rates(build_optimizer(plan(train), SPE), [0]), expected, rtol=1e-6)
    # ... and a schedule peaks at the scaled rate
    scheduled = build_optimizer(plan({**train, "schedule": {"type": "linear", "warmup_epochs": 1}}), SPE)
    np.testing.assert_allclose(rates(scheduled, [5, SPE]), [expected / 2, expected], rtol=1e-5)


def test_without_the_rule_the_learning_rate_is_the_recipes():
    p = plan({"optimizer": {"type": "sgd", "learning_rate": 0.1}, "batch_size": 512})
    assert learning_rate_used(p) == 0.1
    np.testing.assert_allclose(rates(build_optimizer(p, SPE), [0]), 0.1, rtol=1e-6)


def test_scale_lr_with_batch_must_be_a_positive_integer():
    _, problems = plan_recipe({"data": {"source": "digits"}, "model": {"layers": [{"type": "dense", "units": 2}]},
                               "train": {"epochs": 1, "loss": "sparse_categorical_crossentropy", "scale_lr_with_batch": 0}})
    assert [p.path for p in problems] == [("train", "scale_lr_with_batch")]
