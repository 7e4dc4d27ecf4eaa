"""Per-gene scores combined into runs as they stream in, in memory bounded by a window.

Genes come in dataset order (chromosomes in FASTA order, then by TSS), so a later gene's
window never starts more than a window before an earlier one's. Each chromosome keeps one
per-bp buffer covering the bases still open to change: bases more than a window before the
newest mask are final; they are turned into constant runs (masks are constant over each
model bin, so runs are about R-fold smaller) and dropped from the buffer. Peak memory is then
a few windows of float32 (plus the runs) whatever the number of genes, instead of one float32
array per scored region.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seq2exp_cli.elements.track import ScoreTrack, runs_from_array
from seq2exp_cli.io.bed import Runs, merge_equal_runs


class _OpenBases:
    """The not-yet-final bases of one region: ``[lo, lo + len(acc))``."""

    def __init__(self, region_id: int, lo: int, end: int, mean: bool) -> None:
        self.region_id, self.lo, self.end, self.mean = region_id, lo, end, mean
        self.acc = np.zeros(0, np.float32)
        self.count = np.zeros(0, np.uint32) if mean else None

    def cover(self, hi: int) -> None:
        """Grow the buffer to reach genomic ``hi``."""
        grow = hi - (self.lo + self.acc.shape[0])
        if grow > 0:
            fill = 0.0 if self.mean else np.nan
            self.acc = np.concatenate([self.acc, np.full(grow, fill, np.float32)])
            if self.mean:
                self.count = np.concatenate([self.count, np.zeros(grow, np.uint32)])

    def take(self, upto: int) -> np.ndarray:
        """Remove and return the final scores of ``[lo, upto)`` (NaN = unscored)."""
        n = max(0, min(upto, self.lo + self.acc.shape[0]) - self.lo)
        values, self.acc = self.acc[:n], self.acc[n:].copy()
        if self.mean:
            counts, self.count = self.count[:n], self.count[n:].copy()
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(counts > 0, values / np.maximum(counts, 1), np.nan).astype(np.float32)
        self.lo = max(self.lo + n, upto)  # bases before upto that no mask covered are final too (unscored)
        return values


class StreamingCombiner:
    """Combine masks (``max`` or ``mean`` over covering windows) into a :class:`ScoreTrack` of runs.

    ``blacklist(region_id, start, end) -> bool[end - start]`` marks bases that become unscored.
    Raises ValueError when a mask arrives for bases already final (masks out of dataset order).
    """

    def __init__(self, chrom_sizes: dict[str, int], combine: str,
                 blacklist: Callable[[int, int, int], np.ndarray] | None = None) -> None:
        self.track = ScoreTrack(chrom_sizes)
        self._mean = combine == "mean"
        self._blacklist = blacklist
        self._chrom: str | None = None
        self._open: _OpenBases | None = None
        self._parts: list[Runs] = []
        self._done: set[str] = set()
        self.peak_open_bp = 0

    def add(self, chrom: str, region_id: int, region_start: int, region_end: int, start: int,
            scores: np.ndarray) -> None:
        """One mask over ``[start, start + len(scores))`` inside region ``region_id``."""
        end = start + scores.shape[0]
        if chrom != self._chrom:
            self._finish_chrom()
            if chrom in self._done:
                raise ValueError(f"masks of {chrom} arrive after other chromosomes; give them in dataset order")
            self._chrom = chrom
        if self._open is None or self._open.region_id != region_id:
            if self._open is not None and region_start < self._open.end:
                raise ValueError(f"region {region_id} arrives after a later region; give masks in dataset order")
            self._flush(None)
            self._open = _OpenBases(region_id, region_start, region_end, self._mean)
        if start < self._open.lo:
            raise ValueError(f"mask {chrom}:{start}-{end} reaches bases already final; give masks in dataset order")
        # a later gene's window starts at most one window before this one's: older bases are final
        self._flush(max(self._open.lo, start - scores.shape[0]))
        self._open.cover(end)
        sl = slice(start - self._open.lo, end - self._open.lo)
        if self._mean:
            self._open.acc[sl] += scores
            self._open.count[sl] += 1
        else:
            np.fmax(self._open.acc[sl], scores, out=self._open.acc[sl])  # fmax: NaN (not yet covered) loses
        self.peak_open_bp = max(self.peak_open_bp, self._open.acc.shape[0])

    def finish(self) -> ScoreTrack:
        """Flush everything; the track holds runs for every chromosome seen."""
        self._finish_chrom()
        return self.track

    def _flush(self, upto: int | None) -> None:
        """Turn the open bases before ``upto`` (all of them for None) into runs."""
        if self._open is None:
            return
        lo = self._open.lo
        values = self._open.take(self._open.end if upto is None else upto)
        if values.shape[0] == 0:
            return
        if self._blacklist is not None:
            values[np.asarray(self._blacklist(self._open.region_id, lo, lo + values.shape[0]), dtype=bool)] = np.nan
        self._parts.append(runs_from_array(lo, values))

    def _finish_chrom(self) -> None:
        self._flush(None)
        self._open = None
        if self._chrom is None:
            return
        parts = self._parts or [runs_from_array(0, np.zeros(0, np.float32))]
        joined = Runs(np.concatenate([p.starts for p in parts]), np.concatenate([p.ends for p in parts]),
                      np.concatenate([p.values for p in parts]))
        self.track.set_runs(self._chrom, merge_equal_runs(joined))
        self._done.add(self._chrom)
        self._parts, self._chrom = [], None
