"""Score track -> regulatory elements: regions, summits, -log10 p/q, cutoff analysis, tables.

The caller reproduces ``macs3 bdgpeakcall`` (MACS3 3.0.x ``bedGraphTrackI.call_peaks``):

* a run of constant score is *above* when ``score >= cutoff`` (float32 comparison, as MACS3
  stores bedGraph values and the cutoff as float32);
* above runs join when the gap between them is ``<= max_gap`` bp; gap bases need not be above;
* a region is kept when ``end - start >= min_length`` (the length after joining);
* the summit is the midpoint ``(s + e) // 2`` of the highest constant run; when several runs
  tie, the middle one (the lower middle for an even count); if the highest value is exactly 0,
  MACS3 keeps the last run, and so do we.

Deliberate differences from MACS3, all documented in ``--help``: unscored bases (blacklist,
outside every gene window, gaps in an input bedGraph) are never above the cutoff, whereas MACS3
reads a bedGraph gap as the value of the next line; output is in FASTA chromosome order, not
sorted by name; ``--call-summits`` pads the region by 10 bp of zeros on both sides (MACS3 3.0.x
shifts its padding 20 bp to the left) and judges sub-peak shape on score x 1000; ``--cutoff-analysis`` counts ``score >= cutoff`` like
the caller itself (MACS3's analysis uses ``>``), so each row is exactly what ``--cutoff`` gives.

Everything works on :class:`~seq2exp_cli.io.bed.Runs` (constant runs) one chromosome at a time,
with vectorised numpy: the cost is O(number of runs), independent of the cutoff.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.bed import LazyChromArrays, Runs, fill_gaps, merge_equal_runs

log = logging.getLogger(__name__)

REGION_COLUMNS = ["chrom", "start", "end", "summit", "summit_score", "mean_score"]
# -log10 p is capped here: scores at the very top of the Beta support have p == 0 in float64
PSCORE_CAP = 1000.0
# MACS3 pads each region with 10 bp before looking for sub-peak summits
SUBPEAK_PADDING = 10
# MACS3's enforce_peakyness: a sub-peak must be >= 50 bp wide and have >= 6 distinct values
SUBPEAK_MIN_WIDTH = 50
SUBPEAK_MIN_DISTINCT = 6
SUBPEAK_SCALE = 1000.0


# ---------------------------------------------------------------------------------------------
# the score track


def runs_from_array(start: int, values: np.ndarray) -> Runs:
    """Constant runs of a per-bp array that starts at genomic ``start``.

    Args:
        start: genomic position of ``values[0]``.
        values: float[n]; NaN marks unscored bases (no run covers them).

    Returns:
        Runs with int64 genomic coordinates and float32 values.
    """
    v = np.asarray(values, dtype=np.float32)
    n = v.shape[0]
    if n == 0:
        return Runs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    change = v[1:] != v[:-1]
    nan = np.isnan(v)
    has_nan = bool(nan.any())
    if has_nan:
        change &= ~(nan[1:] & nan[:-1])  # NaN != NaN, but a NaN stretch is one run
    cut = np.flatnonzero(change) + 1
    starts = np.concatenate(([0], cut)).astype(np.int64)
    ends = np.concatenate((cut, [n])).astype(np.int64)
    vals = v[starts]
    if has_nan:
        keep = ~np.isnan(vals)
        starts, ends, vals = starts[keep], ends[keep], vals[keep]
    return Runs(starts + start, ends + start, vals)


class ScoreTrack:
    """A genome-wide per-bp score, stored per chromosome as segments or as runs.

    Args:
        chrom_sizes: ``{chrom: length}`` in output (FASTA) order.

    Segments (``add_segment``) are per-bp float32 arrays, e.g. one per dataset region; runs
    (``set_runs``) come straight from a bedGraph. Bases covered by neither are unscored.
    """

    def __init__(self, chrom_sizes: Mapping[str, int]) -> None:
        self.chrom_sizes: dict[str, int] = {str(c): int(s) for c, s in chrom_sizes.items()}
        self._segments: dict[str, list[tuple[int, np.ndarray]]] = {}
        self._runs: dict[str, Runs] = {}

    def add_segment(self, chrom: str, start: int, values: np.ndarray) -> None:
        """Add per-bp scores float32[n] for ``[start, start + n)`` (NaN = unscored)."""
        size = self.chrom_sizes.get(chrom)
        if size is None:
            raise InputError(f"score track: chromosome {chrom!r} is not in the chromosome sizes; check the inputs")
        if start < 0 or start + len(values) > size:
            raise InputError(f"score track: {chrom}:{start}-{start + len(values)} runs past the chromosome end {size}")
        self._segments.setdefault(chrom, []).append((int(start), values))

    def set_runs(self, chrom: str, runs: Runs) -> None:
        """Store precomputed runs for ``chrom`` (clipped to the chromosome)."""
        size = self.chrom_sizes[chrom]
        if len(runs) and runs.ends[-1] > size:  # runs are sorted: only the tail can pass the end
            keep = runs.starts < size
            runs = Runs(runs.starts[keep], np.minimum(runs.ends[keep], size), runs.values[keep])
        self._runs[chrom] = runs

    @property
    def chroms(self) -> list[str]:
        """Chromosomes with scores, in ``chrom_sizes`` order."""
        return [c for c in self.chrom_sizes if c in self._runs or c in self._segments]

    def runs(self, chrom: str) -> Runs:
        """Constant runs of ``chrom`` (computed from its segments when needed)."""
        if chrom in self._runs:
            return self._runs[chrom]
        segments = sorted(self._segments.get(chrom, []), key=lambda item: item[0])
        if not segments:
            return Runs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
        parts = [runs_from_array(start, values) for start, values in segments]
        joined = Runs(
            np.concatenate([p.starts for p in parts]),
            np.concatenate([p.ends for p in parts]),
            np.concatenate([p.values for p in parts]),
        )
        return merge_equal_runs(joined)

    def runs_mapping(self) -> Mapping[str, Runs]:
        """``{chrom: Runs}`` computed lazily, one chromosome at a time."""
        return LazyChromArrays(self.chroms, self.runs)

    def n_scored(self) -> int:
        """Number of scored bases."""
        return int(sum(int((r.ends - r.starts).sum()) for r in (self.runs(c) for c in self.chroms)))


# ---------------------------------------------------------------------------------------------
# background: the bottleneck's marginal Beta, -log10 p and BH q by counting unique scores


def marginal_beta(mu: float, sigma: float) -> tuple[float, float]:
    """Parameters (a, b) of the marginal r = Beta(sigma, sigma * (1 - mu) / mu)."""
    if not (0.0 < mu < 1.0) or not (sigma > 0.0) or not math.isfinite(sigma):
        raise InputError(f"marginal Beta: mu={mu}, sigma={sigma} out of range; need 0 < mu < 1 and sigma > 0")
    return float(sigma), float(sigma * (1.0 - mu) / mu)


def pscores(values: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """-log10 P_r(Z >= value) under r = Beta(sigma, sigma(1-mu)/mu); float64, capped at PSCORE_CAP."""
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
    """-log10 p and -log10 q per distinct score (``values`` ascending, float32)."""

    values: np.ndarray
    pscore: np.ndarray
    qscore: np.ndarray

    def lookup(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pscore, qscore) of scores that occur in the track (exact float32 match)."""
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


