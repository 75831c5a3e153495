"""Every entry of every registry, tested automatically (timm style): a new component cannot go untested.

Parametrized over `pipeline.registries.ALL` at collection time, so registering a component adds its
cases here with no edit to this file. Each entry must:
  (a) build from its defaults, through the registry as a recipe builds it (required arguments come
      from `SAMPLES`, keyed by parameter name; a required argument missing there FAILS, asking the
      author to add a sample), into the kind of object its kind promises;
  (b) for what Keras saves or serializes (layers, initializers, regularizers, constraints, losses,
      schedules, Keras metrics, optimizers): round-trip `get_config` -> `from_config` to an equal
      config, and through `keras.<kind>.serialize/deserialize` (what a saved, compiled model needs);
  (c) in a tiny model (layers directly; initializers, regularizers, constraints inside a dense layer;
      activations as an activation layer): save to `.keras` and reload with identical predictions;
      losses, metrics, optimizers and schedules in a compiled model: reload with the same compile
      config (what a run's saved model needs to be trained further or evaluated).
A kind added to `registries.ALL` must get a check in `KIND_CHECKS` (test_every_kind_has_a_check).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.components import build_spec, parameters
from pipeline.data import Dataset
from pipeline.keras_compat import save_model, tensorflow_probe_disabled

HERE = "tests/test_registry_roundtrip.py"

# -- sample values for required arguments, keyed by parameter name ------------------------------------
# Small on purpose (fast tests). A callable gets the test's tmp_path (files a component reads).


def _npz_file(tmp_path) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path / "sample.npz"
    np.savez(path, x=rng.normal(size=(12, 4)).astype("float32"), y=np.arange(12) % 3)
    return str(path)


def _csv_file(tmp_path) -> str:
    path = tmp_path / "sample.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{'xy'[i % 2]}\n" for i in range(8)))
    return str(path)


def _npy_file(name: str, array):
    def write(tmp_path) -> str:
        np.save(tmp_path / f"{name}.npy", array)
        return str(tmp_path / f"{name}.npy")

    return write


def _image_folder(tmp_path) -> str:
    from PIL import Image

    for colour in ("red", "blue"):
        (tmp_path / "images" / colour).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (5, 4), colour).save(tmp_path / "images" / colour / f"{i}.png")
    return str(tmp_path / "images")


SAMPLES = {
    "units": 3,
    "filters": 2,
    "kernel_size": 3,
    "rate": 0.25,
    "milestones": [1],
    "target_shape": [-1],          # reshape: flattens whatever input the test picks
    "fn": "relu",                  # the activation layer
    "path": _npz_file,             # npz dataset
    "stddev": 0.1,                 # gaussian noise
    "file": _csv_file,             # csv dataset
    "x_path": _npy_file("x", np.arange(12, dtype="float32").reshape(6, 2)),  # npy dataset
    "y_path": _npy_file("y", np.arange(6) % 2),
    "root": _image_folder,         # image_folder dataset
    "height": 4,                   # resize
    "width": 4,
    "scale": 0.5,                  # rescale
    "shape": [4, 2],               # synthetic dataset
}

#: Extra arguments that keep a slow default fast (not required ones: those live in SAMPLES).
FAST = {
    ("datasets", "mnist1d"): {"num_samples": 100},
    ("layers", "keras_application"): {"architecture": "VGG16"},   # 20 layers: the quickest to compile
    ("datasets", "shapes"): {"num_samples": 20, "num_test": 10},
    ("datasets", "shapes_segmentation"): {"num_samples": 20, "num_test": 10},
}

#: Inputs of layers that need more than one tensor, a particular rank, or several cases: each
#: entry is a list of input sets, every one tested with a fresh layer (shapes without the batch
#: axis). Other layers get the first of DEFAULT_INPUTS they accept.
LAYER_INPUTS: dict[str, list[list[tuple[int, ...]]]] = {
    "add": [[(8, 3), (8, 3)]],
    "concatenate": [[(8, 3), (8, 3)]],
    "group_norm": [[(4, 32)]],                       # its default of 32 groups needs 32 channels
    "residual_block": [[(8, 3)], [(8, 8, 2)]],       # 1-D with projection, 2-D identity (filters=2)
    "unet_up": [[(4, 4, 3), (8, 8, 2)]],             # [x, skip]: x is upsampled to the skip's size
    "resize": [[(8, 8, 3)]],
    "keras_application": [[(32, 32, 3)]],            # the smallest input Keras Applications accept
}
DEFAULT_INPUTS: list[list[tuple[int, ...]]] = [[(8, 3)], [(8, 8, 3)]]

#: Known failures caused by a component (not by this test): {(kind, name): {aspect: reason}}, with
#: aspect one of "build", "config", "saved", "compiled", "step". Strict: once the component is
#: fixed the test fails until its line here is removed.
XFAIL: dict[tuple[str, str], dict[str, str]] = {}

#: Callbacks that build to something other than a `keras.callbacks.Callback` (e.g. a marker the
#: trainer turns into something else): {name: why}.
CALLBACK_MARKERS: dict[str, str] = {}

BATCH = 2


def entries(*kinds: str, aspect: str = "build") -> list:
    """pytest params `kind/name` for every entry of `kinds` (default: every registry)."""
    out = []
    for kind, registry in registries.ALL.items():
        if kinds and kind not in kinds:
            continue
        for name in registry.names():
            reason = XFAIL.get((kind, name), {}).get(aspect)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(kind, name, id=f"{kind}/{name}", marks=marks))
    return out


def spec_for(kind: str, name: str, tmp_path) -> dict:
    """`{type: name}` plus a sample for every required argument (and the FAST extras)."""
    entry = registries.ALL[kind].get(name)
    spec: dict = {"type": name, **FAST.get((kind, name), {})}
    for arg, param in parameters(entry).items():
        if param.default is param.empty and arg not in spec:
            if arg not in SAMPLES:
                pytest.fail(f"{registries.ALL[kind].singular} '{name}' has a required argument '{arg}' "
                            f"with no sample value: add one to SAMPLES in {HERE} (e.g. "
                            f"SAMPLES[{arg!r}] = ...), so the component is built and tested like "
                            f"every other", pytrace=False)
            value = SAMPLES[arg]
            spec[arg] = value(tmp_path) if callable(value) else value
    return spec


def build(kind: str, name: str, tmp_path):
    return build_spec(registries.ALL[kind], spec_for(kind, name, tmp_path))


def rng_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(BATCH, *shape)).astype("float32")


def to_np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def make_schedule(make):
    """What the trainer does with a schedule factory's result (pipeline/model/training.py)."""
    return make(0.1, 10, 5)  # learning_rate, steps_per_epoch, epochs

