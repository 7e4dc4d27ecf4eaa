"""Interval formats written by call-elements: schemas as data, atomic writers, bedGraph I/O.

Each format's column names live in one tuple below, so writers, readers and tests share one
definition (as bioframe's ``io/schemas.py`` does). Coordinates are 0-based half-open.

Files without a header (BED, narrowPeak, summits, bedpe, bedGraph) are what genome browsers
and MACS3 users expect; the links TSV (ABC-style) and the cutoff analysis carry a header.

Tables come as a :class:`~seq2exp_cli.column_table.ColumnTable` or a DataFrame; their rows are
formatted by ``io/delimited.py`` (byte-identical to ``DataFrame.to_csv``). pandas is imported
only by the functions that need it (reading text tables, writing a table with fields that need
quoting): the model-free ``call-elements`` path never loads it, which saves about a third of a
second of start-up per run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seq2exp_cli.column_table import ColumnTable
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.atomic import atomic_path
from seq2exp_cli.io.delimited import format_rows

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

BED3_COLUMNS: tuple[str, ...] = ("chrom", "start", "end")
NARROWPEAK_COLUMNS: tuple[str, ...] = (
    "chrom", "start", "end", "name", "score", "strand", "signalValue", "pValue", "qValue", "peak",
)
SUMMITS_COLUMNS: tuple[str, ...] = ("chrom", "start", "end", "name", "score")
BEDPE_COLUMNS: tuple[str, ...] = ("chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score")
BEDGRAPH_COLUMNS: tuple[str, ...] = ("chrom", "start", "end", "value")
# element-gene links in the ENCODE-rE2G predictions format (the columns the CRISPR benchmarking
# pipeline reads; the model-specific feature columns of ENCODE-rE2G are left out)
LINKS_COLUMNS: tuple[str, ...] = (
    "chr", "start", "end", "name", "class", "TargetGene", "TargetGeneTSS", "TargetGeneIsExpressed",
    "TargetGeneEnsembl_ID", "isSelfPromoter", "CellType", "distanceToTSS", "Score",
)
# UCSC interact (bed5+13; bedToBigBed -as=interact.as -type=bed5+13 makes a bigInteract)
INTERACT_COLUMNS: tuple[str, ...] = (
    "chrom", "chromStart", "chromEnd", "name", "score", "value", "exp", "color", "sourceChrom", "sourceStart",
    "sourceEnd", "sourceName", "sourceStrand", "targetChrom", "targetStart", "targetEnd", "targetName",
    "targetStrand",
)
CUTOFF_ANALYSIS_COLUMNS: tuple[str, ...] = ("cutoff", "n_elements", "total_bp", "mean_length")

# name -> (columns, header written?)
SCHEMAS: dict[str, tuple[tuple[str, ...], bool]] = {
    "bed3": (BED3_COLUMNS, False),
    "narrowPeak": (NARROWPEAK_COLUMNS, False),
    "summits": (SUMMITS_COLUMNS, False),
    "bedpe": (BEDPE_COLUMNS, False),
    "bedGraph": (BEDGRAPH_COLUMNS, False),
    "links": (LINKS_COLUMNS, True),
    "interact": (INTERACT_COLUMNS, False),
    "cutoff_analysis": (CUTOFF_ANALYSIS_COLUMNS, True),
}

# float32 survives a text round trip with 9 significant digits; MACS3 reads values as float32,
# so a bedGraph written this way gives MACS3 exactly the values our caller sees.
BEDGRAPH_FLOAT_FORMAT = "%.9g"
#: float columns of the element tables (narrowPeak, links, ...)
TABLE_FLOAT_FORMAT = "%.6g"


def write_table(path: str | os.PathLike, table: pd.DataFrame | ColumnTable, schema: str,
                float_format: str = TABLE_FLOAT_FORMAT) -> None:
    """Write ``table`` in the named format, atomically.

    Args:
        path: output file.
        table: a ColumnTable or DataFrame holding (at least) the schema's columns; extra columns
            are ignored.
        schema: a key of ``SCHEMAS``.
        float_format: printf format for float columns.

    Raises:
        ValueError: the table lacks a column of the schema (a programming error).
    """
    columns, header = SCHEMAS[schema]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"write_table({schema}): missing columns {missing}")
    text = format_rows(table, columns, float_format)
    with atomic_path(path) as tmp:
        if text is None:
            frame = table.to_frame() if isinstance(table, ColumnTable) else table
            frame.loc[:, list(columns)].to_csv(
                tmp, sep="\t", header=header, index=False, float_format=float_format, lineterminator="\n"
            )
        else:
            with open(tmp, "w") as handle:
                if header:
                    handle.write("\t".join(columns) + "\n")
                handle.write(text)


def read_table(path: str | os.PathLike, schema: str) -> pd.DataFrame:
    """Read a file written by :func:`write_table` back with the schema's column names."""
    import pandas as pd

    columns, header = SCHEMAS[schema]
    if Path(path).stat().st_size == 0:
        return pd.DataFrame({c: [] for c in columns})
    return pd.read_csv(
        path, sep="\t", header=0 if header else None, names=None if header else list(columns),
        dtype={columns[0]: str},
    )


