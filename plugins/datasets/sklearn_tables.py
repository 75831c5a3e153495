"""scikit-learn's small tabular datasets, shipped with the package (no download): a regression and a
yes/no problem."""

from __future__ import annotations

from pipeline.data import Dataset, from_arguments
from pipeline.registries import datasets


@datasets.register("diabetes")
@from_arguments
def diabetes(scaled: bool = False):
    """442 patients, 10 features (age, sex, BMI, blood pressure, 6 serum measurements), target: disease progression after one year (25-346); regression; no test split of its own.

    Args:
        scaled: scikit-learn's features centred and scaled to unit norm per column; false (the
            default) gives the raw measurements, for the recipe's own preprocessing.
    """
    import numpy as np
    from sklearn.datasets import load_diabetes

    raw = load_diabetes(scaled=scaled)
    return Dataset(raw.data.astype(np.float32), raw.target.astype(np.float32), name="diabetes",
                   info={"features": " ".join(raw.feature_names)})


@datasets.register("breast_cancer")
@from_arguments
def breast_cancer():
    """569 breast tumours, 30 features of cell nuclei (Wisconsin), label 1 = malignant (212), 0 = benign (357); no test split of its own."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    # scikit-learn counts benign as 1; the question asked here is "is it malignant?"
    y = (raw.target == 0).astype(np.int32)
    return Dataset(raw.data.astype(np.float32), y, num_classes=2, name="breast_cancer",
                   info={"label_map": "benign:0 malignant:1"}, class_names=["benign", "malignant"])