pytestmark = pytest.mark.usefixtures("backend_started")


@pytest.fixture(autouse=True)
def no_tensorflow_probe():
    """Keras imports TensorFlow (seconds) to probe for TF objects whenever it serializes (any
    `get_config` with nested objects); the pipeline skips that probe on other backends, so do we."""
    with tensorflow_probe_disabled():
        yield


# -- (a) builds from its defaults into the kind's object ----------------------------------------------
def _is_layer(obj, name):
    assert isinstance(obj, keras.layers.Layer), f"expected a keras Layer. Received: {obj!r}"


def _is_activation(obj, name):
    assert callable(obj), f"expected a callable activation. Received: {obj!r}"
    x = keras.ops.convert_to_tensor(np.linspace(-3, 3, 12, dtype="float32").reshape(2, 6))
    y = to_np(obj(x))
    assert y.shape == (2, 6) and np.isfinite(y).all()


def _is_initializer(obj, name):
    assert isinstance(obj, keras.initializers.Initializer), f"expected a keras Initializer. Received: {obj!r}"
    w = to_np(obj((4, 3), dtype="float32"))
    assert w.shape == (4, 3) and np.isfinite(w).all()


def _is_regularizer(obj, name):
    assert isinstance(obj, keras.regularizers.Regularizer), f"expected a keras Regularizer. Received: {obj!r}"
    penalty = float(to_np(obj(keras.ops.convert_to_tensor(np.full((4, 3), 0.5, "float32")))))
    assert math.isfinite(penalty) and penalty >= 0


def _is_constraint(obj, name):
    assert isinstance(obj, keras.constraints.Constraint), f"expected a keras Constraint. Received: {obj!r}"
    w = np.random.default_rng(0).normal(size=(4, 3)).astype("float32") * 5
    assert to_np(obj(keras.ops.convert_to_tensor(w))).shape == (4, 3)


def _is_optimizer(obj, name):
    assert isinstance(obj, keras.optimizers.Optimizer), f"expected a keras Optimizer. Received: {obj!r}"


