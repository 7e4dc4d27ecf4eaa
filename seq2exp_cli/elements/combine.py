"""Gene masks -> one genome-wide score track.

Two passes over the genes are needed: the calling threshold (and so the elements) is known only
once every gene's mask has been combined, but a link asks whether *one gene's own* mask reaches
that threshold over an element (``links``). Rather than run the model twice,
:class:`GeneScoreSpill` keeps each gene's per-bp scores in a temporary float16 file next to the
outputs (about 2 bytes per bp per gene: 400 kB for a 200-kb window) and removes it afterwards.

float16 keeps about 3 significant digits. Rounding is monotone, so a gene whose float32 score
reaches the threshold t somewhere in an element still passes ``float16(score) >= float16(t)``;
a gene just below t (within half a float16 step) may pass too. Link scores are reported at
float16 precision.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seq2exp_cli.elements.track import ScoreTrack
from seq2exp_cli.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

COMBINE_MODES = ("max", "mean")


@dataclass(frozen=True)
class _Spilled:
    index: int
    chrom: str
    start: int
    end: int
    offset: int  # bytes into the file
    n_runs: int  # > 0: stored as runs (float16 values, then int32 lengths); 0: per bp


class GeneScoreSpill:
    """Per-gene scores kept in a temporary float16 file inside ``directory``.

    Use as a context manager: the file is removed on exit. ``add`` appends one gene;
    ``genes()`` then yields ``(index, chrom, start, end, float16[end - start])``, one gene in
    memory at a time. A gene's scores are stored as constant runs when that is smaller (masks
    are constant over each model bin: about R-fold less disk than 2 bytes per bp).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        self._dir = Path(tempfile.mkdtemp(prefix=".seq2exp_gene_scores.", dir=directory))
        self._path = self._dir / "scores.f16"
        self._handle = open(self._path, "wb")
        self._records: list[_Spilled] = []
        self._offset = 0
        self._memmap: np.memmap | None = None

    def add(self, index: int, chrom: str, start: int, scores: np.ndarray) -> None:
        """Append one gene's per-bp scores float[n] covering ``[start, start + n)``."""
        data = np.ascontiguousarray(scores, dtype=np.float16)
        n = data.shape[0]
        cuts = np.flatnonzero(data.view(np.uint16)[1:] != data.view(np.uint16)[:-1]) + 1 if n > 1 else np.zeros(0, int)
        n_runs = cuts.size + 1 if n else 0
        if n and 6 * n_runs < 2 * n:
            first = np.concatenate([[0], cuts])
            lengths = np.diff(np.append(first, n)).astype(np.int32)
            blob = data[first].tobytes() + b"\0" * (2 * (n_runs % 2)) + lengths.tobytes()
        else:
            n_runs, blob = 0, data.tobytes()
        self._handle.write(blob)
        self._records.append(_Spilled(int(index), str(chrom), int(start), int(start) + n, self._offset, n_runs))
        self._offset += len(blob)

    def genes(self) -> Iterable[tuple[int, str, int, int, np.ndarray]]:
        """Every stored gene, in the order added."""
        if not self._handle.closed:
            self._handle.close()
        if self._offset == 0:
            return
        if self._memmap is None:
            self._memmap = np.memmap(self._path, dtype=np.uint8, mode="r", shape=(self._offset,))
        for rec in self._records:
            n = rec.end - rec.start
            if rec.n_runs == 0:
                values = self._memmap[rec.offset : rec.offset + 2 * n].view(np.float16)
            else:
                at = rec.offset + 2 * rec.n_runs + 2 * (rec.n_runs % 2)
                runs = self._memmap[rec.offset : rec.offset + 2 * rec.n_runs].view(np.float16)
                lengths = self._memmap[at : at + 4 * rec.n_runs].view(np.int32)
                values = np.repeat(runs, lengths)
            yield rec.index, rec.chrom, rec.start, rec.end, values

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        """Remove the temporary file."""
        if not self._handle.closed:
            self._handle.close()
        self._memmap = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> GeneScoreSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def combine_gene_scores(
    regions: pd.DataFrame,
    gene_masks: Iterable[Any],
    chrom_sizes: dict[str, int],
    combine: str = "max",
    blacklist: Callable[[int], np.ndarray] | None = None,
    spill: GeneScoreSpill | None = None,
    blacklist_bases: Callable[[str, int, int], np.ndarray] | None = None,
) -> ScoreTrack:
    """Combine per-gene masks over overlapping windows into one score track.

    Args:
        regions: DataFrame region_id, chrom, start, end (disjoint; every gene window lies inside
            one region, as ``PreparedDataset.regions`` guarantees).
        gene_masks: objects with ``index, chrom, start, end, scores`` (float32[end - start],
            genomic orientation), e.g. ``inference.GeneMask``, in dataset order (chromosomes in
            FASTA order, then by TSS): the track is built as they stream in
            (:mod:`seq2exp_cli.elements.stream`), in memory bounded by a few windows.
        chrom_sizes: ``{chrom: length}`` in FASTA order.
        combine: ``max`` or ``mean`` over the windows covering a base.
        blacklist: ``region_id -> bool[end - start]``; those bases become unscored (NaN).
        spill: when given, every gene's scores are also stored there for :func:`link_elements`.
        blacklist_bases: ``(chrom, start, end) -> bool[end - start]``, the same as ``blacklist``
            for any stretch (e.g. ``PreparedDataset.blacklist_mask``; no per-region array).

    Returns:
        A ScoreTrack of runs on every chromosome any gene covered; bases no window covers are
        unscored.
    """
    from seq2exp_cli.elements.stream import StreamingCombiner

    if combine not in COMBINE_MODES:
        raise InputError(f"--combine {combine}: unknown; choose max or mean")
    by_chrom: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for chrom, group in regions.groupby("chrom", sort=False):
        group = group.sort_values("start")
        by_chrom[str(chrom)] = (
            group["start"].to_numpy(np.int64), group["end"].to_numpy(np.int64), group["region_id"].to_numpy(np.int64)
        )
    bounds: dict[int, tuple[str, int]] = {}
    combiner = StreamingCombiner(chrom_sizes, combine, _region_blacklist(blacklist, blacklist_bases, bounds))
    n_genes = 0
    for mask in gene_masks:
        n_genes += 1
        scores = np.asarray(mask.scores, dtype=np.float32)
        if scores.shape[0] != mask.end - mask.start:
            raise ValueError(f"gene {mask.index}: {scores.shape[0]} scores for {mask.end - mask.start} bp")
        entry = by_chrom.get(mask.chrom)
        k = -1 if entry is None else int(np.searchsorted(entry[0], mask.start, side="right")) - 1
        if k < 0 or mask.end > entry[1][k]:
            raise InputError(
                f"gene {mask.index}: window {mask.chrom}:{mask.start}-{mask.end} lies outside the dataset's "
                "regions; re-run `seq2exp prepare` for this dataset"
            )
        rid = int(entry[2][k])
        bounds[rid] = (mask.chrom, int(entry[0][k]))
        combiner.add(mask.chrom, rid, int(entry[0][k]), int(entry[1][k]), int(mask.start), scores)
        if spill is not None:
            spill.add(mask.index, mask.chrom, mask.start, scores)
    track = combiner.finish()
    log.info("combined the masks of %d genes over %d regions (%s; at most %d bp open at once)", n_genes,
             len(bounds), combine, combiner.peak_open_bp)
    return track


def _region_blacklist(per_region, per_bases, bounds):
    """``(region_id, start, end) -> bool[end - start]`` from either blacklist form (or None)."""
    if per_bases is not None:
        return lambda rid, a, b: per_bases(bounds[rid][0], a, b)
    if per_region is None:
        return None
    cache: dict[int, np.ndarray] = {}

    def bases(rid: int, a: int, b: int) -> np.ndarray:
        if rid not in cache:
            cache.clear()  # one region at a time: regions arrive in order
            cache[rid] = np.asarray(per_region(rid), dtype=bool)
        start = bounds[rid][1]
        return cache[rid][a - start : b - start]

    return bases


