"""Score track -> regulatory elements: regions and summits, cutoff analysis, and the track of a
score bigWig/bedGraph (model-free mode).

The track itself is ``track``; ``subpeaks`` splits regions for ``--call-summits``. Tables are
:class:`~seq2exp_cli.column_table.ColumnTable` (numpy columns), so this path never imports pandas;
:func:`call_regions` gives a DataFrame for callers that want one.

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
shifts its padding 20 bp to the left) and judges sub-peak shape on score x 1000;
``--cutoff-analysis`` counts ``score >= cutoff`` like the caller itself (MACS3's analysis uses ``>``), so each row is exactly what ``--cutoff`` gives.

Everything works on :class:`~seq2exp_cli.io.bed.Runs` (constant runs) one chromosome at a time,
with vectorised numpy: the cost is O(number of runs), independent of the cutoff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from seq2exp_cli.column_table import ColumnTable
from seq2exp_cli.elements.subpeaks import split_subpeaks
from seq2exp_cli.elements.track import ScoreTrack, runs_from_array
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.bed import Runs, fill_gaps

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

REGION_COLUMNS = ["chrom", "start", "end", "summit", "summit_score", "mean_score"]


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


def empty_regions() -> ColumnTable:
    """A region table with no rows (REGION_COLUMNS + ``subpeak``, typed as the caller's)."""
    return ColumnTable({
        "chrom": np.zeros(0, object), "start": np.zeros(0, np.int64), "end": np.zeros(0, np.int64),
        "summit": np.zeros(0, np.int64), "summit_score": np.zeros(0, np.float32),
        "mean_score": np.zeros(0, np.float64), "subpeak": np.zeros(0, np.int64),
    })


def _call_chrom(chrom: str, runs: Runs, cutoff: float, min_length: int, max_gap: int) -> ColumnTable | None:
    """Regions of one chromosome (REGION_COLUMNS + ``subpeak``), MACS3 semantics; None when none."""
    above, first, last = _group_above(runs, cutoff, max_gap)
    if above.size == 0:
        return None
    starts = runs.starts[above[first]]
    ends = runs.ends[above[last]]
    keep = (ends - starts) >= min_length
    first, last, starts, ends = first[keep], last[keep], starts[keep], ends[keep]
    if first.size == 0:
        return None
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
    return ColumnTable({
        "chrom": np.full(first.size, chrom, dtype=object),
        "start": starts.astype(np.int64), "end": ends.astype(np.int64), "summit": summits.astype(np.int64),
        "summit_score": gmax.astype(np.float32), "mean_score": mean, "subpeak": np.zeros(first.size, np.int64),
    })


def call_region_table(
    track: ScoreTrack, cutoff: float, min_length: int = 200, max_gap: int = 30, call_summits: bool = False,
) -> ColumnTable:
    """Call regions where the score is >= ``cutoff`` (``macs3 bdgpeakcall`` semantics).

    Args:
        track: the score track.
        cutoff: score threshold (inclusive).
        min_length: minimum region length in bp after joining (>= 1).
        max_gap: above-cutoff runs at most this many bp apart are joined (>= 0).
        call_summits: split regions with several summits into one row per summit (same
            region bounds, different summit), as MACS3's ``--call-summits`` does.

    Returns:
        ColumnTable with REGION_COLUMNS + ``subpeak`` (0-based summit index within its region),
        in chromosome order then position: chrom object[n] of str, start/end/summit int64[n]
        (``summit`` absolute), summit_score float32[n] (the score at the summit), mean_score
        float64[n] (over the scored bases of the region), subpeak int64[n].
    """
    if min_length < 1 or max_gap < 0:
        raise InputError(f"--min-length {min_length} / --max-gap {max_gap}: need min-length >= 1 and max-gap >= 0")
    tables = []
    for chrom in track.chroms:
        runs = track.runs(chrom)
        table = _call_chrom(chrom, runs, cutoff, min_length, max_gap)
        if table is None:
            continue
        if call_summits:
            table = split_subpeaks(table, runs, cutoff, smoothlen=min_length)
        tables.append(table)
    if not tables:
        return empty_regions()
    out = ColumnTable.concat(tables)
    log.debug("called %d regions at cutoff %g", len(out), cutoff)
    return out


def call_regions(
    track: ScoreTrack, cutoff: float, min_length: int = 200, max_gap: int = 30, call_summits: bool = False,
) -> pd.DataFrame:
    """:func:`call_region_table` as a pandas DataFrame (same columns), for callers that want one."""
    return call_region_table(track, cutoff, min_length, max_gap, call_summits).to_frame()


# ---------------------------------------------------------------------------------------------
# cutoff analysis


def cutoff_analysis(
    track: ScoreTrack, min_length: int = 200, max_gap: int = 30, steps: int = 100,
    cutoffs: Iterable[float] | None = None,
) -> ColumnTable:
    """Number and total length of regions at a ladder of cutoffs (MACS3 ``--cutoff-analysis``).

    Cutoffs are ``min + k (max - min) / steps`` for k = 1..steps over the scored values (the
    minimum itself would keep everything), unless ``cutoffs`` is given. Rows with no region are
    dropped; rows run from the highest cutoff down.

    Returns:
        ColumnTable with CUTOFF_ANALYSIS_COLUMNS: cutoff float64[k], n_elements int64[k],
        total_bp int64[k], mean_length float64[k].
    """
    per_chrom = [track.runs(c) for c in track.chroms]
    if cutoffs is None:
        nonempty = [r.values for r in per_chrom if len(r)]
        if not nonempty:
            return ColumnTable({"cutoff": np.zeros(0), "n_elements": np.zeros(0, np.int64),
                                "total_bp": np.zeros(0, np.int64), "mean_length": np.zeros(0)})
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
    return ColumnTable({"cutoff": np.array(cutoffs, np.float64)[keep], "n_elements": counts[keep],
                        "total_bp": total[keep], "mean_length": total[keep] / counts[keep]})


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
