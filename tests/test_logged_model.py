"""The run's model as an MLflow model, in a real store: loaded by `mlflow.pyfunc` in a fresh process
(raw inputs in, class names out, the run's test accuracy reproduced), served by `mlflow models serve`,
registered by `track: {register: NAME}`, linked to the run's metrics, and exported by `pipeline export`.
One run, trained once in a subprocess, is shared by the tests here; the regression case (predictions
in the targets' units) is in tests/test_regression_run.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from importlib.util import find_spec
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from pipeline.assemble import prepare_data
from pipeline.cli import main
from pipeline.recipe import RecipeError, load_recipe
from pipeline.search.workers import free_port
from tests.conftest import REPO

CLASSES = ("setosa", "versicolor", "virginica")
REGISTERED = "flowers-classifier"
RECIPE = """\
name: flowers
seed: 3
data:
  source: {{type: csv, file: {file}, label_column: species}}
  split: {{val: 0.2, test: 0.3}}
  preprocess: [standardize]
model:
  layers: [{{type: dense, units: 16, activation: relu}}, {{type: dense, units: 3}}]
train:
  epochs: 8
  optimizer: {{type: adam, learning_rate: 0.02}}
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
  metrics: [accuracy]
  verbose: 0
track: {{experiment: flowers, register: {registered}}}
"""


def env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax", **extra}


@pytest.fixture(scope="module")
def flowers(tmp_path_factory):
    """One finished run: three classes named by strings, features on scales 1 to 100 (standardized
    by the recipe), and the raw test split as the model's user has it."""
    folder = tmp_path_factory.mktemp("flowers")
    rng = np.random.default_rng(0)
    rows = ["a,b,c,species"]
    for name, centre in zip(CLASSES, [(0, 0, 5), (3, 1, 5), (0, 3, 5)]):
        rows += [",".join(f"{v:.4f}" for v in x) + f",{name}" for x in rng.normal(centre, 0.8, (100, 3)) * [1, 10, 100]]
    (folder / "flowers.csv").write_text("\n".join(rows) + "\n")
    recipe = folder / "flowers.yaml"
    recipe.write_text(RECIPE.format(file=folder / "flowers.csv", registered=REGISTERED))
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--tracking-uri", uri],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("flowers").experiment_id])[0]
    _, raw = prepare_data(load_recipe(recipe, ["data.preprocess=[]"]))  # the same split, unscaled
    np.save(folder / "x_test.npy", raw.x_test)
    return SimpleNamespace(folder=folder, uri=uri, run=run, model_uri=run.data.tags["model.uri"],
                           x_test=raw.x_test, labels=np.asarray(CLASSES)[raw.y_test], output=done.stdout + done.stderr)


FRESH = """\
import json, sys
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
out = model.predict(np.load(sys.argv[3]))
print(json.dumps({"labels": out["label"].tolist(), "sums": out.filter(like="probability_").sum(axis=1).tolist(),
                  "columns": list(out.columns)}))
"""


