"""The score track: per-bp scores held as constant runs, one chromosome at a time.

Every stage of the element pipeline reads or builds a :class:`ScoreTrack`: the combiner of gene
masks (``combine``, ``stream``), the model-free readers (``regions.track_from_file``), the
caller, the statistics and the null.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.bed import LazyChromArrays, Runs, merge_equal_runs


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
