"""Element evaluation: overlaps, PR curve, AUPRC, precision at recall, call metrics."""

import numpy as np
import pandas as pd
import pytest

from seq2exp_cli.evaluation import (
    MethodResult,
    average_precision,
    call_metrics,
    comparison_table,
    evaluate_method,
    overlaps,
    precision_at_recall,
    precision_recall_curve,
)


def frame(rows):
    return pd.DataFrame(rows, columns=["chrom", "start", "end"])


def test_overlaps_half_open_and_per_chromosome():
    a = frame([("c1", 0, 10), ("c1", 10, 20), ("c2", 0, 10), ("c1", 50, 60)])
    b = frame([("c1", 19, 25), ("c1", 0, 5), ("c3", 0, 100)])
    assert overlaps(a, b).tolist() == [True, True, False, False]
    b = frame([("c1", 10, 11)])  # touching [0, 10) does not overlap
    assert overlaps(a, b).tolist() == [False, True, False, False]
    # a long interval early in the sort order still covers later queries
    assert overlaps(frame([("c1", 40, 45)]), frame([("c1", 0, 100), ("c1", 30, 31)])).tolist() == [True]


def test_average_precision_matches_a_brute_force_definition():
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.3
    scores = np.round(rng.random(200) + labels * 0.3, 2)  # ties included
    expected = 0.0
    previous_recall = 0.0
    for threshold in np.unique(scores)[::-1]:
        called = scores >= threshold
        precision = labels[called].mean()
        recall = labels[called].sum() / labels.sum()
        expected += precision * (recall - previous_recall)
        previous_recall = recall
    assert average_precision(labels, scores) == pytest.approx(expected)
    assert average_precision(labels, labels.astype(float)) == pytest.approx(1.0)


def test_precision_at_recall():
    labels = np.array([1, 1, 0, 1, 0, 0], bool)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    precision, recall = precision_recall_curve(labels, scores)
    assert recall[-1] == 1.0 and precision[0] == 1.0
    assert precision_at_recall(labels, scores, 2 / 3) == 1.0
    assert precision_at_recall(labels, scores, 1.0) == pytest.approx(3 / 4)


def test_call_metrics_set_promoters_aside():
    elements = pd.DataFrame({"chrom": ["c"] * 3, "start": [100, 300, 500], "end": [200, 400, 600],
                             "class": ["functional", "decoy", "functional"]})
    promoters = frame([("c", 1000, 1100)])
    calls = frame([("c", 150, 160), ("c", 350, 360), ("c", 1050, 1060)])
    m = call_metrics(calls, elements, promoters)
    assert m == {"calls": 2, "precision": 0.5, "recall": 0.5, "decoys_called": 1.0}
    assert call_metrics(frame([]), elements)["calls"] == 0


def test_comparison_table_rows():
    elements = pd.DataFrame({"chrom": ["c"] * 2, "start": [0, 100], "end": [10, 110], "class": ["functional", "decoy"]})
    track = np.zeros(200)
    track[0:10] = 1.0
    perfect = evaluate_method("perfect", elements, lambda c, s, e: track[s:e], frame([("c", 0, 10)]))
    table = comparison_table([perfect], elements, recall=1.0)
    assert table.loc[0, "auprc"] == 1.0 and table.loc[0, "call_precision"] == 1.0
    assert table.loc[0, "precision_at_recall_1.00"] == 1.0


def test_comparison_table_candidate_classes():
    """Candidate AUPRC ranks functional elements against every other class; element AUPRC only
    against decoys: a method that ranks decoys low but closed elements high differs between them."""
    elements = frame([("c", 0, 10), ("c", 20, 30), ("c", 40, 50), ("c", 60, 70)])
    elements["class"] = ["functional", "decoy", "closed", "functional"]
    scores = np.array([0.9, 0.1, 0.95, 0.8])
    table = comparison_table([MethodResult("m", scores)], elements, recall=1.0)
    assert table.loc[0, "auprc"] == 1.0
    assert table.loc[0, "candidate_auprc"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert table.loc[0, "candidate_chance"] == 0.5
    assert table.loc[0, "precision_at_recall_0.70"] == pytest.approx(2 / 3)
