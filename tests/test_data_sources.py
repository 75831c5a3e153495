"""Data sources: CSV tables, .npy arrays and image folders (written here with Pillow)."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from PIL import Image

from pipeline import registries
from pipeline.cli import main
from pipeline.components import build_spec
from pipeline.data.image_folder import SkippedFilesWarning
from pipeline.errors import RecipeError


def source(spec):
    return build_spec(registries.datasets, spec)


# -- CSV ---------------------------------------------------------------------------------------------
def test_csv_with_header_maps_string_labels_in_sorted_order(tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("weight,species,height\n4.5,cat,30\n30,dog,60\n5,cat,25\n0.1,mouse,5\n")
    data = source({"type": "csv", "file": str(path), "label_column": "species"})
    np.testing.assert_array_equal(data.x, np.float32([[4.5, 30], [30, 60], [5, 25], [0.1, 5]]))
    assert data.x.dtype == np.float32
    np.testing.assert_array_equal(data.y, [0, 1, 0, 2])  # cat, dog, mouse: sorted
    assert data.num_classes == 3 and data.info == {"label_map": "cat:0 dog:1 mouse:2"}


def test_csv_without_header_is_detected_and_keeps_integer_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2,0\n3,4,2\n5,6,1\n")
    data = source({"type": "csv", "file": str(path)})  # last column, no header row
    np.testing.assert_array_equal(data.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(data.y, [0, 2, 1])
    assert data.num_classes == 3 and data.info == {}
    with_header = tmp_path / "h.csv"
    with_header.write_text("a,b,label\n1,2,0\n3,4,1\n")
    assert len(source({"type": "csv", "file": str(with_header), "label_column": 2}).x) == 2


def test_csv_test_file_uses_the_training_label_map_and_bad_cells_name_the_line(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("x,y\n1,b\n2,c\n")
    test.write_text("x,y\n3,c\n4,b\n")
    data = source({"type": "csv", "file": str(train), "label_column": "y", "test_file": str(test)})
    np.testing.assert_array_equal(data.y_test, [1, 0])
    train.write_text("x,y\n1,b\noops,c\n")
    with pytest.raises(ValueError, match=r"train.csv:3: expected numeric feature values. Received: 'oops'"):
        source({"type": "csv", "file": str(train), "label_column": "y"})


# -- .npy --------------------------------------------------------------------------------------------
def test_npy_arrays_with_a_test_split(tmp_path):
    rng = np.random.default_rng(0)
    for name, array in {"x": rng.normal(size=(6, 3)), "y": np.arange(6) % 2,
                        "xt": rng.normal(size=(2, 3)), "yt": np.array([1, 0])}.items():
        np.save(tmp_path / f"{name}.npy", array)
    data = source({"type": "npy", "x_path": str(tmp_path / "x.npy"), "y_path": str(tmp_path / "y.npy"),
                   "x_test_path": str(tmp_path / "xt.npy"), "y_test_path": str(tmp_path / "yt.npy")})
    np.testing.assert_array_equal(data.x, np.load(tmp_path / "x.npy"))
    assert data.has_test and data.num_classes == 2 and len(data.x_test) == 2


# -- image folders -----------------------------------------------------------------------------------
COLORS = {"red": (200, 10, 10), "blue": (10, 10, 200)}


def write_folder(root, per_class=6, size=(12, 10), corrupt=True):
    """root/red, root/blue of solid-colour images (PNG and JPEG), plus a truncated PNG and a text file."""
    for name, rgb in COLORS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            fmt = "png" if i % 2 else "jpeg"
            Image.new("RGB", size, rgb).save(root / name / f"{i}.{'png' if fmt == 'png' else 'jpg'}", fmt)
    if corrupt:
        good = (root / "red" / "1.png").read_bytes()
        (root / "red" / "truncated.png").write_bytes(good[: len(good) // 2])
        (root / "blue" / "notes.txt").write_text("not an image")
        (root / "blue" / ".DS_Store").write_bytes(b"\0\1")  # hidden: ignored, not reported
    return root


def test_image_folder_decodes_resizes_and_skips_unreadable_files_with_one_warning(tmp_path):
    root = write_folder(tmp_path / "imgs")
    with pytest.warns(SkippedFilesWarning) as caught:
        data = source({"type": "image_folder", "root": str(root), "image_size": [8, 6], "workers": 2})
    assert len(caught) == 1  # one warning listing every skipped file
    message = str(caught[0].message)
    assert "skipped 2 file(s)" in message and "truncated.png" in message and "notes.txt" in message
    assert data.x.shape == (12, 8, 6, 3) and data.x.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(data.y), [6, 6])  # blue:0, red:1 (sorted folder names)
    assert data.info == {"skipped_files": "2", "classes": "blue:0 red:1"}
    # solid colours survive decoding and resizing (JPEG: within its quantization error)
    for label, name in enumerate(["blue", "red"]):
        np.testing.assert_allclose(data.x[data.y == label].mean(axis=(0, 1, 2)),
                                   np.array(COLORS[name]) / 255, atol=4 / 255)


def test_image_folder_grayscale_unscaled_and_its_fingerprint_follows_the_files(tmp_path):
    root = write_folder(tmp_path / "imgs", corrupt=False)
    spec = {"type": "image_folder", "root": str(root), "image_size": [4, 4], "color": "grayscale", "scale": False}
    data = source(spec)
    assert data.x.shape == (12, 4, 4, 1) and data.x.dtype == np.uint8
    red_grey = round(0.299 * 200 + 0.587 * 10 + 0.114 * 10)  # Pillow's ITU-R 601-2 luma
    assert abs(int(np.median(data.x[data.y == 1])) - red_grey) <= 2
    assert source(spec).fingerprint() == data.fingerprint()  # same files, same id
    Image.new("RGB", (12, 10), (0, 255, 0)).save(root / "red" / "0.jpg", "jpeg")
    assert source(spec).fingerprint() != data.fingerprint()  # one image changed


def test_empty_class_folder_and_empty_root_are_clear_errors(tmp_path):
    root = write_folder(tmp_path / "imgs", corrupt=False)
    (root / "green").mkdir()
    with pytest.raises(RecipeError, match=r"data.source.root: class folder .*imgs/green has no files"):
        source({"type": "image_folder", "root": str(root)})
    (tmp_path / "bare").mkdir()
    with pytest.raises(RecipeError, match=r"no class folders in .*bare"):
        source({"type": "image_folder", "root": str(tmp_path / "bare")})


RECIPE = """\
seed: 3
data:
  source: {{type: image_folder, root: {root}, image_size: [8, 8]}}
  split: {{val: 0.25, test: 0.25}}
  preprocess: [{{type: standardize, per: channel}}]