# ---------------------------------------------------------------------------------------------
# calling


def _group_above(runs: Runs, cutoff: float, max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of above-cutoff runs and, per joined group, its first and last position in them."""
    above = np.flatnonzero(runs.values >= np.float32(cutoff))
    if above.size == 0:
        empty = np.zeros(0, np.int64)
        return above, empty, empty
    gaps = runs.starts[above[1:]] - runs.ends[above[:-1]]
    breaks = np.flatnonzero(gaps > max_gap) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks, [above.size])) - 1
    return above, first, last


def _call_chrom(runs: Runs, cutoff: float, min_length: int, max_gap: int) -> pd.DataFrame:
    """Regions of one chromosome (columns REGION_COLUMNS minus chrom), MACS3 semantics."""
    above, first, last = _group_above(runs, cutoff, max_gap)
    if above.size == 0:
        return pd.DataFrame({c: [] for c in REGION_COLUMNS[1:]})
    starts = runs.starts[above[first]]
    ends = runs.ends[above[last]]
    keep = (ends - starts) >= min_length
    first, last, starts, ends = first[keep], last[keep], starts[keep], ends[keep]
    if first.size == 0:
        return pd.DataFrame({c: [] for c in REGION_COLUMNS[1:]})
    # summit: highest above run; ties -> the middle one; a highest value of 0 -> the last one
    group_len = last - first + 1
    offsets = np.concatenate(([0], np.cumsum(group_len)[:-1]))
    # positions (in ``above``) of every run of every kept group, group after group
    sel = np.repeat(first - offsets, group_len) + np.arange(int(group_len.sum()))
    vals = runs.values[above[sel]]
    gmax = np.maximum.reduceat(vals, offsets)
    group_of = np.repeat(np.arange(first.size), group_len)
    cand = np.flatnonzero(vals == gmax[group_of])
    n_cand = np.bincount(group_of[cand], minlength=first.size)
    cand_off = np.concatenate(([0], np.cumsum(n_cand)[:-1]))
    pick = np.where(gmax == 0, cand_off + n_cand - 1, cand_off + (n_cand + 1) // 2 - 1)
    best = above[sel[cand[pick]]]
    summits = (runs.starts[best] + runs.ends[best]) // 2
    # mean over the scored bases of the region, gaps included: sums over each region's own runs
    # (regions hold a small share of all runs, so this avoids prefix sums over the chromosome)
    i0, i1 = above[first], above[last] + 1
    n_runs = i1 - i0
    region_offsets = np.concatenate(([0], np.cumsum(n_runs)[:-1]))
    members = np.repeat(i0 - region_offsets, n_runs) + np.arange(int(n_runs.sum()))
    lengths = (runs.ends[members] - runs.starts[members]).astype(np.float64)
    weighted = runs.values[members].astype(np.float64) * lengths
    mean = np.add.reduceat(weighted, region_offsets) / np.add.reduceat(lengths, region_offsets)
    return pd.DataFrame({
        "start": starts.astype(np.int64), "end": ends.astype(np.int64), "summit": summits.astype(np.int64),
        "summit_score": gmax.astype(np.float32), "mean_score": mean,
    })


def call_regions(
    track: ScoreTrack, cutoff: float, min_length: int = 200, max_gap: int = 30, call_summits: bool = False,
) -> pd.DataFrame:
    """Call regions where the score is >= ``cutoff`` (``macs3 bdgpeakcall`` semantics).

    Args:
        track: the score track.
        cutoff: score threshold (inclusive).
        min_length: minimum region length in bp after joining (>= 1).
        max_gap: above-cutoff runs at most this many bp apart are joined (>= 0).
        call_summits: split regions with several summits into one row per summit (same
            region bounds, different summit), as MACS3's ``--call-summits`` does.

    Returns:
        DataFrame with REGION_COLUMNS (+ ``subpeak``: 0-based summit index within its region),
        in chromosome order then position; ``summit`` is absolute, ``summit_score`` the score at
        the summit, ``mean_score`` the mean over the scored bases of the region.
    """
    if min_length < 1 or max_gap < 0:
        raise InputError(f"--min-length {min_length} / --max-gap {max_gap}: need min-length >= 1 and max-gap >= 0")
    frames = []
    for chrom in track.chroms:
        runs = track.runs(chrom)
        frame = _call_chrom(runs, cutoff, min_length, max_gap)
        if frame.empty:
            continue
        frame.insert(0, "chrom", chrom)
        frame["subpeak"] = 0
        if call_summits:
            frame = _split_subpeaks(frame, runs, cutoff, smoothlen=min_length)
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: [] for c in REGION_COLUMNS + ["subpeak"]})
    out = pd.concat(frames, ignore_index=True)
    log.debug("called %d regions at cutoff %g", len(out), cutoff)
    return out


# ---------------------------------------------------------------------------------------------
# sub-peak summits (MACS3 --call-summits)


def _sg_derivative(signal: np.ndarray, window: int) -> np.ndarray:
    """First derivative by a 2nd-order Savitzky-Golay filter, ends padded by odd reflection."""
    half = (window - 1) // 2
    k = np.arange(-half, half + 1, dtype=np.float64)
    coeff = k / np.sum(k * k)  # the linear term of a least-squares quadratic on a symmetric grid
    s = signal.astype(np.float64)
    head = s[0] - np.abs(s[1 : half + 1][::-1] - s[0])
    tail = s[-1] + np.abs(s[-half - 1 : -1][::-1] - s[-1])
    padded = np.concatenate((head, s, tail))
    return np.correlate(padded, coeff, mode="valid")


def _local_maxima(signal: np.ndarray, smoothlen: int) -> np.ndarray:
    """Indices where the smoothed derivative turns from rising to falling."""
    window = smoothlen // 2 * 2 + 1
    if signal.shape[0] < window:
        return np.zeros(0, np.int64)
    sign = np.sign(np.round(_sg_derivative(signal, window), 16))
    maxima = np.flatnonzero(np.diff(sign) <= -1)
    # a flat top gives +,0,- and so two adjacent maxima; MACS3 keeps both and then rejects the
    # peak (the "minimum" between them is the top itself), so keep only the first of a pair
    return maxima[np.concatenate(([True], np.diff(maxima) > 1))] if maxima.size else maxima


def _valid_subpeak(signal: np.ndarray, at: int) -> bool:
    """A peak around ``at`` (in a baseline-subtracted signal) is wide and shaped enough."""
    left, right = at, at + 1
    while left > 0 and signal[left - 1] >= 0:
        left -= 1
    while right < signal.shape[0] and signal[right] >= 0:
        right += 1
    piece = signal[left:right]
    return piece.shape[0] >= SUBPEAK_MIN_WIDTH and np.unique(piece).shape[0] >= SUBPEAK_MIN_DISTINCT


def _peaky(signal: np.ndarray, maxima: np.ndarray) -> np.ndarray:
    """Keep maxima that stand out from their flanking minima (MACS3's enforce_peakyness).

    Between consecutive maxima the first lowest point is a minimum. Each maximum's stretch
    (bounded by its flanking minima, or the profile ends) minus (m + sqrt(m)), m the higher
    flanking minimum, must stay >= 0 over >= 50 bp around the maximum with >= 6 distinct values.
    """
    if maxima.shape[0] < 2:
        return maxima
    minima = [a + int(np.argmin(signal[a:b])) for a, b in zip(maxima[:-1].tolist(), maxima[1:].tolist())]
    kept = []
    for i, peak in enumerate(maxima.tolist()):
        lo = minima[i - 1] if i > 0 else 0
        hi = minima[i] if i < len(minima) else signal.shape[0]
        flank = [float(signal[m]) for m in (minima[i - 1] if i > 0 else None, minima[i] if i < len(minima) else None)
                 if m is not None]
        base = max(flank)
        base += math.sqrt(max(base, 0.0))
        if _valid_subpeak(signal[lo:hi] - np.float32(base), peak - lo):
            kept.append(peak)
    return np.array(kept, dtype=np.int64)


def _split_subpeaks(frame: pd.DataFrame, runs: Runs, cutoff: float, smoothlen: int) -> pd.DataFrame:
    """Replace each region by one row per sub-peak summit (one chromosome)."""
    rows = []
    above = runs.values >= np.float32(cutoff)
    for region in frame.itertuples(index=False):
        lo = np.searchsorted(runs.ends, region.start, side="right")
        hi = np.searchsorted(runs.starts, region.end, side="left")
        length = region.end - region.start
        # per-bp profile of the above-cutoff runs only (gap bases 0), padded by 10 bp each side
        profile = np.zeros(length + 2 * SUBPEAK_PADDING, np.float32)
        for i in range(lo, hi):
            if above[i]:
                a = runs.starts[i] - region.start + SUBPEAK_PADDING
                profile[a : a + runs.ends[i] - runs.starts[i]] = runs.values[i]
        maxima = _local_maxima(profile, smoothlen)
        maxima = maxima[(maxima >= SUBPEAK_PADDING) & (maxima < SUBPEAK_PADDING + length)]
        # MACS3's sqrt(minimum) rule assumes read counts; on [0, 1] scores it would reject every
        # sub-peak, so shapes are judged on the narrowPeak scale (score x 1000)
        maxima = _peaky(profile * np.float32(SUBPEAK_SCALE), maxima)
        if maxima.shape[0] == 0:
            rows.append(region._asdict())
            continue
        for k, m in enumerate(maxima.tolist()):
            row = region._asdict()
            row["summit"] = int(region.start + m - SUBPEAK_PADDING)
            row["summit_score"] = np.float32(profile[m])
            row["subpeak"] = k
            rows.append(row)
    return pd.DataFrame(rows, columns=list(frame.columns))


# ---------------------------------------------------------------------------------------------
# cutoff analysis


def cutoff_analysis(
    track: ScoreTrack, min_length: int = 200, max_gap: int = 30, steps: int = 100,
    cutoffs: Iterable[float] | None = None,
) -> pd.DataFrame:
    """Number and total length of regions at a ladder of cutoffs (MACS3 ``--cutoff-analysis``).

    Cutoffs are ``min + k (max - min) / steps`` for k = 1..steps over the scored values (the
    minimum itself would keep everything), unless ``cutoffs`` is given. Rows with no region are
    dropped; rows run from the highest cutoff down.

    Returns:
        DataFrame with CUTOFF_ANALYSIS_COLUMNS.
    """
    per_chrom = [track.runs(c) for c in track.chroms]
    if cutoffs is None:
        nonempty = [r.values for r in per_chrom if len(r)]
        if not nonempty:
            return pd.DataFrame({"cutoff": [], "n_elements": [], "total_bp": [], "mean_length": []})
        lo = float(min(v.min() for v in nonempty))
        hi = float(max(v.max() for v in nonempty))
        cutoffs = [lo + k * (hi - lo) / steps for k in range(1, steps + 1)] if hi > lo else [hi]
    cutoffs = sorted({float(c) for c in cutoffs}, reverse=True)
    counts = np.zeros(len(cutoffs), np.int64)
    total = np.zeros(len(cutoffs), np.int64)
    for runs in per_chrom:
        for i, c in enumerate(cutoffs):
            above, first, last = _group_above(runs, c, max_gap)
            if above.size == 0:
                continue
            length = runs.ends[above[last]] - runs.starts[above[first]]
            ok = length >= min_length
            counts[i] += int(ok.sum())
            total[i] += int(length[ok].sum())
    keep = counts > 0
    table = pd.DataFrame({"cutoff": np.array(cutoffs)[keep], "n_elements": counts[keep], "total_bp": total[keep]})
    table["mean_length"] = table["total_bp"] / table["n_elements"]
    return table


# ---------------------------------------------------------------------------------------------
# output tables


def _letters(k: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa: MACS3-style sub-peak suffixes."""
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(97 + r) + out
    return out


def element_names(regions: pd.DataFrame, stem: str) -> list[str]:
    """``STEM_element_N`` (N from 1 per region); sub-peaks of a split region get a, b, c..."""
    if regions.empty:
        return []
    # integer keys instead of "chrom:start-end" strings (string building dominated for ~10^4 rows)
    codes = pd.factorize(regions["chrom"].astype(str))[0].astype(np.int64)
    key = np.stack([codes, regions["start"].to_numpy(np.int64), regions["end"].to_numpy(np.int64)], axis=1)
    new_region = np.ones(len(regions), bool)
    new_region[1:] = (key[1:] != key[:-1]).any(axis=1)
    number = np.cumsum(new_region)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    multi = counts[inverse.reshape(-1)] > 1  # a key seen more than once anywhere in the table
    sub = regions["subpeak"].to_numpy() if "subpeak" in regions else np.zeros(len(regions), int)
    return [f"{stem}_element_{n}" + (_letters(int(s)) if m else "") for n, s, m in zip(number, sub, multi)]


def narrowpeak_table(regions: pd.DataFrame, stem: str, pq: PQTable | None) -> pd.DataFrame:
    """narrowPeak rows: score = round(1000 x summit score) clipped to 0..1000, signalValue = mean score,
    pValue/qValue = -log10 p/q at the summit (-1 without a background), peak = summit offset."""
    out = pd.DataFrame({
        "chrom": regions["chrom"].astype(str),
        "start": regions["start"].astype(np.int64),
        "end": regions["end"].astype(np.int64),
    })
    out["name"] = element_names(regions, stem)
    summit_score = regions["summit_score"].to_numpy(np.float64)
    # round, not floor: float32(0.7) is 0.69999999 and should still score 700
    out["score"] = np.clip(np.rint(1000.0 * np.nan_to_num(summit_score)), 0, 1000).astype(np.int64)
    out["strand"] = "."
    out["signalValue"] = regions["mean_score"].to_numpy(np.float64)
    if pq is not None and len(regions):
        p, q = pq.lookup(regions["summit_score"].to_numpy(np.float32))
        out["pValue"], out["qValue"] = p, q
    else:
        out["pValue"], out["qValue"] = -1.0, -1.0
    out["peak"] = (regions["summit"].to_numpy(np.int64) - out["start"].to_numpy(np.int64))
    out["summit_score"] = summit_score
    return out


def summits_table(peaks: pd.DataFrame) -> pd.DataFrame:
    """BED5 summits (1 bp at each summit; score column = the score at the summit)."""
    start = peaks["start"].to_numpy(np.int64) + peaks["peak"].to_numpy(np.int64)
    return pd.DataFrame({
        "chrom": peaks["chrom"], "start": start, "end": start + 1, "name": peaks["name"],
        "score": peaks["summit_score"].to_numpy(np.float64),
    })


# ---------------------------------------------------------------------------------------------
# model-free input


def _bigwig_runs(source, chrom: str, size: int) -> Runs:
    """Constant runs of one bigWig chromosome, every base scored (absent, NaN, +-inf = 0).

    Built from the file's entries (O(entries)); a file whose entries are unsorted, overlapping
    or past the chromosome end is expanded per base instead, which resolves them exactly as
    ``BigWigTrack.read`` does.
    """
    starts, ends, values = source.intervals(chrom)
    values = np.where(np.isfinite(values), values, np.float32(0.0)).astype(np.float32, copy=False)
    well_formed = starts.size == 0 or bool(
        starts[0] >= 0 and ends[-1] <= size and (ends > starts).all() and (starts[1:] >= ends[:-1]).all()
    )
    if well_formed:
        return fill_gaps(Runs(starts, ends, values), size, 0.0)
    log.debug("%s: %s entries are unsorted or overlap; reading it per base", source.path, chrom)
    return runs_from_array(0, source.read(chrom, 0, size))


def track_from_file(path, bigwig: bool, reference: Mapping[str, int] | None = None) -> ScoreTrack:
    """A ScoreTrack from a score bigWig or bedGraph (the ``bdgpeakcall`` use).

    Args:
        path: the bigWig (every base scored; absent = 0) or bedGraph (uncovered = unscored).
        bigwig: which of the two ``path`` is.
        reference: chromosome order and sizes to use (a dataset's or a chrom.sizes file);
            the file's chromosomes must all be in it (aliases such as chr1/1 are resolved).
            Without it, the file's own chromosomes and sizes are used.

    Raises:
        InputError: a chromosome of the file is missing from ``reference``, or longer there.
    """
    from seq2exp_cli.errors import ChromosomeNameError
    from seq2exp_cli.io.bed import read_bedgraph
    from seq2exp_cli.io.chroms import build_alias_map

    if bigwig:
        from seq2exp_cli.io.bigwig import BigWigTrack

        source = BigWigTrack(path)
        names, sizes = list(source.chrom_sizes), dict(source.chrom_sizes)
        runs_by_name = None
    else:
        runs_by_name = read_bedgraph(path)
        names = list(runs_by_name)
        sizes = {c: int(r.ends[-1]) if len(r) else 0 for c, r in runs_by_name.items()}
    if reference is None:
        mapping = {n: n for n in names}
        chrom_sizes = sizes
    else:
        try:
            mapping = build_alias_map(list(reference), names, str(path))
        except ChromosomeNameError:
            mapping = {}
        missing = [n for n in names if n not in mapping]
        if missing:
            shown = ", ".join(missing[:6]) + (f" ... ({len(missing)} in all)" if len(missing) > 6 else "")
            raise InputError(f"{path}: chromosomes {shown} are not in the reference chromosome sizes; give "
                             "--dataset/--chrom-sizes covering them, or drop them from the file")
        chrom_sizes = dict(reference)
        for name in names:
            if sizes[name] > chrom_sizes[mapping[name]]:
                raise InputError(f"{path}: {name} reaches {sizes[name]} bp but the reference length is "
                                 f"{chrom_sizes[mapping[name]]}; use the matching assembly")
    track = ScoreTrack(chrom_sizes)
    for name in names:
        if bigwig:
            track.set_runs(mapping[name], _bigwig_runs(source, name, sizes[name]))
        else:
            track.set_runs(mapping[name], runs_by_name[name])
    log.info("%s: %d chromosomes, %d runs", path, len(names), sum(len(track.runs(c)) for c in track.chroms))
    return track
