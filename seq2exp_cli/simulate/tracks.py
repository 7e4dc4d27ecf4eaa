"""Observed data for ``seq2exp simulate``: chromatin signal, DNase reads and Hi-C contacts.

All functions are vectorised numpy over one chromosome and take their randomness from the
generator they are given, so a seed fixes every byte. The generative model is described in
``simulate.py`` and ``docs/simulator.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BACKGROUND_BLOCK = 50  # bp: background signal is constant over blocks, like binned bigWigs
NOISE_BLOCK = 10  # bp: multiplicative measurement noise is constant over blocks


def contact(distance: np.ndarray, crossings: np.ndarray, d0: float, gamma: float, insulation: float) -> np.ndarray:
    """Expected contact between two loci, 1 at distance 0.

    contact = (1 + |distance| / d0) ** -gamma * insulation ** crossings, where crossings is
    the number of TAD boundaries between the loci.

    Args:
        distance: bp, any shape.
        crossings: int, same shape.
    """
    d = np.abs(np.asarray(distance, dtype=np.float64))
    return (1.0 + d / d0) ** (-gamma) * insulation ** np.asarray(crossings, dtype=np.float64)


def tad_boundaries(rng: np.random.Generator, size: int, mean: float, sigma: float = 0.4) -> np.ndarray:
    """Sorted internal TAD boundary positions (int64[b]) with log-normal domain sizes."""
    n_draw = int(3 * size / mean) + 4
    sizes = np.maximum(rng.lognormal(np.log(mean), sigma, n_draw), mean / 4)
    edges = np.cumsum(sizes).astype(np.int64)
    return edges[edges < size]


def tad_index(boundaries: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Domain number of each position (int64, same shape as positions)."""
    return np.searchsorted(boundaries, positions, side="right").astype(np.int64)


def _add_gaussian(track: np.ndarray, center: float, sd: float, height: float) -> None:
    """In place: add height * exp(-0.5 ((x - center)/sd)^2) over center +- 3 sd."""
    lo = max(0, int(center - 3 * sd))
    hi = min(track.size, int(center + 3 * sd) + 1)
    if hi <= lo:
        return
    x = np.arange(lo, hi, dtype=np.float64)
    track[lo:hi] += (height * np.exp(-0.5 * ((x - center) / sd) ** 2)).astype(np.float32)