def test_pyfunc_in_a_fresh_process_takes_raw_inputs_and_reproduces_the_test_accuracy(flowers):
    done = subprocess.run([sys.executable, "-c", FRESH, flowers.uri, flowers.model_uri,
                           str(flowers.folder / "x_test.npy")], cwd=flowers.folder, env=env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["columns"] == ["label", *(f"probability_{c}" for c in CLASSES)]
    accuracy = np.mean(np.asarray(out["labels"]) == flowers.labels)
    assert accuracy == pytest.approx(flowers.run.data.metrics["test_accuracy"], abs=1e-6)
    assert accuracy > 0.8  # a model that learned (features unscaled would give ~1/3)
    assert np.allclose(out["sums"], 1, atol=1e-5)


def test_logging_the_model_adds_no_mlflow_chatter_to_the_runs_output(flowers):
    assert "MLflow run id" in flowers.output
    assert "Inferring model signature" not in flowers.output  # MLflow INFO; inferring it is what we ask


def test_logged_model_is_linked_to_the_run_and_its_end_of_run_metrics(flowers):
    client = MlflowClient(flowers.uri)
    run = client.get_run(flowers.run.info.run_id)
    (output,) = run.outputs.model_outputs  # the run's "Logged models"
    model = client.get_logged_model(output.model_id)
    assert model.source_run_id == run.info.run_id and model.experiment_id == run.info.experiment_id
    assert f"models:/{model.model_id}" == flowers.model_uri and model.status.to_proto() == 2  # READY
    linked = {m.key: m.value for m in model.metrics}
    assert linked["test_accuracy"] == run.data.metrics["test_accuracy"] and "fit_time_s" in linked
    assert "val_loss" not in linked  # per-epoch curves stay the run's
    assert model.params["train.epochs"] == "8"
    mlflow.set_tracking_uri(flowers.uri)  # models:/ URIs are read from the current store
    info = mlflow.models.get_model_info(flowers.model_uri)
    (spec,) = info.signature.inputs.to_dict()
    assert spec == {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": (-1, 3)}}
    assert info.saved_input_example_info is not None


def test_register_adds_a_version_and_is_validated(flowers, tmp_path):
    client = MlflowClient(flowers.uri)
    (version,) = client.search_model_versions(f"name = '{REGISTERED}'")
    assert version.run_id == flowers.run.info.run_id and version.source == flowers.model_uri
    recipe = tmp_path / "r.yaml"
    text = RECIPE.format(file=flowers.folder / "flowers.csv", registered="a/b")
    recipe.write_text(text)
    with pytest.raises(RecipeError, match=r"track\.register"):
        load_recipe(recipe)
    recipe.write_text(text.replace("register: a/b", "registr: x"))
    with pytest.raises(RecipeError, match="did you mean 'register'"):
        load_recipe(recipe)


def test_mlflow_models_serve_answers_a_scoring_request(flowers, tmp_path):
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", flowers.model_uri,
                                   "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=flowers.folder, env=env(MLFLOW_TRACKING_URI=flowers.uri),
                                  stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer /ping in 180 s"
                time.sleep(1)
        x = flowers.x_test[:20]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                         data=json.dumps({"inputs": x.tolist()}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            predictions = json.loads(answer.read())["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    logits = network_outputs(flowers, x.astype("float32"))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert [r["label"] for r in predictions] == [CLASSES[i] for i in logits.argmax(axis=1)]
    assert np.allclose([[r[f"probability_{c}"] for c in CLASSES] for r in predictions], p, atol=1e-5)


# -- pipeline export -----------------------------------------------------------------------------------
def export(*args, backend: str = "jax") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "export", *map(str, args)], cwd=REPO,
                          env=env(KERAS_BACKEND=backend), capture_output=True, text=True, timeout=300)


def network_outputs(flowers, x):
    """What the run's model/model.keras (preprocessing included) answers: the reference."""
    from pipeline.saving import load_model
    from pipeline.tracking.runs import download

    path = download(flowers.uri, flowers.run.info.run_id, "model/model.keras", flowers.folder)
    return load_model(path, compile=False).predict(x, verbose=0)


def test_export_keras_and_saved_model_predict_as_the_run(flowers, tmp_path, capsys):
    x = flowers.x_test.astype("float32")
    expected = network_outputs(flowers, x)
    assert main(["export", flowers.run.info.run_id, "--out", str(tmp_path / "m.keras"),
                 "--tracking-uri", flowers.uri]) == 0
    from pipeline.saving import load_model

    assert np.allclose(load_model(tmp_path / "m.keras").predict(x, verbose=0), expected, atol=1e-5)
    done = export(flowers.run.info.run_id, "--format", "saved_model", "--out", tmp_path / "sm",
                  "--tracking-uri", flowers.uri)
    assert done.returncode == 0, done.stderr[-3000:]
    np.save(tmp_path / "x.npy", x)
    read = ("import sys, numpy as np, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]);"
            "np.save(sys.argv[3], m.serve(np.load(sys.argv[2])).numpy())")
    subprocess.run([sys.executable, "-c", read, tmp_path / "sm", tmp_path / "x.npy", tmp_path / "y.npy"],
                   check=True, env=env(TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True, timeout=300)
    assert np.allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)


def test_export_onnx_where_the_backend_can_and_a_clear_refusal_where_it_cannot(flowers, tmp_path):
    import onnxruntime

    run_id = flowers.run.info.run_id
    refused = export(run_id, "--format", "onnx", "--out", tmp_path / "j.onnx", "--tracking-uri", flowers.uri)
    if find_spec("jax2onnx") is None:  # what Keras needs for ONNX on JAX
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "needs jax2onnx on the jax backend" in refused.stderr and "KERAS_BACKEND=tensorflow" in refused.stderr
        assert not (tmp_path / "j.onnx").exists()
    else:
        assert refused.returncode == 0, refused.stderr[-3000:]
    done = export(run_id, "--format", "onnx", "--out", tmp_path / "m.onnx", "--tracking-uri", flowers.uri,
                  backend="tensorflow")
    assert done.returncode == 0, done.stderr[-3000:]
    x = flowers.x_test.astype("float32")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    assert np.allclose(got, network_outputs(flowers, x), atol=1e-5)


def test_export_refuses_an_unknown_run_with_close_matches(flowers, tmp_path, capsys):
    run_id = flowers.run.info.run_id
    assert main(["export", run_id[:12], "--tracking-uri", flowers.uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no run") and f"did you mean {run_id}?" in err and "Traceback" not in err
    assert main(["export", run_id, "--out", str(tmp_path / "m.h5"), "--tracking-uri", flowers.uri]) == 2
    assert ".keras" in capsys.readouterr().err


def test_a_format_a_backend_cannot_write_names_the_backends_that_can():
    from pipeline.export import unsupported

    assert unsupported("keras", "torch") is None and unsupported("saved_model", "jax") is None
    assert unsupported("saved_model", "torch") == ("format saved_model cannot be written on the torch backend; the jax "
                                                   "backend can: KERAS_BACKEND=jax pipeline export ... --format saved_model")
