"""Background statistics for called elements: -log10 p and BH q against the bottleneck's
marginal Beta, counted per distinct score, and the score cutoff a p/q/fraction threshold means.

The counting works on constant runs (one histogram entry per distinct score), never per base,
so it costs O(number of runs) for a genome-wide track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from seq2exp_cli.errors import InputError

if TYPE_CHECKING:
    from seq2exp_cli.elements import ScoreTrack

# -log10 p is capped here: scores at the very top of the Beta support have p == 0 in float64
PSCORE_CAP = 1000.0


def marginal_beta(mu: float, sigma: float) -> tuple[float, float]:
    """Parameters (a, b) of the marginal r = Beta(sigma, sigma * (1 - mu) / mu)."""
    if not (0.0 < mu < 1.0) or not (sigma > 0.0) or not math.isfinite(sigma):
        raise InputError(f"marginal Beta: mu={mu}, sigma={sigma} out of range; need 0 < mu < 1 and sigma > 0")
    return float(sigma), float(sigma * (1.0 - mu) / mu)


def pscores(values: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """-log10 P_r(Z >= value) under r = Beta(sigma, sigma(1-mu)/mu); float64[n], capped at PSCORE_CAP."""
    from scipy.stats import beta

    a, b = marginal_beta(mu, sigma)
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = -beta.logsf(v, a, b) / math.log(10.0)
    out = np.where(v <= 0.0, 0.0, out)  # P(Z >= 0) = 1
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=PSCORE_CAP), 0.0, PSCORE_CAP)


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


@dataclass(frozen=True)
class PQTable:
    """-log10 p and -log10 q per distinct score (``values`` float32[k] ascending; p, q float64[k])."""

    values: np.ndarray
    pscore: np.ndarray
    qscore: np.ndarray

    def lookup(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pscore, qscore) float64[n] of scores[n] that occur in the track (exact float32 match)."""
        s = np.asarray(scores, dtype=np.float32)
        idx = np.clip(np.searchsorted(self.values, s), 0, max(len(self.values) - 1, 0))
        if len(self.values) == 0 or not np.array_equal(self.values[idx], s):
            raise ValueError("PQTable.lookup: a score is not in the table")
        return self.pscore[idx], self.qscore[idx]


def pq_table(hist: ScoreHistogram, mu: float, sigma: float) -> PQTable:
    """Benjamini-Hochberg q over the scored bases, counting per distinct score as MACS3 does.

    For the k bases with score >= v (p ascending in rank), -log10 q(v) = -log10 p(v) + log10 k
    - log10 N, then made monotone from the top score down and floored at 0.
    """
    p = pscores(hist.values, mu, sigma)
    if len(p) == 0:
        return PQTable(hist.values, p, p.copy())
    n = float(hist.total)
    at_or_above = np.cumsum(hist.counts[::-1])[::-1].astype(np.float64)  # k per value
    q = p + np.log10(at_or_above) - np.log10(n)
    # from the highest score downwards, q may never rise: running minimum over descending scores
    q = np.minimum.accumulate(q[::-1])[::-1]
    return PQTable(hist.values, p, np.maximum(q, 0.0))


def cutoff_from_scores(table_values: np.ndarray, table_scores: np.ndarray, threshold: float) -> float:
    """Smallest track score whose -log10 p (or q) reaches ``threshold``; +inf when none does."""
    hit = np.flatnonzero(table_scores >= threshold)
    return float(table_values[hit[0]]) if hit.size else math.inf


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