def _is_schedule(obj, name):
    assert callable(obj), (f"expected a schedule factory make(learning_rate, steps_per_epoch, epochs). "
                           f"Received: {obj!r}")
    schedule = make_schedule(obj)
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule), \
        f"expected make(...) to return a keras LearningRateSchedule. Received: {schedule!r}"
    values = [float(to_np(schedule(step))) for step in (0, 1, 10, 25, 49, 60)]
    # the recipe's learning rate is the schedule's peak (training.py): never negative, never above it
    assert all(math.isfinite(v) and 0 <= v <= 0.1 * (1 + 1e-6) for v in values), values


def _is_loss(obj, name):
    assert isinstance(obj, keras.losses.Loss), f"expected a keras Loss. Received: {obj!r}"


def _is_metric(obj, name):
    if isinstance(obj, str):  # Keras resolves a few names itself, e.g. 'accuracy' from the loss
        assert obj, "empty metric name"
        return
    assert isinstance(obj, keras.metrics.Metric), \
        f"expected a keras Metric or a metric name. Received: {obj!r}"


def _is_callback(obj, name):
    if name in CALLBACK_MARKERS:
        return
    assert isinstance(obj, keras.callbacks.Callback), (
        f"expected a keras Callback. Received: {obj!r} (a deliberate marker object goes into "
        f"CALLBACK_MARKERS in {HERE}, with the reason)")


def _is_dataset(obj, name):
    assert isinstance(obj, Dataset), f"expected a pipeline.data.Dataset. Received: {obj!r}"
    assert len(obj.x) == len(obj.y) > 0
    if obj.has_test:
        assert obj.x_test.shape[1:] == obj.x.shape[1:]


def _is_preprocessor(obj, name):
    assert hasattr(obj, "fit") and hasattr(obj, "transform"), f"expected fit/transform. Received: {obj!r}"
    x = np.random.default_rng(0).normal(3, 2, size=(16, 4)).astype("float32")
    fitted = obj.fit(x)  # fitted on training data only, then applied to every split
    out = (fitted if fitted is not None else obj).transform(x)
    assert np.asarray(out).shape == x.shape and np.isfinite(out).all()


def _is_mixer(obj, name):
    assert callable(obj), f"expected a mixer f(x, y, rng) -> (x, y). Received: {obj!r}"
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 16, 2)).astype("float32"), np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    x_mixed, y_mixed = obj(x, y, rng)
    assert x_mixed.shape == x.shape and np.isfinite(x_mixed).all()
    np.testing.assert_allclose(y_mixed.sum(axis=1), 1, rtol=1e-6)


def _is_remedy(obj, name):
    import copy

    from pipeline.recipe import load_recipe
    from pipeline.remedy import Context, Remedy
    from tests.conftest import REPO

    assert isinstance(obj, Remedy), f"expected a pipeline.remedy.Remedy. Received: {obj!r}"
    assert obj.fixes in ("bias", "variance") and obj.name
    tree = copy.deepcopy(load_recipe(REPO / "recipes" / "mnist1d-mlp.yaml").resolved)
    said = obj.change(tree, Context(input_shape=(40,), suggest_learning_rate=lambda recipe: 0.01))
    assert said is None or (isinstance(said, str) and said), said  # what it changed, or None: not applicable
    assert isinstance(tree, dict) and tree.get("model")


KIND_CHECKS = {
    "layers": _is_layer, "activations": _is_activation, "initializers": _is_initializer,
    "regularizers": _is_regularizer, "constraints": _is_constraint, "optimizers": _is_optimizer,
    "schedules": _is_schedule, "losses": _is_loss, "metrics": _is_metric, "callbacks": _is_callback,
    "datasets": _is_dataset, "preprocessors": _is_preprocessor, "mixers": _is_mixer, "remedies": _is_remedy,
}


def test_every_kind_has_a_check():
    missing = sorted(set(registries.ALL) - set(KIND_CHECKS))
    assert not missing, f"registries {missing} have no check: add one to KIND_CHECKS in {HERE}"


def test_every_registry_is_parametrized():
    """The parameter lists are built at collection time: nothing registered later is silently skipped."""
    ids = {p.id for p in entries()}
    assert ids == {f"{k}/{n}" for k, r in registries.ALL.items() for n in r.names()}
    layer_ids = {p.id.split("-")[0] for p in layer_cases()}
    assert layer_ids == {f"layers/{n}" for n in registries.layers.names()}


