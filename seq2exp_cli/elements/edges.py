"""Base-pair edges and summits of model-mode elements, refined from the dataset's per-bp tracks.

A model at resolution R scores R-bp bins, so the edges and summits of its elements lie on bin
grids. Within those bins the dataset's tracks (DNase, H3K27ac, ..., stored per bp; Hi-C is
not used) say where the element's signal is. Per element, the evidence is

    e(x) = sum over tracks k of track_k(x) / max over the element of track_k

(tracks that are zero throughout the element are left out), and:

1. **summit**: the base where e is highest within the score summit's constant run and at most
   R // 2 bp from the score summit (ties: the middle one of the tied bases), so the score at
   the summit does not change;
2. **edges**: within the first R bp, the start moves to the first base with
   e >= EDGE_FRACTION x max e (to the end of those R bp when none reaches it); likewise the
   end within the last R bp; an edge never moves past a summit of the element;
3. **signalValue** is the mean score over the refined span.

An element without evidence (every track 0 there) keeps its bin edges and summit. Edges only
move inwards, so elements stay inside their chromosome and may end up to 2R - 2 bp shorter
than ``--min-length``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from seq2exp_cli.column_table import ColumnTable
from seq2exp_cli.elements.tables import region_keys
from seq2exp_cli.io.bed import Runs

# an edge base needs this share of the element's highest per-bp evidence
EDGE_FRACTION = 0.25

Evidence = Callable[[str, int, int], np.ndarray]


def dataset_evidence(dataset: Any) -> Evidence:
    """``(chrom, start, end) -> float64[end - start]``: e(x) over an interval, from the
    dataset's stored tracks (bases no region stores read 0)."""
    regions = dataset.regions
    names = list(dataset.track_names)

    def evidence(chrom: str, start: int, end: int) -> np.ndarray:
        tracks = np.zeros((len(names), end - start))
        hit = regions[(regions["chrom"] == chrom) & (regions["end"] > start) & (regions["start"] < end)]
        for rid, r_start, r_end in zip(hit["region_id"].tolist(), hit["start"].tolist(), hit["end"].tolist()):
            a, b = max(start, int(r_start)), min(end, int(r_end))
            for k, name in enumerate(names):
                tracks[k, a - start : b - start] = dataset.region_track(int(rid), name, a - int(r_start),
                                                                         b - int(r_start))
        return normalised_evidence(tracks)

    return evidence


def normalised_evidence(tracks: np.ndarray) -> np.ndarray:
    """float64[n]: the sum over rows of tracks[k] / max(tracks[k]); rows whose max is <= 0 or not
    finite are left out (negative and non-finite values count as 0)."""
    t = np.nan_to_num(np.asarray(tracks, np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    if t.ndim == 1:
        t = t[None]
    top = t.max(axis=1) if t.shape[1] else np.zeros(t.shape[0])
    used = top > 0
    if not used.any():
        return np.zeros(t.shape[1])
    return (t[used] / top[used, None]).sum(axis=0)


def _refined_summit(e: np.ndarray, start: int, end: int, summit: int, runs: Runs, resolution: int) -> int:
    """The summit moved to the highest evidence within its score run and R // 2 bp of it."""
    k = int(np.searchsorted(runs.starts, summit, side="right")) - 1
    run_start, run_end = (int(runs.starts[k]), int(runs.ends[k])) if k >= 0 and runs.ends[k] > summit else (summit, summit + 1)
    half = resolution // 2
    lo = max(run_start, summit - half, start)
    hi = min(run_end, summit + half + 1, end)
    window = e[lo - start : hi - start]
    if window.size == 0 or window.max() <= 0:
        return summit
    best = np.flatnonzero(window == window.max())
    return lo + int(best[(best.size - 1) // 2])


def _refined_edges(e: np.ndarray, start: int, end: int, summits: list[int], resolution: int) -> tuple[int, int]:
    """New (start, end): the first and last R bp trimmed to the bases with enough evidence."""
    peak = float(e.max()) if e.size else 0.0
    if peak <= 0:
        return start, end
    ok = e >= EDGE_FRACTION * peak
    zone = min(resolution, end - start)
    head = np.flatnonzero(ok[:zone])
    new_start = start + (int(head[0]) if head.size else zone)
    tail = np.flatnonzero(ok[end - start - zone :])
    new_end = end - zone + (int(tail[-1]) + 1 if tail.size else 0)
    return min(new_start, min(summits)), max(new_end, max(summits) + 1)


def _mean_score(runs: Runs, start: int, end: int) -> float:
    """Mean score over the scored bases of [start, end) (NaN when none is scored)."""
    lo = int(np.searchsorted(runs.ends, start, side="right"))
    hi = int(np.searchsorted(runs.starts, end, side="left"))
    a = np.maximum(runs.starts[lo:hi], start)
    b = np.minimum(runs.ends[lo:hi], end)
    lengths = (b - a).astype(np.float64)
    total = lengths.sum()
    return float((runs.values[lo:hi].astype(np.float64) * lengths).sum() / total) if total > 0 else float("nan")


def refine_edges(regions: ColumnTable, runs_of: Callable[[str], Runs], evidence: Evidence,
                 resolution: int) -> ColumnTable:
    """Regions (REGION_COLUMNS + ``subpeak``, as the caller gives them) with base-pair edges,
    summits and mean scores (see the module docstring); rows keep their order.

    Args:
        regions: the called regions; sub-peak rows of one region share its edges.
        runs_of: ``chrom -> Runs`` of the score track.
        evidence: ``(chrom, start, end) -> e(x)``, e.g. :func:`dataset_evidence`.
        resolution: the model's bin size R in bp (R <= 1 leaves the regions as they are).
    """
    n = len(regions)
    if n == 0 or resolution <= 1:
        return regions
    chrom = np.asarray(regions["chrom"]).astype(str)
    start = np.asarray(regions["start"], np.int64).copy()
    end = np.asarray(regions["end"], np.int64).copy()
    summit = np.asarray(regions["summit"], np.int64).copy()
    mean = np.asarray(regions["mean_score"], np.float64).copy()
    keys = region_keys(regions)
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    for g in np.unique(group).tolist():
        rows = np.flatnonzero(group == g)
        c, a, b = chrom[rows[0]], int(start[rows[0]]), int(end[rows[0]])
        runs = runs_of(c)
        e = np.asarray(evidence(c, a, b), np.float64)
        for r in rows.tolist():
            summit[r] = _refined_summit(e, a, b, int(summit[r]), runs, resolution)
        new_a, new_b = _refined_edges(e, a, b, summit[rows].tolist(), resolution)
        if (new_a, new_b) != (a, b):
            start[rows], end[rows] = new_a, new_b
            mean[rows] = _mean_score(runs, new_a, new_b)
    return regions.assign(start=start, end=end, summit=summit, mean_score=mean)