model:
  layers:
    - {{type: conv2d, filters: 4, kernel_size: 3, activation: relu}}
    - {{type: global_avg_pool2d}}
    - {{type: dense, units: 2}}
train:
  epochs: 1
  batch_size: 4
  verbose: 0
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
  metrics: [accuracy]
track: {{experiment: folder, log_model: false}}
"""


def test_image_folder_with_a_corrupt_file_trains_end_to_end(tmp_path, tracking_uri, write_recipe, capsys):
    root = write_folder(tmp_path / "imgs")
    recipe = write_recipe("folder.yaml", RECIPE.format(root=root))
    with pytest.warns(SkippedFilesWarning):
        assert main(["run", str(recipe)]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    [run] = mlflow.search_runs(experiment_names=["folder"], output_format="list")
    params = run.data.params
    assert params["data.skipped_files"] == "2" and params["data.classes"] == "blue:0 red:1"
    assert sum(int(params[f"data.size.{s}"]) for s in ("train", "val", "test")) == 12
    assert "test_accuracy" in run.data.metrics
    assert len(run.data.tags["data.fingerprint"]) == 16


def test_empty_class_folder_fails_the_run_with_the_recipe_location(tmp_path, tracking_uri, write_recipe, capsys):
    root = write_folder(tmp_path / "imgs", corrupt=False)
    (root / "green").mkdir()
    recipe = write_recipe("folder.yaml", RECIPE.format(root=root))
    assert main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "folder.yaml:3:" in err and "data.source.root: class folder" in err and "green has no files" in err
