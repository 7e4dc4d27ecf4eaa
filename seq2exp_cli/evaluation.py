"""Element-level evaluation against a known truth (the simulator's planted elements).

Two views, applied the same way to every method (seq2exp masks, a DNase threshold, MACS3):

*Ranking* — every planted element (functional = positive, decoy = negative) gets the method's
score: the maximum of its score track over the element. From these come the precision-recall
curve, its area (AUPRC, average precision) and the precision at a given recall.

*Calls* — the regions a method actually reports. Precision = share of calls that overlap a
functional element; recall = share of functional elements overlapped by a call; decoys called =
share of signal-matched decoys overlapped by a call. Calls that overlap a planted promoter are
set aside for every method alike: promoters are always active and every method finds them, so
they say nothing about telling enhancers from decoys.

Two rankings: *element* AUPRC ranks functional elements against signal-matched decoys only
(chance 0.5 when half are decoys: no signal-based method can beat it); *candidate* AUPRC ranks
functional elements against every other planted candidate (decoys, closed, insulator, inert and
orphan elements when the truth has them), with its chance level, the functional share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

ScoreReader = Callable[[str, int, int], np.ndarray]


def overlaps(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """bool[len(a)]: does each interval of ``a`` overlap (>= 1 bp) any interval of ``b``?"""
    hit = np.zeros(len(a), dtype=bool)
    a_chrom = a["chrom"].to_numpy()
    for chrom in pd.unique(a_chrom):
        rows = np.flatnonzero(a_chrom == chrom)
        other = b[b["chrom"] == chrom]
        if other.empty:
            continue
        order = np.argsort(other["start"].to_numpy(), kind="stable")
        starts = other["start"].to_numpy()[order]
        ends = np.maximum.accumulate(other["end"].to_numpy()[order])
        # among intervals starting before a's end, the furthest end must pass a's start
        k = np.searchsorted(starts, a["end"].to_numpy()[rows], side="left") - 1
        ok = k >= 0
        hit[rows[ok]] = ends[k[ok]] > a["start"].to_numpy()[rows][ok]
    return hit


def element_scores(elements: pd.DataFrame, read: ScoreReader) -> np.ndarray:
    """float64[len(elements)]: the maximum score over each element (0 where nothing is scored)."""
    out = np.zeros(len(elements), dtype=np.float64)
    for k, (chrom, start, end) in enumerate(elements[["chrom", "start", "end"]].itertuples(index=False)):
        values = np.asarray(read(chrom, int(start), int(end)), dtype=np.float64)
        values = values[np.isfinite(values)]
        out[k] = values.max() if len(values) else 0.0
    return out


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold, from the highest score down."""
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    sorted_scores = np.asarray(scores)[order]
    tp = np.cumsum(labels[order])
    n = np.arange(1, len(labels) + 1)
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tp, n = tp[last_of_tie], n[last_of_tie]
    positives = max(int(labels.sum()), 1)
    return tp / n, tp / positives


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUPRC as average precision: sum over thresholds of precision x recall increment."""
    precision, recall = precision_recall_curve(labels, scores)
    increments = np.diff(np.r_[0.0, recall])
    return float(np.sum(precision * increments))


def precision_at_recall(labels: np.ndarray, scores: np.ndarray, recall: float) -> float:
    """The best precision among thresholds whose recall is at least ``recall`` (0 if none)."""
    precision, rec = precision_recall_curve(labels, scores)
    ok = rec >= recall - 1e-12
    return float(precision[ok].max()) if ok.any() else 0.0


def call_metrics(calls: pd.DataFrame, elements: pd.DataFrame, promoters: pd.DataFrame | None = None) -> dict[str, float]:
    """Precision/recall of a call set against the functional elements (promoter calls set aside)."""
    calls = calls[["chrom", "start", "end"]].reset_index(drop=True)
    if promoters is not None and len(promoters) and len(calls):
        calls = calls[~overlaps(calls, promoters[["chrom", "start", "end"]].reset_index(drop=True))]
        calls = calls.reset_index(drop=True)
    functional = elements[elements["class"] == "functional"][["chrom", "start", "end"]].reset_index(drop=True)
    decoys = elements[elements["class"] == "decoy"][["chrom", "start", "end"]].reset_index(drop=True)
    if len(calls) == 0:
        return {"calls": 0, "precision": 0.0, "recall": 0.0, "decoys_called": 0.0}
    hits = overlaps(calls, functional)
    found = overlaps(functional, calls)
    decoys_called = float(overlaps(decoys, calls).mean()) if len(decoys) else float("nan")
    return {"calls": int(len(calls)), "precision": float(hits.mean()), "recall": float(found.mean()),
            "decoys_called": decoys_called}


@dataclass
class MethodResult:
    """One method's evidence: a score per planted element and, optionally, its call set."""

    name: str
    scores: np.ndarray
    calls: dict[str, float] | None = None


def evaluate_method(
    name: str,
    elements: pd.DataFrame,
    read: ScoreReader,
    calls: pd.DataFrame | None = None,
    promoters: pd.DataFrame | None = None,
) -> MethodResult:
    """Score every planted element with ``read`` and, when given, measure the call set."""
    metrics = call_metrics(calls, elements, promoters) if calls is not None else None
    return MethodResult(name, element_scores(elements, read), metrics)


def comparison_table(results: list[MethodResult], elements: pd.DataFrame, recall: float,
                     fixed_recall: float = 0.7) -> pd.DataFrame:
    """One row per method: calls, call precision and recall, decoys called, element AUPRC
    (``auprc``: functional vs decoy), candidate AUPRC (functional vs every other class) with its
    chance level, and the candidate ranking's precision at ``fixed_recall`` and at ``recall``."""
    functional = (elements["class"] == "functional").to_numpy()
    paired = elements["class"].isin(["functional", "decoy"]).to_numpy()
    rows = []
    for result in results:
        calls = result.calls or {}
        rows.append({
            "method": result.name,
            "calls": calls.get("calls", np.nan),
            "call_precision": calls.get("precision", np.nan),
            "call_recall": calls.get("recall", np.nan),
            "decoys_called": calls.get("decoys_called", np.nan),
            "auprc": average_precision(functional[paired], result.scores[paired]),
            "candidate_auprc": average_precision(functional, result.scores),
            "candidate_chance": float(functional.mean()) if len(functional) else float("nan"),
            f"precision_at_recall_{fixed_recall:.2f}": precision_at_recall(functional, result.scores, fixed_recall),
            f"precision_at_recall_{recall:.2f}": precision_at_recall(functional, result.scores, recall),
        })
    return pd.DataFrame(rows)
