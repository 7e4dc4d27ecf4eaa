"""Statistics for called elements: the scored bases counted per distinct score (the cutoff a
``--top-fraction`` means), empirical p-values against pooled null draws, the false discovery
rate estimated from null calls, and Benjamini-Hochberg q.

The counting works on constant runs (one histogram entry per distinct score), never per base,
so it costs O(number of runs) for a genome-wide track. The null draws themselves come from
``null`` (model mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from seq2exp_cli.errors import InputError

if TYPE_CHECKING:
    from seq2exp_cli.elements.track import ScoreTrack


@dataclass(frozen=True)
class ScoreHistogram:
    """Scored bases counted per distinct score: values float32[k] ascending, counts int64[k]."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def score_histogram(track: ScoreTrack) -> ScoreHistogram:
    """Count scored bases per distinct score over the whole track (no per-base sort)."""
    values, counts = [], []
    for chrom in track.chroms:
        runs = track.runs(chrom)
        if len(runs) == 0:
            continue
        uniq, inverse = np.unique(runs.values, return_inverse=True)
        values.append(uniq)
        counts.append(np.bincount(inverse, weights=(runs.ends - runs.starts).astype(np.float64)))
    if not values:
        return ScoreHistogram(np.zeros(0, np.float32), np.zeros(0, np.int64))
    uniq, inverse = np.unique(np.concatenate(values), return_inverse=True)
    total = np.bincount(inverse, weights=np.concatenate(counts))
    return ScoreHistogram(uniq.astype(np.float32), np.rint(total).astype(np.int64))


def empirical_pscores(statistic: np.ndarray, null: np.ndarray) -> np.ndarray:
    """-log10 p float64[n] of each statistic against pooled null draws (one-sided, large = signal).

    p = (1 + #{null >= t}) / (1 + m) for m draws: never 0, and exactly 1 when every draw ties
    with or beats t (a score that ignores what is tested gives t = null = 0, so p = 1).
    """
    t = np.asarray(statistic, np.float64)
    draws = np.sort(np.asarray(null, np.float64))
    at_or_above = draws.shape[0] - np.searchsorted(draws, t, side="left")
    return -np.log10((1.0 + at_or_above) / (1.0 + draws.shape[0]))


def null_fdr_qscores(statistic: np.ndarray, null: np.ndarray, null_sets: int) -> np.ndarray:
    """-log10 q float64[n]: the false discovery rate of calling every element whose statistic
    is >= t, estimated from null sets (each the result of the same calling where nothing is
    real), made monotone (an element's q is the lowest over thresholds that keep it).

    FDR(t) = ((1 + #{null >= t}) / null_sets) / #{statistic >= t}, capped at 1: the expected
    number of null calls reaching t over the calls that do, the +1 keeping it conservative.
    Unlike Benjamini-Hochberg over per-draw p-values, it does not assume that the real calling
    would make as many calls as a null set when nothing is real.
    """
    t = np.asarray(statistic, np.float64)
    n = t.shape[0]
    if n == 0:
        return np.zeros(0)
    if null_sets < 1:
        raise ValueError("null_fdr_qscores: need at least one null set")
    draws = np.sort(np.asarray(null, np.float64))
    order = np.argsort(-t, kind="stable")  # highest statistic first
    ranked = t[order]
    called = np.searchsorted(-ranked, -ranked, side="right")  # #{statistic >= t}, ties included
    false = (1.0 + draws.shape[0] - np.searchsorted(draws, ranked, side="left")) / null_sets
    fdr = np.minimum(false / called, 1.0)
    fdr = np.minimum.accumulate(fdr[::-1])[::-1]  # q(t) = min over thresholds t' <= t
    q = np.empty(n)
    q[order] = fdr
    return np.maximum(-np.log10(q), 0.0)


def bh_qscores(pscore: np.ndarray) -> np.ndarray:
    """-log10 q float64[n], Benjamini-Hochberg over the n tests given as -log10 p (any order).

    q_(i) = min over j >= i of p_(j) n / j (p ascending), capped at 1.
    """
    p = 10.0 ** -np.asarray(pscore, np.float64)
    n = p.shape[0]
    if n == 0:
        return np.zeros(0)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(ranked, 1.0)
    return np.maximum(-np.log10(q), 0.0)


def cutoff_for_fraction(hist: ScoreHistogram, fraction: float) -> float:
    """Smallest score v with (bases scoring >= v) <= fraction x scored bases; +inf when none.

    Bases of equal score are never split, so the kept fraction can fall below ``fraction``.
    """
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"--top-fraction {fraction}: out of range; give a fraction in (0, 1]")
    if hist.total == 0:
        return math.inf
    at_or_above = np.cumsum(hist.counts[::-1])[::-1]
    ok = np.flatnonzero(at_or_above <= fraction * hist.total)
    return float(hist.values[ok[0]]) if ok.size else math.inf
