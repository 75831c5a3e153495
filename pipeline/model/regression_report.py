"""Where a regression model is wrong, computed once on the test split of every `task: regression` run.

Added automatically through the same end-of-run mechanism as the classification report
(`pipeline.model.training.test_reports`), from the saved-model-equivalent predictions, so in the
targets' original units (standardized targets are mapped back by the model itself). Logs the plots
`plots/predicted_vs_true.png` (one point per test example, the diagonal is a perfect model) and
`plots/residuals.png` (true - predicted against the prediction, and their histogram: a trend or a
funnel shape shows what the model misses), the numbers as `regression_report.json` (MAE, RMSE,
R² per target and overall, computed with scikit-learn), and the metrics the per-epoch ones do not
give: `test_median_absolute_error`, `test_max_error`, and with several targets `test_mae_target_<j>`,
`test_rmse_target_<j>`, `test_r2_target_<j>`. (`test_mae`, `test_rmse`, `test_r2` come from the
recipe's metrics, evaluated like every test metric.)
"""

from __future__ import annotations

import numpy as np


def regression_reports(plan) -> list:
    """The reports every regression run gets without asking."""
    return [RegressionReport()] if plan.recipe.task == "regression" else []


def _columns(y, n: int) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(n, -1)


class RegressionReport:
    """Predicted-vs-true and residual plots, and error statistics per target, on the test split."""

    def numbers(self, y_true, y_pred) -> dict:
        from sklearn import metrics as skm

        y_true = _columns(y_true, len(y_true))
        y_pred = _columns(y_pred, len(y_true))
        per_target = {
            "mae": skm.mean_absolute_error(y_true, y_pred, multioutput="raw_values"),
            "rmse": np.sqrt(skm.mean_squared_error(y_true, y_pred, multioutput="raw_values")),
            "r2": skm.r2_score(y_true, y_pred, multioutput="raw_values"),
            "median_absolute_error": np.median(np.abs(y_true - y_pred), axis=0),
            "max_error": np.max(np.abs(y_true - y_pred), axis=0),
        }
        return {"y_true": y_true, "y_pred": y_pred,
                "per_target": {k: [float(v) for v in values] for k, values in per_target.items()},
                "overall": {k: float(np.mean(values)) for k, values in per_target.items()}}

    def test_split_metrics(self, y_true, y_pred) -> dict[str, float]:
        n = self.numbers(y_true, y_pred)
        out = {f"test_{k}": n["overall"][k] for k in ("median_absolute_error", "max_error")}
        targets = n["y_true"].shape[1]
        if targets > 1:
            out |= {f"test_{k}_target_{j}": n["per_target"][k][j]
                    for k in ("mae", "rmse", "r2") for j in range(targets)}
        return out

    def test_split_report(self, y_true, y_pred) -> dict:
        """{artifact path: matplotlib figure | dict}: the two plots and the numbers."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = self.numbers(y_true, y_pred)
        truth, pred = n["y_true"], n["y_pred"]
        targets = truth.shape[1]
        scatter, axes = plt.subplots(1, targets, figsize=(4.5 * targets, 4.3), squeeze=False)
        for j, ax in enumerate(axes[0]):
            low, high = min(truth[:, j].min(), pred[:, j].min()), max(truth[:, j].max(), pred[:, j].max())
            ax.plot([low, high], [low, high], "k:", lw=0.8, label="perfect")
            ax.scatter(truth[:, j], pred[:, j], s=10, alpha=0.6)
            ax.set(xlabel="true value", ylabel="predicted value",
                   title=f"target {j}: R² {n['per_target']['r2'][j]:.3f}, MAE {n['per_target']['mae'][j]:.4g}")
            ax.legend(loc="upper left", fontsize=8)
        residuals, axes = plt.subplots(targets, 2, figsize=(9, 3.6 * targets), squeeze=False)
        for j, (ax, hist) in enumerate(axes):
            error = truth[:, j] - pred[:, j]
            ax.axhline(0.0, color="k", ls=":", lw=0.8)
            ax.scatter(pred[:, j], error, s=10, alpha=0.6)
            ax.set(xlabel="predicted value", ylabel="residual (true - predicted)", title=f"target {j}: residuals")
            hist.hist(error, bins=min(30, max(5, len(error) // 5)))
            hist.set(xlabel="residual", ylabel="examples", title=f"target {j}: RMSE {n['per_target']['rmse'][j]:.4g}")
        for fig in (scatter, residuals):
            fig.tight_layout()
        table = {"examples": int(len(truth)), "overall": n["overall"], "per_target": n["per_target"]}
        return {"plots/predicted_vs_true.png": scatter, "plots/residuals.png": residuals,
                "regression_report.json": table}