def expected_signals(
    rng: np.random.Generator,
    size: int,
    n_mask: np.ndarray,
    elements: pd.DataFrame,
    promoters: pd.DataFrame,
    blacklist: list[tuple[int, int]],
    params: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free DNase and H3K27ac per bp for one chromosome.

    Args:
        size: chromosome length.
        n_mask: bool[size], True on N bases (signal 0 there).
        elements: rows with start, end, dnase_height, h3k27ac_height.
        promoters: rows with tss, strand (+1/-1), dnase_height, h3k27ac_height.
        blacklist: (start, end) artefact regions (very high flat signal).
        params: SimParams as a dict (background levels, peak scales).

    Returns:
        (dnase float32[size], h3k27ac float32[size]).

    Shapes: DNase is one Gaussian per element (sd = width/4) and per promoter (sd 150 bp,
    50 bp upstream of the TSS); H3K27ac flanks each element with two nucleosome humps and
    covers promoters with an upstream and a stronger downstream hump.
    """
    n_blocks = -(-size // BACKGROUND_BLOCK)
    out = []
    for level in (params["dnase_background"], params["h3k27ac_background"]):
        block = level * rng.lognormal(0.0, 0.5, n_blocks)
        out.append(np.repeat(block, BACKGROUND_BLOCK)[:size].astype(np.float32))
    dnase, k27 = out
    for s, e, hd, hk in elements[["start", "end", "dnase_height", "h3k27ac_height"]].itertuples(index=False):
        w = e - s
        c = (s + e) / 2
        _add_gaussian(dnase, c, w / 4, hd)
        _add_gaussian(k27, c - w / 2 - 100, 250.0, hk)
        _add_gaussian(k27, c + w / 2 + 100, 250.0, hk)
        _add_gaussian(k27, c, w / 3, 0.4 * hk)
    for tss, strand, hd, hk in promoters[["tss", "strand", "dnase_height", "h3k27ac_height"]].itertuples(
        index=False
    ):
        _add_gaussian(dnase, tss - 50 * strand, 150.0, hd)
        _add_gaussian(k27, tss - 400 * strand, 250.0, 0.6 * hk)
        _add_gaussian(k27, tss + 700 * strand, 400.0, hk)
    top = max(params["dnase_peak"], params["h3k27ac_peak"]) * 3
    for s, e in blacklist:
        dnase[s:e] += top
        k27[s:e] += top
    dnase[n_mask] = 0
    k27[n_mask] = 0
    return dnase, k27


def observe(rng: np.random.Generator, expected: np.ndarray, shape: float) -> np.ndarray:
    """Measured track (float32[n]) from the noise-free ``expected`` (float[n]).

    The expected signal is averaged over 10-bp bins (like a bigWig binned at 10 bp), times
    Gamma(shape, 1/shape) noise that is constant over 50-bp blocks, rounded to 2 decimals.
    Coarse steps keep the bigWig small: the background is one run per 50 bp.
    """
    n = expected.size
    n_bins = -(-n // NOISE_BLOCK)
    padded = np.zeros(n_bins * NOISE_BLOCK, dtype=np.float32)
    padded[:n] = expected
    binned = padded.reshape(n_bins, NOISE_BLOCK).mean(axis=1)
    per_block = BACKGROUND_BLOCK // NOISE_BLOCK
    noise = np.repeat(rng.gamma(shape, 1.0 / shape, -(-n_bins // per_block)), per_block)[:n_bins]
    out = np.repeat(np.round(binned * noise, 2).astype(np.float32), NOISE_BLOCK)[:n]
    out[expected == 0] = 0  # N runs stay empty
    return out


def sample_reads(
    rng: np.random.Generator, intensity: np.ndarray, n_reads: int, read_length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DNase cut sites drawn from ``intensity`` (float[size]) as single-end reads.

    Returns:
        (start int64[r], end int64[r], strand int8[r] with +1/-1), sorted by start; a +
        read starts at its cut site, a - read ends just after it.
    """
    size = intensity.size
    cum = np.cumsum(intensity, dtype=np.float64)
    if n_reads <= 0 or cum[-1] <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.int8)
    # sorted queries make the search cache-friendly (reads are sorted by position anyway)
    cut = np.searchsorted(cum, np.sort(rng.random(n_reads)) * cum[-1], side="right").astype(np.int64)
    cut = np.minimum(cut, size - 1)
    strand = np.where(rng.random(n_reads) < 0.5, 1, -1).astype(np.int8)
    start = np.where(strand == 1, cut, cut - read_length + 1)
    start = np.clip(start, 0, size - 1)
    end = np.minimum(start + read_length, size)
    order = np.lexsort((end, start))
    return start[order], end[order], strand[order]


def hic_pixels(
    rng: np.random.Generator,
    size: int,
    n_mask: np.ndarray,
    boundaries: np.ndarray,
    params: dict,
) -> pd.DataFrame:
    """Raw Hi-C counts for one chromosome (cis, upper triangle, zero pixels dropped).

    count(i, j) ~ Poisson(depth * contact(|i - j| * res, crossings(i, j)) * b_i * b_j), where
    b is a log-normal per-bin visibility bias (0 for bins that are mostly N) and crossings
    counts TAD boundaries between the bin centres. Pixels farther than ``hic_max_distance``
    are not written.

    Returns:
        DataFrame[start1 int64, start2 int64, count int64] sorted by (start1, start2).
    """
    res = int(params["hic_resolution"])
    n_bins = -(-size // res)
    pad = np.zeros(n_bins * res, dtype=bool)
    pad[:size] = n_mask
    pad[size:] = True
    n_frac = pad.reshape(n_bins, res).mean(axis=1)
    bias = rng.lognormal(0.0, params["hic_bias_sigma"], n_bins) * (n_frac < 0.5)
    tad = tad_index(boundaries, np.arange(n_bins) * res + res // 2)
    max_off = min(n_bins - 1, int(params["hic_max_distance"]) // res)
    s1, s2, cnt = [], [], []
    for off in range(max_off + 1):
        i = np.arange(n_bins - off)
        j = i + off
        lam = (
            params["hic_depth"]
            * contact(off * res, tad[j] - tad[i], params["contact_d0"], params["contact_gamma"], params["insulation"])
            * bias[i]
            * bias[j]
        )
        k = rng.poisson(lam)
        keep = k > 0
        s1.append(i[keep])
        s2.append(j[keep])
        cnt.append(k[keep])
    i = np.concatenate(s1)
    j = np.concatenate(s2)
    k = np.concatenate(cnt).astype(np.int64)
    order = np.lexsort((j, i))
    return pd.DataFrame({"start1": i[order] * res, "start2": j[order] * res, "count": k[order]})