def test_a_required_argument_without_a_sample_fails_with_the_fix(tmp_path):
    @registries.layers.register("needs_a_sample")  # gone after this test (fresh registries)
    def needs_a_sample(units: int, wobble_factor: float):
        """A component with a required argument nobody has a sample for."""

    with pytest.raises(pytest.fail.Exception, match=r"layer 'needs_a_sample' has a required argument "
                       r"'wobble_factor' with no sample value: add one to SAMPLES in tests/"):
        spec_for("layers", "needs_a_sample", tmp_path)


@pytest.mark.parametrize("kind, name", entries())
def test_builds_from_its_defaults(kind, name, tmp_path):
    obj = build(kind, name, tmp_path)
    assert obj is not None, f"{registries.ALL[kind].singular} '{name}' built None"
    KIND_CHECKS.get(kind, lambda *_: None)(obj, name)


# -- (b) get_config -> from_config, and Keras (de)serialization -----------------------------------------
SERIALIZERS = {
    "layers": keras.layers, "initializers": keras.initializers, "regularizers": keras.regularizers,
    "constraints": keras.constraints, "losses": keras.losses, "metrics": keras.metrics,
    "optimizers": keras.optimizers, "schedules": keras.optimizers.schedules,
}


@pytest.mark.parametrize("kind, name", entries(*SERIALIZERS, aspect="config"))
def test_config_round_trips(kind, name, tmp_path):
    obj = build(kind, name, tmp_path)
    if kind == "schedules":
        obj = make_schedule(obj)
    if kind == "metrics" and isinstance(obj, str):
        assert keras.metrics.get(obj) is not None  # a name Keras resolves at compile time
        return
    config = obj.get_config()
    clone = type(obj).from_config(config)
    assert type(clone) is type(obj)
    assert clone.get_config() == config
    # What a saved model stores: registered name + config, resolved back to the same class.
    module = SERIALIZERS[kind]
    restored = module.deserialize(module.serialize(obj))
    assert type(restored) is type(obj), (
        f"{type(obj).__name__} did not deserialize to itself (got {type(restored).__name__}): register "
        f"it with @keras.saving.register_keras_serializable(package='pipeline')")
    assert restored.get_config() == config
    if kind == "schedules":
        for step in (0, 3, 17, 49):
            assert float(to_np(restored(step))) == pytest.approx(float(to_np(obj(step))), rel=1e-6)
        sgd = keras.optimizers.SGD(learning_rate=obj)  # a compiled model saves its optimizer too
        again = keras.optimizers.deserialize(keras.optimizers.serialize(sgd))
        assert again.get_config() == sgd.get_config()


