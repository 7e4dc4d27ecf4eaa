"""Regression metrics for expression predictions, and the per-evaluation TSV log.

The metrics are the paper's (MSE, MAE, Pearson r) plus Spearman rho, computed in float64 with
numpy so that training, ``predict`` and the tests agree to the last digit. Spearman is the
Pearson r of scipy's average ranks (ties share their mean rank), as :func:`scipy.stats.spearmanr`.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two float64[n] vectors; NaN when either is constant or n < 2."""
    if len(a) < 2:
        return math.nan
    da = a - a.mean()
    db = b - b.mean()
    denom = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    if denom == 0.0:
        return math.nan
    return float(np.clip(np.dot(da, db) / denom, -1.0, 1.0))


def regression_metrics(target: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray) -> dict[str, float]:
    """MSE, MAE, Pearson r and Spearman rho of ``predicted`` against ``target`` (both [n]).

    Pairs where the target is NaN (unlabelled genes) are left out; ``n`` counts the rest.
    Correlations are NaN when fewer than two pairs remain or one side is constant; all four
    metrics are NaN when no pair remains.
    """
    from scipy.stats import rankdata  # average ranks for ties

    t = np.asarray(target, dtype=np.float64).reshape(-1)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"target and predicted differ in length: {t.shape[0]} vs {p.shape[0]}")
    keep = np.isfinite(t)
    t, p = t[keep], p[keep]
    n = int(len(t))
    if n == 0:
        return {"n": 0, "mse": math.nan, "mae": math.nan, "pearson": math.nan, "spearman": math.nan}
    err = p - t
    return {
        "n": n,
        "mse": float(np.mean(err * err)),
        "mae": float(np.mean(np.abs(err))),
        "pearson": _pearson(t, p),
        "spearman": _pearson(rankdata(t), rankdata(p)),
    }


class MetricsLog:
    """``metrics.tsv``: one row per evaluation, flushed at once so it is readable mid-run.

    The columns are fixed when the log is created. ``truncate_after(step)`` drops rows written
    after a checkpoint by a run that was then killed, so a resumed run does not repeat them.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)

    def start(self, resume: bool) -> None:
        """Write the header (fresh run) or keep the existing rows (resume)."""
        if resume and self.path.exists():
            return
        with open(self.path, "w", newline="") as handle:
            handle.write("\t".join(self.columns) + "\n")

    def truncate_after(self, step: int) -> None:
        """Keep the header and the rows whose ``step`` is at most ``step``."""
        if not self.path.exists():
            self.start(resume=False)
            return
        with open(self.path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        with open(self.path, "w", newline="") as handle:
            handle.write("\t".join(self.columns) + "\n")
            for row in rows:
                if row.get("step") not in (None, "") and int(row["step"]) <= step:
                    handle.write("\t".join(str(row.get(c, "")) for c in self.columns) + "\n")

    def append(self, row: Mapping[str, object]) -> None:
        """Append one evaluation; floats with 6 significant digits, missing values empty."""
        cells = []
        for column in self.columns:
            value = row.get(column, "")
            if isinstance(value, float):
                value = "nan" if math.isnan(value) else f"{value:.6g}"
            cells.append(str(value))
        with open(self.path, "a", newline="") as handle:
            handle.write("\t".join(cells) + "\n")
            handle.flush()
