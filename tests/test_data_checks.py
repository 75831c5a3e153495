"""Data checks before training (issue 13): what a recipe's data cannot be trained on is a recipe error,
exit 2 at the line of `data.source` (or of the output layer), never a FAILED run and never a run that
finishes "successfully" on nonsense (3 output units for 10 classes, a NaN cell, negative labels)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest

from pipeline.cli import main
from pipeline.data.checks import check_outputs
from pipeline.data.split import Splits
from pipeline.errors import DataError, printable
from pipeline.recipe import load_recipe

RECIPE = """\
seed: 1
data:
  source: {source}
  split: {{val: 0.2, test: 0.2}}
model:
  layers:
    - {{type: flatten}}
    - {{type: dense, units: {units}}}
train:
  epochs: 1
  batch_size: 16
  verbose: 0
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
track: {{experiment: checks, log_model: false}}
diagnostics: {{verdict: false}}
"""
REGRESSION_HINT = "(a regression target needs the recipe's task to be regression)"
BY_VALIDATE = {"missing", "csv is a folder", "csv is a fifo", "csv is /dev/zero"}  # found with no data read


def _data(tmp_path: Path) -> dict[str, str]:
    """Write the data files; return the source spec of each case."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)).astype("float32"), np.arange(60) % 3
    nan_x = x.copy()
    nan_x[7, 2] = np.nan
    arrays = {"good": (x, y), "negative": (x, y - 1), "fractional": (x, y + 0.5), "nan": (nan_x, y),
              "short": (x, y[:-5]), "strings": (np.array(["a"] * 60), y), "flat": (x[:, 0], y), "empty": (x[:0], y[:0])}
    for name, (features, labels) in arrays.items():
        np.savez(tmp_path / f"{name}.npz", x=features, y=labels)
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    header = [f"feature_{i}" for i in range(30)] + ["species"]
    rows = [[f"{v:.3f}" for v in rng.normal(size=30)] + [("cat", "dog", "mouse")[i % 3]] for i in range(45)]
    rows[4][3] = "nan"
    (tmp_path / "nan.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    rows[4][3] = "0.5"
    (tmp_path / "wide.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    (tmp_path / "latin1.csv").write_bytes("a,b\n1,é\n".encode("latin-1"))
    (tmp_path / "folder.csv").mkdir()
    os.mkfifo(tmp_path / "pipe.csv")
    npz = "{{type: npz, path: {}}}".format
    return {name: npz(tmp_path / f"{name}.npz") for name in [*arrays, "text"]} | {
        "missing": npz(tmp_path / "nowhere.npz"),
        "label column typo": f"{{type: csv, file: {tmp_path / 'wide.csv'}, label_column: specis}}",
        "nan cell": f"{{type: csv, file: {tmp_path / 'nan.csv'}, label_column: species}}",
        "latin-1 csv": f"{{type: csv, file: {tmp_path / 'latin1.csv'}}}",
        "csv is a folder": f"{{type: csv, file: {tmp_path / 'folder.csv'}}}",
        "csv is a fifo": f"{{type: csv, file: {tmp_path / 'pipe.csv'}}}",
        "csv is /dev/zero": "{type: csv, file: /dev/zero}",
        "x key typo": f"{{type: npz, path: {tmp_path / 'good.npz'}, x_key: xx}}",
        "digits": "digits",
    }


# case -> (source, output units, the one problem line with {f} for the recipe and {d} for the data folder)
CASES = {
    "missing": ("missing", 3, "{f}:3:23 data.source.path: expected an existing file (not found: {d}/nowhere.npz). "
                              "Received: {r}"),  # r: the path as echoed (shortened if long)
    "csv is a folder": ("csv is a folder", 3, "{f}:3:23 data.source.file: expected a file ({d}/folder.csv is a "
                                              "folder). Received: '{d}/folder.csv'"),
    "csv is a fifo": ("csv is a fifo", 3, "{f}:3:23 data.source.file: expected a regular file ({d}/pipe.csv is a "
                                          "FIFO, device or socket). Received: '{d}/pipe.csv'"),
    "csv is /dev/zero": ("csv is /dev/zero", 3, "{f}:3:23 data.source.file: expected a regular file (/dev/zero is a "
                                                "FIFO, device or socket). Received: '/dev/zero'"),
    "text file as npz": ("text", 3, "{f}:3:23 data.source.path: {d}/text.npz is not a NumPy .npz archive (a zip file "
                                    "of arrays): it is text"),
    "latin-1 csv": ("latin-1 csv", 3, "{f}:3:3 data.source: {d}/latin1.csv is not UTF-8 text (byte 0xe9 at offset 6)"),
    "label column typo": ("label column typo", 3, "{f}:3:{c} data.source.label_column: no column 'specis' in "
                                                  "{d}/wide.csv; did you mean 'species'? (its header has 31 columns)"),
    "x key typo": ("x key typo", 3, "{f}:3:{c} data.source.x_key: no array 'xx' in {d}/good.npz; did you mean 'x'? "
                                    "Arrays: x, y"),
    "nan cell in a csv": ("nan cell", 3, "{f}:3:3 data.source: {d}/nan.csv:6: feature 'feature_3' is nan; expected "
                                         "finite numbers (drop or impute missing values first)"),
    "nan in npz features": ("nan", 3, "{f}:3:3 data.source: training data: features hold nan at example 7, "
                                      "feature 2 (1 non-finite value); drop or impute them before training"),
    "negative labels": ("negative", 3, "{f}:3:3 data.source: training data: class labels must be whole numbers from "
                                       f"0 (one per class). Received: -1 at example 0 {REGRESSION_HINT}"),
    "fractional labels": ("fractional", 3, "{f}:3:3 data.source: training data: class labels must be whole numbers "
                                           f"from 0 (one per class). Received: 0.5 at example 0 {REGRESSION_HINT}"),
    "x/y length mismatch": ("short", 3, "{f}:3:3 data.source: cannot read the data: Expected as many labels as "
                                        "examples. Received: 60 examples, 55 labels"),
    "string features": ("strings", 3, "{f}:3:3 data.source: training data: expected numbers. Received: features of "
                                      "dtype <U1, labels of dtype int64"),
    "one value per example": ("flat", 3, "{f}:3:3 data.source: training data: expected one or more examples of one "
                                         "or more features. Received: features of shape (60,)"),
    "no examples": ("empty", 3, "{f}:3:3 data.source: training data: expected one or more examples of one or more "
                                "features. Received: features of shape (0, 4)"),
    "3 units for 10 classes": ("digits", 3, "{f}:8:21 model.layers[1].units: expected one output unit per class: 10 "
                                            "(labels 0 to 9). Received: 3"),
    "1 unit, softmax loss": ("good", 1, "{f}:8:21 model.layers[1].units: expected one output unit per class: 3 "
                                        "(labels 0 to 2); a single unit fits only two classes with loss "
                                        "binary_crossentropy. Received: 1"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One MLflow store for the module: creating a SQLite store costs seconds, a run in it does not."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_data_that_cannot_be_trained_on_is_a_located_recipe_error(tmp_path, store, capsys, case):
    source_case, units, expected = CASES[case]
    data = tmp_path / "data"
    data.mkdir()
    source = _data(data)[source_case]
    text = RECIPE.format(source=source, units=units)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    assert main(["run", str(recipe), "--tracking-uri", store]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = text.splitlines()[2]  # the data.source line: argument problems point at their key
    key = next((k for k in ("label_column", "x_key") if k in line), None)
    problems = err.split("error: invalid recipe\n", 1)[1].splitlines()
    assert problems == [expected.format(f=recipe, d=data, c=line.index(key) + 1 if key else None,
                                        r=printable(repr(f"{data}/nowhere.npz")))]
    mlflow.set_tracking_uri(store)
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list", order_by=["start_time DESC"])
    ran = bool(runs) and runs[0].data.tags.get("recipe.file") == str(recipe)
    assert ran == (case not in BY_VALIDATE)  # validate's refusals start no run; the others are on record
    if ran:
        assert runs[0].info.status == "FAILED" and "test_loss" not in runs[0].data.metrics
        assert problems[0].split(": ", 1)[1] in runs[0].data.tags["error"]


def test_validate_refuses_a_missing_data_file_too(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(source=f"{{type: csv, file: {tmp_path / 'nope.csv'}}}", units=3))
    assert main(["validate", str(recipe)]) == 2
    assert capsys.readouterr().err.splitlines()[1].startswith(f"{recipe}:3:23 data.source.file: expected an "
                                                              f"existing file (not found: {tmp_path / 'nope.csv'})")


def _splits(labels) -> Splits:
    y = np.asarray(labels)
    return Splits(np.zeros((len(y), 2)), y, np.zeros((0, 2)), y[:0], np.zeros((0, 2)), y[:0])


def _plan(tmp_path, loss: str, units: int, task: str | None = None):
    recipe = tmp_path / "r.yaml"
    recipe.write_text((f"task: {task}\n" if task else "") + RECIPE.format(source="digits", units=units).replace(
        "{type: sparse_categorical_crossentropy, from_logits: true}", loss))
    return load_recipe(recipe).plan


def test_output_units_rules(tmp_path):
    two_classes = _splits([0, 1, 1, 0])
    check_outputs(_plan(tmp_path, "binary_crossentropy", 1), two_classes, 1)  # one sigmoid unit, 2 classes
    check_outputs(_plan(tmp_path, "sparse_categorical_crossentropy", 2), two_classes, 2)
    check_outputs(_plan(tmp_path, "sparse_categorical_crossentropy", 12), _splits([0, 9]), 12)  # spare units: fine
    with pytest.raises(DataError, match="a single unit fits only two classes"):
        check_outputs(_plan(tmp_path, "binary_crossentropy", 1), _splits([0, 1, 2]), 1)
    with pytest.raises(DataError, match="expected one output unit per class: 2"):
        check_outputs(_plan(tmp_path, "sparse_categorical_crossentropy", 1), two_classes, 1)
    check_outputs(_plan(tmp_path, "mse", 1, task="regression"), _splits([0.5, 7.25, -3.0]), 1)  # not classes
    masks = Splits(np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4, 1)), np.zeros((0, 4, 4, 3)), np.zeros((0, 4, 4, 1)),
                   np.zeros((0, 4, 4, 3)), np.zeros((0, 4, 4, 1)))
    check_outputs(_plan(tmp_path, "binary_crossentropy", 1), masks, 1)  # segmentation masks: no class count