# -- (c) in a tiny model: saves to .keras and reloads with identical predictions -----------------------
def saved_and_reloaded(model, inputs, tmp_path):
    """Predictions before and after a .keras save/reload, and the reloaded model."""
    before = to_np(model(inputs, training=False))
    path = tmp_path / "model.keras"
    save_model(model, path)
    reloaded = keras.saving.load_model(path)
    after = to_np(reloaded(inputs, training=False))
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7,
                               err_msg="predictions changed after saving and reloading")
    for a, b in zip(model.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(to_np(b), to_np(a), err_msg=f"weight {a.path} changed on reload")
    return reloaded


def model_around(layer, shapes):
    """A functional model whose only layer is `layer`, on inputs of `shapes`, and sample inputs."""
    tensors = [keras.Input(s) for s in shapes]
    inputs = tensors if len(tensors) > 1 else tensors[0]
    model = keras.Model(inputs, layer(inputs))
    arrays = [rng_input(s, seed=i) for i, s in enumerate(shapes)]
    return model, arrays if len(arrays) > 1 else arrays[0]


def layer_cases() -> list:
    """One case per layer, and one per input set for layers with several in LAYER_INPUTS."""
    cases = []
    for param in entries("layers", aspect="saved"):
        kind, name = param.values
        sets = LAYER_INPUTS.get(name)
        if sets is None or len(sets) == 1:
            cases.append(pytest.param(kind, name, sets[0] if sets else None, id=param.id, marks=param.marks))
        else:
            cases += [pytest.param(kind, name, shapes, marks=param.marks,
                                   id=f"{param.id}-" + "+".join("x".join(map(str, s)) for s in shapes))
                      for shapes in sets]
    return cases


@pytest.mark.parametrize("kind, name, shapes", layer_cases())
def test_layer_model_saves_and_reloads(kind, name, shapes, tmp_path):
    errors = []
    for candidate in [shapes] if shapes else DEFAULT_INPUTS:
        layer = build(kind, name, tmp_path)
        try:
            model, inputs = model_around(layer, candidate)
        except Exception as exc:
            if shapes:  # inputs from the table must fit
                raise
            errors.append(f"  inputs {candidate}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue  # the wrong rank for this layer: try the next default input
        reloaded = saved_and_reloaded(model, inputs, tmp_path)
        assert type(reloaded.layers[-1]) is type(layer)
        assert reloaded.layers[-1].get_config() == layer.get_config()
        return
    pytest.fail(f"layer '{name}' fits none of the default test inputs; give it an entry in "
                f"LAYER_INPUTS in {HERE}.\n" + "\n".join(errors), pytrace=False)


ROLE = {"initializers": "kernel_initializer", "regularizers": "kernel_regularizer",
        "constraints": "kernel_constraint"}


@pytest.mark.parametrize("kind, name", entries(*ROLE, aspect="saved"))
def test_weight_component_in_a_dense_layer_saves_and_reloads(kind, name, tmp_path):
    """Used as a recipe uses it: `{type: dense, kernel_<role>: {type: name, ...}}`."""
    role = ROLE[kind]
    dense = build_spec(registries.layers, {"type": "dense", "units": 3, role: spec_for(kind, name, tmp_path)})
    inputs = keras.Input((4,))
    model = keras.Model(inputs, dense(inputs))
    x = rng_input((4,))
    reloaded = saved_and_reloaded(model, x, tmp_path)
    original, restored = getattr(dense, role), getattr(reloaded.layers[-1], role)
    assert type(restored) is type(original)
    assert restored.get_config() == original.get_config()
    if kind == "regularizers":  # the penalty the loss adds is the same after reloading
        penalty = float(sum(to_np(v) for v in model.losses))
        assert float(sum(to_np(v) for v in reloaded.losses)) == pytest.approx(penalty, rel=1e-6)


@pytest.mark.parametrize("kind, name", entries("activations", aspect="saved"))
def test_activation_layer_saves_and_reloads(kind, name, tmp_path):
    """Used as `{type: activation, fn: name}` and as `{type: dense, activation: name}`."""
    spec = spec_for(kind, name, tmp_path)
    inputs = keras.Input((4,))
    hidden = build_spec(registries.layers, {"type": "dense", "units": 3, "activation": spec})(inputs)
    out = build_spec(registries.layers, {"type": "activation", "fn": spec})(hidden)
    model = keras.Model(inputs, out)
    saved_and_reloaded(model, np.linspace(-2, 2, 8, dtype="float32").reshape(2, 4), tmp_path)


COMPILE_KINDS = ("losses", "metrics", "optimizers", "schedules")


@pytest.mark.parametrize("kind, name", entries(*COMPILE_KINDS, aspect="compiled"))
def test_compiled_model_saves_and_reloads_its_training_setup(kind, name, tmp_path):
    """A model saved after `compile` (as a run saves it) reloads with the same loss, metrics and
    optimizer (schedule included): Keras rebuilds them from the saved compile config."""
    obj = build(kind, name, tmp_path)
    setup = {"loss": "mse", "optimizer": "sgd", "metrics": []}
    if kind == "losses":
        setup["loss"] = obj
    elif kind == "metrics":
        setup["metrics"] = [obj]
    elif kind == "optimizers":
        setup["optimizer"] = obj
    else:
        setup["optimizer"] = keras.optimizers.SGD(learning_rate=make_schedule(obj))
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile(**setup)
    model.optimizer.build(model.trainable_variables)  # as after training: its slots exist
    reloaded = saved_and_reloaded(model, rng_input((4,)), tmp_path)
    assert reloaded.get_compile_config() == model.get_compile_config()
    assert type(reloaded.optimizer) is type(model.optimizer)


# -- optimizers take a step --------------------------------------------------------------------------
@pytest.mark.parametrize("kind, name", entries("optimizers", aspect="step"))
def test_optimizer_takes_a_finite_step(kind, name, tmp_path):
    optimizer = build(kind, name, tmp_path)
    w = keras.Variable(np.array([1.0, -2.0], "float32"))
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(np.array([0.5, -0.5], "float32")), w)])
    value = to_np(w)
    assert np.isfinite(value).all() and not np.array_equal(value, [1.0, -2.0])