@dataclass(frozen=True)
class Runs:
    """Runs of constant score on one chromosome.

    Attributes:
        starts, ends: int64[n], sorted and disjoint (``ends[i] <= starts[i + 1]``); bases in no
            run are unscored.
        values: float32[n].
    """

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def merge_equal_runs(runs: Runs) -> Runs:
    """Join abutting runs of equal value (what MACS3's bedGraph reader does on input)."""
    if len(runs) < 2:
        return runs
    same = (runs.starts[1:] == runs.ends[:-1]) & (runs.values[1:] == runs.values[:-1])
    if not same.any():
        return runs
    keep_start = np.concatenate(([True], ~same))
    keep_end = np.concatenate((~same, [True]))
    return Runs(runs.starts[keep_start], runs.ends[keep_end], runs.values[keep_start])


def fill_gaps(runs: Runs, size: int, fill: float = 0.0) -> Runs:
    """Cover ``[0, size)`` completely: gaps between runs become runs of ``fill``.

    Used before writing a bedGraph, because MACS3's reader ignores interval starts and would
    give a gap the value of the interval after it, and to read a bigWig (absent bases = 0).
    ``runs`` must be sorted and disjoint (as :class:`Runs` promises), so the gap runs are
    interleaved in place instead of sorting.
    """
    n = len(runs)
    if n == 0:
        if size <= 0:
            return runs
        return Runs(np.array([0], np.int64), np.array([size], np.int64), np.array([fill], np.float32))
    starts = runs.starts.astype(np.int64, copy=False)
    ends = runs.ends.astype(np.int64, copy=False)
    prev_end = np.empty(n, np.int64)
    prev_end[0] = 0
    prev_end[1:] = ends[:-1]
    gap = starts > prev_end
    tail = size > int(ends[-1])
    gap_index = np.flatnonzero(gap)
    if gap_index.size == 0 and not tail:
        return merge_equal_runs(runs)
    # the gap before run i lands at output slot i + (number of gaps before it); boolean masks
    # place runs and gaps without a sort
    total = n + gap_index.size + int(tail)
    is_gap = np.zeros(total, bool)
    is_gap[gap_index + np.arange(gap_index.size)] = True
    if tail:
        is_gap[-1] = True
    is_run = ~is_gap
    out_starts = np.empty(total, np.int64)
    out_ends = np.empty(total, np.int64)
    out_values = np.full(total, fill, np.float32)
    out_starts[is_run], out_ends[is_run], out_values[is_run] = starts, ends, runs.values
    gap_starts, gap_ends = prev_end[gap_index], starts[gap_index]
    if tail:
        gap_starts, gap_ends = np.append(gap_starts, ends[-1]), np.append(gap_ends, size)
    out_starts[is_gap], out_ends[is_gap] = gap_starts, gap_ends
    return merge_equal_runs(Runs(out_starts, out_ends, out_values))


def write_bedgraph(path: str | os.PathLike, chrom_runs: Iterator[tuple[str, Runs]]) -> int:
    """Write runs as a bedGraph (no header), chromosome by chromosome, atomically.

    Args:
        path: output file.
        chrom_runs: ``(chrom, Runs)`` pairs in output order.

    Returns:
        the number of lines written.
    """
    n_lines = 0
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        for chrom, runs in chrom_runs:
            if len(runs) == 0:
                continue
            table = ColumnTable({"chrom": np.full(len(runs), chrom, dtype=object), "start": runs.starts,
                                 "end": runs.ends, "value": runs.values.astype(np.float32, copy=False)})
            text = format_rows(table, BEDGRAPH_COLUMNS, BEDGRAPH_FLOAT_FORMAT)
            if text is None:  # a chromosome name that needs quoting: let pandas write it
                table.to_frame().to_csv(handle, sep="\t", header=False, index=False,
                                        float_format=BEDGRAPH_FLOAT_FORMAT, lineterminator="\n")
            else:
                handle.write(text)
            n_lines += len(table)
    return n_lines


def _skip_header_lines(path: Path) -> int:
    """Count leading ``track``/``browser``/``#`` lines (bedGraph headers)."""
    n = 0
    with open(path, errors="replace") as handle:
        for line in handle:
            if line.startswith(("track", "browser", "#")) or not line.strip():
                n += 1
            else:
                break
    return n


