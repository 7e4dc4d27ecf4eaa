"""Score track -> threshold -> elements (tested, refined) -> every requested file, written atomically.

The model-free path works on numpy columns; pandas arrives only with a dataset's genes (links).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seq2exp_cli.column_table import ColumnTable
from seq2exp_cli.elements.combine import GeneScoreSpill
from seq2exp_cli.elements.links import link_elements, links_bedpe
from seq2exp_cli.elements.regions import call_region_table, cutoff_analysis, empty_regions
from seq2exp_cli.elements.settings import CallSettings, stem_of
from seq2exp_cli.elements.stats import cutoff_for_fraction, score_histogram
from seq2exp_cli.elements.tables import (
    encode_links_table, first_region_rows, interact_table, narrowpeak_table, summits_table,
)
from seq2exp_cli.elements.track import ScoreTrack
from seq2exp_cli.io import bed

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


ElementNull = Callable[[ColumnTable, ScoreTrack, float], tuple[np.ndarray, np.ndarray]]


def _tested(regions: ColumnTable, element_null: ElementNull, settings: CallSettings, track: ScoreTrack,
            cutoff: float) -> tuple[ColumnTable, tuple[np.ndarray, np.ndarray]]:
    """Per-row (-log10 p, -log10 q) from the per-element null, and the rows that pass -p/-q
    (q stays the BH q over every called element)."""
    first = first_region_rows(regions)
    if first.size == 0:
        return regions, (np.zeros(0), np.zeros(0))
    pscore, qscore = element_null(regions.take(first), track, cutoff)
    element_of = np.searchsorted(first, np.arange(len(regions)), side="right") - 1  # sub-peak rows follow theirs
    p_rows, q_rows = np.asarray(pscore)[element_of], np.asarray(qscore)[element_of]
    keep = np.ones(len(regions), bool)
    if settings.pvalue is not None:
        keep = passes_as_written(p_rows, settings.pvalue)
    elif settings.qvalue is not None:
        keep = passes_as_written(q_rows, settings.qvalue)
    if settings.pvalue is not None or settings.qvalue is not None:
        log.info("%d of %d elements pass %s", int(first_region_rows(regions.take(np.flatnonzero(keep))).size),
                 first.size, f"-p {settings.pvalue}" if settings.pvalue is not None else f"-q {settings.qvalue}")
    rows = np.flatnonzero(keep)
    return regions.take(rows), (p_rows[rows], q_rows[rows])


def passes_as_written(scores: np.ndarray, threshold: float) -> np.ndarray:
    """bool[n]: the -log10 p or q scores that reach ``threshold`` (a p or q value) as the
    narrowPeak writes them (``bed.TABLE_FLOAT_FORMAT``), so a value read back from the file passes
    its own cut even when the unrounded score lies just below it."""
    written = np.array([float(bed.TABLE_FLOAT_FORMAT % v) for v in np.asarray(scores, np.float64)], np.float64)
    return written >= -np.log10(threshold) - 1e-9


@dataclass
class CalledElements:
    """The called elements as tables, before anything is written.

    ``peaks`` (narrowPeak rows, one per element or sub-peak) and ``summits`` are
    :class:`~seq2exp_cli.column_table.ColumnTable`; ``links`` (ENCODE-rE2G columns), ``bedpe`` and
    ``interact`` are DataFrames in model mode and None without per-gene scores;
    ``cutoff_analysis`` is present when asked for. ``cutoff`` is the score threshold used
    (inf when no base reaches the requested fraction).
    """

    track: ScoreTrack
    cutoff: float
    n_called: int
    peaks: ColumnTable
    summits: ColumnTable
    links: pd.DataFrame | None = None
    bedpe: pd.DataFrame | None = None
    interact: pd.DataFrame | None = None
    cutoff_analysis: ColumnTable | None = None

    @property
    def n_elements(self) -> int:
        return int(first_region_rows(self.peaks).size)

    @property
    def total_bp(self) -> int:
        elements = first_region_rows(self.peaks)  # one row per element (sub-peak rows share their element)
        return int((self.peaks["end"][elements] - self.peaks["start"][elements]).sum())

    def summary(self) -> dict[str, Any]:
        return {
            "score_cutoff": self.cutoff if np.isfinite(self.cutoff) else None, "n_called": self.n_called,
            "n_elements": self.n_elements, "n_summits": len(self.peaks), "total_bp": self.total_bp,
            "n_links": 0 if self.links is None else len(self.links),
        }


def call_tables(
    track: ScoreTrack,
    settings: CallSettings,
    stem: str,
    spill: GeneScoreSpill | None = None,
    genes: pd.DataFrame | None = None,
    refine: Callable[[ColumnTable, ScoreTrack], ColumnTable] | None = None,
    element_null: ElementNull | None = None,
) -> CalledElements:
    """Resolve the threshold and call elements named ``STEM_element_N``; links when ``spill``
    and ``genes`` are given. Arguments as for :func:`call_and_write`."""
    settings.check(element_null is not None)
    if settings.cutoff is not None:
        cutoff = float(settings.cutoff)
    else:
        cutoff = cutoff_for_fraction(score_histogram(track), settings.top_fraction)
    log.info("score cutoff %s", "none reached (no base passes)" if not np.isfinite(cutoff) else f"{cutoff:.6g}")
    if np.isfinite(cutoff):
        regions = call_region_table(track, cutoff, settings.min_length, settings.max_gap, settings.call_summits)
    else:
        regions = empty_regions()
    n_called = int(first_region_rows(regions).size)
    pq = None
    if element_null is not None and settings.null_shuffles >= 2:
        regions, pq = _tested(regions, element_null, settings, track, cutoff)
    if refine is not None and len(regions):
        regions = refine(regions, track)
    peaks = narrowpeak_table(regions, stem, pq)
    called = CalledElements(track, cutoff, n_called, peaks, summits_table(peaks))
    if spill is not None and genes is not None:
        # no finite cutoff means no elements: link_elements returns the empty table
        links = link_elements(peaks, spill, genes, cutoff if np.isfinite(cutoff) else 0.0)
        called.links = encode_links_table(links, genes, settings.cell_type)
        called.bedpe = links_bedpe(links)
        called.interact = interact_table(links, genes, settings.cell_type)
    if settings.cutoff_analysis:
        called.cutoff_analysis = cutoff_analysis(track, settings.min_length, settings.max_gap, settings.cutoff_steps)
    return called


def log_called(called: CalledElements, written: bool) -> None:
    """One line on what was called (a warning, with a hint, when nothing was)."""
    if called.n_elements == 0:
        track = called.track
        top = max((float(track.runs(c).values.max()) for c in track.chroms if len(track.runs(c).values)), default=0.0)
        log.warning("no elements pass the threshold (score cutoff %s; the highest score is %.3g); %s; a trained "
                    "bottleneck keeps scores near its marginal mean mu, so try --top-fraction",
                    f"{called.cutoff:.6g}", top, "wrote empty files" if written else "the tables are empty")
    else:
        log.info("%d elements (%d bp), %d summits, %d element-gene links", called.n_elements, called.total_bp,
                 len(called.peaks), called.summary()["n_links"])


def write_called(called: CalledElements, paths: dict[str, Path]) -> None:
    """Write every file in ``paths`` (from :func:`output_paths`) that ``called`` holds a table for,
    and the score track as bedGraph/bigWig when asked for."""
    bed.write_table(paths["narrowPeak"], called.peaks, "narrowPeak")
    bed.write_table(paths["summits"], called.summits, "summits")
    if "links" in paths:
        if called.links is None:
            raise ValueError("write_called: links requested without per-gene scores")
        bed.write_table(paths["links"], called.links, "links")
        bed.write_table(paths["bedpe"], called.bedpe, "bedpe")
        bed.write_table(paths["interact"], called.interact, "interact")
    if "cutoff_analysis" in paths and called.cutoff_analysis is not None:
        bed.write_table(paths["cutoff_analysis"], called.cutoff_analysis, "cutoff_analysis")
    track = called.track
    if "bedgraph" in paths:
        bed.write_bedgraph(paths["bedgraph"], (
            (c, bed.fill_gaps(track.runs(c), track.chrom_sizes[c])) for c in track.chroms))
    if "bigwig" in paths:
        from seq2exp_cli.io.bigwig import write_bigwig_runs

        write_bigwig_runs(paths["bigwig"], track.chrom_sizes, track.runs_mapping())


def call_and_write(
    track: ScoreTrack,
    paths: dict[str, Path],
    settings: CallSettings,
    spill: GeneScoreSpill | None = None,
    genes: pd.DataFrame | None = None,
    refine: Callable[[ColumnTable, ScoreTrack], ColumnTable] | None = None,
    element_null: ElementNull | None = None,
) -> dict[str, Any]:
    """Resolve the threshold, call elements, and write every requested output atomically.

    Args:
        track: the combined score track.
        paths: from :func:`output_paths`.
        settings: thresholds and options (checked here).
        spill, genes: per-gene scores and the gene table, for the links files.
        refine: (regions, track) -> regions with base-pair edges and summits (model mode).
        element_null: (elements, one row each; the track; the cutoff) -> (-log10 p, -log10 q)
            per element (model mode); without it pValue/qValue are -1 and -p/-q are refused.
            Elements are tested as called, before ``refine``.

    Returns:
        A summary dict: score cutoff, element count, total bp, scored bp, files written.
    """
    if "links" in paths and (spill is None or genes is None):
        raise ValueError("call_and_write: links requested without per-gene scores")
    with_links = "links" in paths
    called = call_tables(track, settings, stem_of(paths), spill if with_links else None,
                         genes if with_links else None, refine, element_null)
    write_called(called, paths)
    log_called(called, written=True)
    return {**called.summary(), "outputs": {k: str(v) for k, v in paths.items()}}
