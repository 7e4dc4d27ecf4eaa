"""seq2exp_cli.metrics: regression metrics against numpy/scipy, and the metrics.tsv log."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from seq2exp_cli.metrics import MetricsLog, regression_metrics


def test_metrics_match_scipy_with_ties_and_nan():
    rng = np.random.default_rng(1)
    t = np.round(rng.normal(size=50), 1)  # rounding creates ties
    p = np.round(t + rng.normal(scale=0.5, size=50), 1)
    t_nan = t.copy()
    t_nan[[3, 7]] = np.nan
    m = regression_metrics(t_nan, p)
    keep = np.isfinite(t_nan)
    assert m["n"] == 48
    assert m["mse"] == pytest.approx(np.mean((p[keep] - t[keep]) ** 2), rel=1e-12)
    assert m["mae"] == pytest.approx(np.mean(np.abs(p[keep] - t[keep])), rel=1e-12)
    assert m["pearson"] == pytest.approx(scipy.stats.pearsonr(t[keep], p[keep])[0], rel=1e-10)
    assert m["spearman"] == pytest.approx(scipy.stats.spearmanr(t[keep], p[keep])[0], rel=1e-10)


def test_metrics_degenerate_cases():
    assert regression_metrics([np.nan], [1.0])["n"] == 0
    assert math.isnan(regression_metrics([], [])["mse"])
    const = regression_metrics([1.0, 1.0, 1.0], [0.0, 1.0, 2.0])
    assert math.isnan(const["pearson"]) and const["mse"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        regression_metrics([1.0, 2.0], [1.0])


def test_metrics_log_truncates_rows_after_checkpoint(tmp_path):
    log = MetricsLog(tmp_path / "m.tsv", ["step", "val_mse"])
    log.start(resume=False)
    for step in (2, 4, 6):
        log.append({"step": step, "val_mse": 0.5 / step})
    log.truncate_after(4)
    frame = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert frame["step"].tolist() == [2, 4]
    assert frame["val_mse"].iloc[0] == pytest.approx(0.25)


def test_metrics_log_keeps_rows_on_resume_and_starts_afresh_otherwise(tmp_path):
    path = tmp_path / "m.tsv"
    log = MetricsLog(path, ["step", "val_mse"])
    log.start(resume=False)
    log.append({"step": 1, "val_mse": 0.5})
    MetricsLog(path, ["step", "val_mse"]).start(resume=True)
    assert pd.read_csv(path, sep="\t")["step"].tolist() == [1]
    MetricsLog(path, ["step", "val_mse"]).start(resume=False)
    assert pd.read_csv(path, sep="\t").empty


def test_spearman_uses_average_ranks_for_ties():
    m = regression_metrics([1.0, 2.0, 2.0, 3.0], [1.0, 3.0, 2.0, 4.0])
    assert m["spearman"] == pytest.approx(scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4])[0], rel=1e-12)