def read_bedgraph(path: str | os.PathLike) -> dict[str, Runs]:
    """Read a bedGraph into runs per chromosome (file order of chromosomes kept).

    Bases the file does not cover are unscored. Abutting lines of equal value are joined.

    Raises:
        InputError: missing file, malformed lines, or intervals not sorted / overlapping.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: bedGraph not found; check the --from-bedgraph path")
    skip = _skip_header_lines(path)
    dtypes = {"chrom": "category", "start": np.int64, "end": np.int64, "value": np.float64}
    table = None
    # tab-separated is the format (and the C parser's fast path); other whitespace is a fallback
    for sep in ("\t", r"\s+"):
        try:
            table = pd.read_csv(path, sep=sep, header=None, usecols=[0, 1, 2, 3], names=list(BEDGRAPH_COLUMNS),
                                skiprows=skip, dtype=dtypes, engine="c")
            break
        except pd.errors.EmptyDataError:
            table = None
            error = ValueError("no data lines")
            break
        except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError too: binary bytes
            error = exc
    if table is None and str(error) == "no data lines" or table is not None and table.empty:
        raise InputError(f"{path}: the bedGraph has no data lines; give a bedGraph with scores "
                         "(chrom start end value)")
    if table is None:
        raise InputError(f"{path}: not a bedGraph (chrom start end value) ({str(error).splitlines()[0]}); "
                         "fix the file or convert it with bigWigToBedGraph")
    codes = table["chrom"].cat.codes.to_numpy()
    names = table["chrom"].cat.categories
    cut = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    block_start = np.concatenate(([0], cut))
    block_end = np.concatenate((cut, [codes.shape[0]]))
    all_starts = table["start"].to_numpy(np.int64)
    all_ends = table["end"].to_numpy(np.int64)
    all_values = table["value"].to_numpy(np.float64).astype(np.float32)
    negative = np.flatnonzero(all_starts < 0)
    if negative.size:
        i = int(negative[0])
        raise InputError(f"{path}: line {skip + i + 1} starts at {all_starts[i]}; BED coordinates start at 0, "
                         "fix that line")
    n_unscored = int((~np.isfinite(all_values)).sum())
    if n_unscored:
        log.warning("%s: %d lines with a NaN or infinite value are left unscored", path, n_unscored)
    out: dict[str, Runs] = {}
    for a, b in zip(block_start.tolist(), block_end.tolist()):
        chrom = str(names[codes[a]])
        starts, ends, values = all_starts[a:b], all_ends[a:b], all_values[a:b]
        bad = np.flatnonzero(ends <= starts)
        if bad.size:
            i = bad[0]
            raise InputError(f"{path}: {chrom}:{starts[i]}-{ends[i]} has end <= start; fix that line")
        if starts.size > 1:
            overlap = np.flatnonzero(starts[1:] < ends[:-1])
            if overlap.size:
                i = overlap[0] + 1
                raise InputError(
                    f"{path}: {chrom}:{starts[i]}-{ends[i]} overlaps or precedes the line before it; "
                    "sort the file (sort -k1,1 -k2,2n) and remove overlaps"
                )
        if chrom in out:
            raise InputError(f"{path}: lines of {chrom} are not contiguous; sort the file (sort -k1,1 -k2,2n)")
        finite = np.isfinite(values)
        out[chrom] = merge_equal_runs(Runs(starts[finite], ends[finite], values[finite]))
    return out


def read_chrom_sizes(path: str | os.PathLike) -> dict[str, int]:
    """Read a two-column ``chrom<TAB>size`` file (UCSC chrom.sizes or a .fai), file order kept."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: chromosome sizes file not found; give a chrom.sizes or .fai file")
    try:
        table = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1], comment="#", dtype={0: str})
        sizes = {str(c): int(s) for c, s in zip(table[0], table[1])}
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a chrom.sizes file (chrom<TAB>size per line); fix it") from exc
    if not sizes or min(sizes.values()) <= 0:
        raise InputError(f"{path}: no chromosomes or a non-positive size; fix the chrom.sizes file")
    return sizes


class LazyChromArrays(Mapping):
    """A read-only ``{chrom: float32[size]}`` mapping that builds each array only when asked.

    Lets :func:`seq2exp_cli.io.bigwig.write_bigwig` write a genome-wide track while only one
    chromosome's per-bp array is in memory at a time.
    """

    def __init__(self, chroms: list[str], build) -> None:
        self._chroms = list(chroms)
        self._build = build

    def __getitem__(self, chrom: str) -> np.ndarray:
        if chrom not in self._chroms:
            raise KeyError(chrom)
        return self._build(chrom)

    def __iter__(self):
        return iter(self._chroms)

    def __len__(self) -> int:
        return len(self._chroms)


def runs_to_array(runs: Runs, size: int, fill: float = 0.0) -> np.ndarray:
    """Expand runs to a per-bp float32[size] array (``fill`` where unscored)."""
    out = np.full(size, fill, dtype=np.float32)
    if len(runs) == 0:
        return out
    # contiguous blocks of runs are filled with one np.repeat each
    breaks = np.flatnonzero(runs.starts[1:] != runs.ends[:-1]) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks, [len(runs)]))
    lengths = runs.ends - runs.starts
    for a, b in zip(first.tolist(), last.tolist()):
        out[runs.starts[a] : runs.ends[b - 1]] = np.repeat(runs.values[a:b], lengths[a:b])
    return out
