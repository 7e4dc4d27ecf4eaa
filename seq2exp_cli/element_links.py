"""Gene masks -> one genome-wide score track, and element -> target-gene links.

Two passes over the genes are needed: the calling threshold (and so the elements) is known only
once every gene's mask has been combined, but a link asks whether *one gene's own* mask reaches
that threshold over an element. Rather than run the model twice, :class:`GeneScoreSpill` keeps
each gene's per-bp scores in a temporary float16 file next to the outputs (about 2 bytes per bp
per gene: 400 kB for a 200-kb window) and removes it afterwards.

pandas is imported only where a DataFrame is built (links) or arrives (a dataset's regions and
genes, model mode): the model-free path of :func:`call_and_write` works on numpy columns.

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

from seq2exp_cli.element_null import NullSettings
from seq2exp_cli.element_tables import first_region_rows
from seq2exp_cli.elements import ScoreTrack
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.bed import ColumnTable

if TYPE_CHECKING:
    import pandas as pd
    import torch


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
            (:mod:`seq2exp_cli.score_stream`), in memory bounded by a few windows.
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
    from seq2exp_cli.score_stream import StreamingCombiner

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


def link_elements(
    elements: ColumnTable | pd.DataFrame, spill: GeneScoreSpill, genes: pd.DataFrame, threshold: float,
) -> pd.DataFrame:
    """One row per (element, gene) where the gene's own scores reach ``threshold`` in the element.

    Args:
        elements: narrowPeak-like table with chrom, start, end, name (one row per element;
            duplicate sub-peak rows are collapsed to the first).
        spill: the per-gene scores stored while combining.
        genes: the dataset's gene table (row i = gene index i) with name, gene_id, tss.
        threshold: the score cutoff used for calling.

    Returns:
        DataFrame with LINKS_COLUMNS (chr, start, end, name, TargetGene, TargetGeneTSS,
        distance = |element midpoint - TSS|, score = the gene's max score over the element),
        ordered as the elements, then by TSS.
    """
    import pandas as pd

    columns = ["chr", "start", "end", "name", "TargetGene", "TargetGeneTSS", "distance", "score"]
    first = first_region_rows(elements)
    if first.size == 0 or len(spill) == 0:
        return pd.DataFrame({c: [] for c in columns})
    elem_chrom = np.asarray(elements["chrom"]).astype(str).astype(object)[first]
    elem_start = np.asarray(elements["start"], np.int64)[first]
    elem_end = np.asarray(elements["end"], np.int64)[first]
    elem_name = np.asarray(elements["name"], dtype=object)[first]
    t16 = np.float16(threshold)
    per_chrom = {}
    for chrom in dict.fromkeys(elem_chrom.tolist()):  # first-seen order, as the elements come
        at = np.flatnonzero(elem_chrom == chrom)
        per_chrom[str(chrom)] = (elem_start[at], elem_end[at], at)
    names = genes["name"].astype(str).where(genes["name"].astype(str).str.len() > 0, genes["gene_id"].astype(str))
    names = names.to_numpy()
    tss = genes["tss"].to_numpy(np.int64)
    hits_elem, hits_gene, hits_score = [], [], []
    for index, chrom, g_start, g_end, scores in spill.genes():
        entry = per_chrom.get(chrom)
        if entry is None:
            continue
        starts, ends, rows = entry
        lo = int(np.searchsorted(ends, g_start, side="right"))
        hi = int(np.searchsorted(starts, g_end, side="left"))
        if hi <= lo:
            continue
        a = np.maximum(starts[lo:hi], g_start) - g_start
        b = np.minimum(ends[lo:hi], g_end) - g_start
        data = np.asarray(scores)
        best = np.array([data[x:y].max() for x, y in zip(a.tolist(), b.tolist())], dtype=np.float16)
        ok = best >= t16
        hits_elem.append(rows[lo:hi][ok])
        hits_gene.append(np.full(int(ok.sum()), index, np.int64))
        hits_score.append(best[ok].astype(np.float32))
    if not hits_elem or sum(len(h) for h in hits_elem) == 0:
        return pd.DataFrame({c: [] for c in columns})
    e = np.concatenate(hits_elem)
    g = np.concatenate(hits_gene)
    out = pd.DataFrame({
        "chr": elem_chrom[e],
        "start": elem_start[e],
        "end": elem_end[e],
        "name": elem_name[e],
        "TargetGene": names[g],
        "TargetGeneTSS": tss[g],
        "score": np.concatenate(hits_score),
        "_elem": e,
    })
    midpoint = (out["start"] + out["end"]) // 2
    out["distance"] = (midpoint - out["TargetGeneTSS"]).abs()
    out = out.sort_values(["_elem", "TargetGeneTSS", "TargetGene"], kind="stable").reset_index(drop=True)
    return out.loc[:, columns]


def links_bedpe(links: pd.DataFrame) -> pd.DataFrame:
    """BEDPE rows: the element, the 1-bp TSS, name ``ELEMENT|GENE`` and the link score."""
    import pandas as pd

    return pd.DataFrame({
        "chrom1": links["chr"], "start1": links["start"], "end1": links["end"],
        "chrom2": links["chr"], "start2": links["TargetGeneTSS"], "end2": links["TargetGeneTSS"] + 1,
        "name": links["name"].astype(str) + "|" + links["TargetGene"].astype(str),
        "score": links["score"],
    })


# ---------------------------------------------------------------------------------------------
# the call-elements pipeline after the score track exists


@dataclass
class CallSettings:
    """How to call and what to write. At most one of cutoff / top_fraction sets the score
    threshold; at most one of pvalue / qvalue then keeps the elements that reach it under the
    sequence null (model mode; ``null_shuffles`` shuffles per element, 0 = no null)."""

    cutoff: float | None = None
    pvalue: float | None = None
    qvalue: float | None = None
    top_fraction: float | None = None
    min_length: int = 200
    max_gap: int = 30
    call_summits: bool = False
    cutoff_analysis: bool = False
    cutoff_steps: int = 100
    bigwig: Path | None = None
    bedgraph: Path | None = None
    score_range: tuple[float, float] | None = (0.0, 1.0)
    null_shuffles: int = NullSettings.shuffles
    null_seed: int = NullSettings.seed
    cell_type: str = "NA"  # the links' CellType column

    def check(self, has_null: bool) -> None:
        """Raise InputError for an impossible combination or an out-of-range threshold;
        ``has_null``: whether p/q can be computed (model mode)."""
        chosen = [n for n, v in (("--cutoff", self.cutoff), ("--top-fraction", self.top_fraction)) if v is not None]
        if len(chosen) != 1:
            raise InputError(f"{' and '.join(chosen) or 'no threshold'}: give exactly one of --cutoff and "
                             "--top-fraction (-p/-q then filter the called elements)")
        if self.pvalue is not None and self.qvalue is not None:
            raise InputError("-p and -q: give at most one of them")
        if self.cutoff is not None:
            if not np.isfinite(self.cutoff):
                raise InputError(f"--cutoff {self.cutoff}: not a number; give a finite score")
            if self.score_range is not None and not self.score_range[0] <= self.cutoff <= self.score_range[1]:
                raise InputError(f"--cutoff {self.cutoff}: mask scores lie in [0, 1]; give a cutoff in [0, 1]")
        for flag, value in (("-p", self.pvalue), ("-q", self.qvalue)):
            if value is None:
                continue
            if not 0.0 < value <= 1.0:
                raise InputError(f"{flag} {value}: a p/q-value threshold must be in (0, 1]; e.g. {flag} 0.05")
            if not has_null:
                raise InputError(f"{flag} {value}: model-free scores have no null distribution (pValue/qValue "
                                 "are -1); use --cutoff or --top-fraction, or call from a model")
            if self.null_shuffles < 2:
                raise InputError(f"{flag} {value}: --null-shuffles {self.null_shuffles} computes no p/q; "
                                 "give --null-shuffles 2 or more")
        if self.null_shuffles < 0 or self.null_shuffles == 1:
            raise InputError(f"--null-shuffles {self.null_shuffles}: give 0 (no p/q) or >= 2")
        if self.top_fraction is not None and not 0.0 < self.top_fraction <= 1.0:
            raise InputError(f"--top-fraction {self.top_fraction}: out of range; give a fraction in (0, 1]")
        if self.min_length < 1 or self.max_gap < 0:
            raise InputError(f"--min-length {self.min_length} / --max-gap {self.max_gap}: need >= 1 and >= 0")


def output_paths(out: str | os.PathLike, settings: CallSettings, links: bool) -> dict[str, Path]:
    """Every file the command will write for ``-o out`` (stem = basename without .bed/.narrowPeak)."""
    out = Path(out)
    name = out.name
    for suffix in (".bed", ".narrowPeak"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    base = out.parent
    paths = {"narrowPeak": out, "summits": base / f"{name}.summits.bed"}
    if links:
        paths["links"] = base / f"{name}.links.tsv"
        paths["bedpe"] = base / f"{name}.links.bedpe"
        paths["interact"] = base / f"{name}.links.interact"
    if settings.cutoff_analysis:
        paths["cutoff_analysis"] = base / f"{name}.cutoff_analysis.tsv"
    if settings.bigwig is not None:
        paths["bigwig"] = Path(settings.bigwig)
    if settings.bedgraph is not None:
        paths["bedgraph"] = Path(settings.bedgraph)
    return paths


def check_outputs(paths: dict[str, Path], force: bool) -> None:
    """Fail before any work when an output exists (without ``force``) or cannot be written."""
    from seq2exp_cli.io.atomic import check_output_free

    seen: dict[Path, str] = {}
    for kind, path in paths.items():
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"{path}: used for both the {seen[resolved]} and the {kind} output; choose another path")
        seen[resolved] = kind
        check_output_free(path, force)
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"{path}: output directory {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK):
            raise InputError(f"{path}: output directory {parent} is not writable; choose another output path")


def stem_of(paths: dict[str, Path]) -> str:
    """The element-name prefix: the summits file's basename without ``.summits.bed``."""
    return paths["summits"].name[: -len(".summits.bed")]


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
        keep = p_rows >= -np.log10(settings.pvalue) - 1e-12
    elif settings.qvalue is not None:
        keep = q_rows >= -np.log10(settings.qvalue) - 1e-12
    if settings.pvalue is not None or settings.qvalue is not None:
        log.info("%d of %d elements pass %s", int(first_region_rows(regions.take(np.flatnonzero(keep))).size),
                 first.size, f"-p {settings.pvalue}" if settings.pvalue is not None else f"-q {settings.qvalue}")
    rows = np.flatnonzero(keep)
    return regions.take(rows), (p_rows[rows], q_rows[rows])


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
    from seq2exp_cli import elements as el
    from seq2exp_cli.io import bed

    settings.check(element_null is not None)
    if settings.cutoff is not None:
        cutoff = float(settings.cutoff)
    else:
        cutoff = el.cutoff_for_fraction(el.score_histogram(track), settings.top_fraction)
    log.info("score cutoff %s", "none reached (no base passes)" if not np.isfinite(cutoff) else f"{cutoff:.6g}")
    if np.isfinite(cutoff):
        regions = el.call_region_table(track, cutoff, settings.min_length, settings.max_gap, settings.call_summits)
    else:
        regions = el.empty_regions()
    n_called = int(first_region_rows(regions).size)
    pq = None
    if element_null is not None and settings.null_shuffles >= 2:
        regions, pq = _tested(regions, element_null, settings, track, cutoff)
    if refine is not None and len(regions):
        regions = refine(regions, track)
    stem = stem_of(paths)
    peaks = el.narrowpeak_table(regions, stem, pq)
    bed.write_table(paths["narrowPeak"], peaks, "narrowPeak")
    bed.write_table(paths["summits"], el.summits_table(peaks), "summits")
    n_links = 0
    if "links" in paths:
        if spill is None or genes is None:
            raise ValueError("call_and_write: links requested without per-gene scores")
        # no finite cutoff means no elements: link_elements returns the empty table
        links = link_elements(peaks, spill, genes, cutoff if np.isfinite(cutoff) else 0.0)
        n_links = len(links)
        from seq2exp_cli.element_tables import encode_links_table, interact_table

        bed.write_table(paths["links"], encode_links_table(links, genes, settings.cell_type), "links")
        bed.write_table(paths["bedpe"], links_bedpe(links), "bedpe")
        bed.write_table(paths["interact"], interact_table(links, genes, settings.cell_type), "interact")
    if "cutoff_analysis" in paths:
        table = el.cutoff_analysis(track, settings.min_length, settings.max_gap, settings.cutoff_steps)
        bed.write_table(paths["cutoff_analysis"], table, "cutoff_analysis")
    if "bedgraph" in paths:
        bed.write_bedgraph(paths["bedgraph"], (
            (c, bed.fill_gaps(track.runs(c), track.chrom_sizes[c])) for c in track.chroms))
    if "bigwig" in paths:
        bed.write_bigwig_runs(paths["bigwig"], track.chrom_sizes, track.runs_mapping())
    elements = first_region_rows(peaks)  # one row per element (sub-peak rows share their element)
    n_elements = int(elements.size)
    total_bp = int((peaks["end"][elements] - peaks["start"][elements]).sum())
    if n_elements == 0:
        top = max((float(track.runs(c).values.max()) for c in track.chroms if len(track.runs(c).values)), default=0.0)
        log.warning("no elements pass the threshold (score cutoff %s; the highest score is %.3g); wrote empty "
                    "files; a trained bottleneck keeps scores near its marginal mean mu, so try --top-fraction",
                    f"{cutoff:.6g}", top)
    else:
        log.info("%d elements (%d bp), %d summits, %d element-gene links", n_elements, total_bp, len(peaks), n_links)
    return {
        "score_cutoff": cutoff if np.isfinite(cutoff) else None, "n_called": n_called, "n_elements": n_elements,
        "n_summits": len(peaks),
        "total_bp": total_bp, "n_links": n_links, "outputs": {k: str(v) for k, v in paths.items()},
    }


def pack_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """float32[n] -> ``(values, run lengths int32)`` when runs shorten it, else ``(scores, None)``.

    Masks are computed per R-bp bin and expanded to bp, so runs shrink them about R-fold for
    the trip to rank 0. Exact: a run ends wherever the float32 bit pattern changes, so NaN
    payloads and -0.0 come back as they were (:func:`unpack_scores`).
    """
    data = np.ascontiguousarray(scores, dtype=np.float32)
    if data.size < 2:
        return data, None
    bits = data.view(np.uint32)
    starts = np.flatnonzero(bits[1:] != bits[:-1]) + 1
    if 2 * (starts.size + 1) >= data.size:  # values + lengths would not be smaller
        return data, None
    starts = np.concatenate([np.zeros(1, np.int64), starts])
    lengths = np.diff(np.append(starts, data.size)).astype(np.int32)
    return data[starts], lengths


def unpack_scores(values: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """The float32[n] that :func:`pack_scores` packed."""
    return values if lengths is None else np.repeat(values, lengths)


def _rounds_of_masks(masks: Iterable[Any], batch_size: int, failures: list[Exception],
                     pack: bool = True) -> Iterable[list[tuple]]:
    """This rank's masks as one list of masks per round of ``batch_size`` genes, packed with
    :func:`pack_scores` when ``pack`` (they travel to rank 0; one process keeps them as they are).

    An exception while extracting ends this rank's stream (later rounds send nothing) and is
    kept in ``failures``, to be raised once every rank has finished the rounds.
    """
    source = iter(masks)
    while True:
        chunk: list[tuple] = []
        try:
            for mask in source:
                scores = pack_scores(mask.scores) if pack else (mask.scores, None)
                chunk.append((int(mask.index), str(mask.chrom), int(mask.start), int(mask.end), *scores))
                if len(chunk) == batch_size:
                    break
        except Exception as exc:  # noqa: BLE001 -- raised after the last round (no rank may be left waiting)
            failures.append(exc)
            return
        if not chunk:
            return
        yield chunk
        if len(chunk) < batch_size:
            return


def _merged_masks(rounds: Iterable[list[Any]]) -> Iterable[Any]:
    """Rank 0: the masks of every round in the single-process order.

    Rank r's shard is ``indices[r::world]`` and every round carries ``batch_size`` consecutive
    genes of each shard, so taking the j-th mask of every rank in rank order, for j = 0, 1, ...,
    restores the order of ``indices``. ``mean`` then sums in the same order as one process would.
    """
    from seq2exp_cli.inference import GeneMask

    for parts in rounds:
        parts = [p or [] for p in parts]
        for j in range(max((len(p) for p in parts), default=0)):
            for part in parts:
                if j < len(part):
                    index, chrom, start, end, values, lengths = part[j]
                    yield GeneMask(index, chrom, start, end, unpack_scores(values, lengths))


SCORES = ("auto", "mask", "contribution")


def resolve_score(score: str, readout: str, settings: CallSettings, run_dir: str | os.PathLike) -> str:
    """``mask`` or ``contribution`` for ``--score`` given the model's readout; raises InputError
    for a contribution score without the additive readout."""
    if score not in SCORES:
        raise InputError(f"--score {score!r}: use one of {', '.join(SCORES)}")
    with_contributions = readout in ("additive", "factorized")
    if score == "auto":
        score = "contribution" if with_contributions else "mask"
    if score == "contribution" and not with_contributions:
        raise InputError(f"--score contribution: the model in {run_dir} has readout {readout!r}, which has no "
                         "per-bin contributions; use --score mask or train with readout = \"factorized\"")
    return score


def _model_hooks(model: Any, data: Any, indices: np.ndarray, settings: CallSettings, score: str, combine: str,
                 device: Any, batch_size: int, resolution: int) -> tuple[Callable | None, Callable | None]:
    """call_and_write's model-mode steps: base-pair edges from the dataset's tracks, and p/q
    from the sequence null (shuffled genomes scored on this process alone)."""
    from seq2exp_cli import element_edges, element_null

    def refine(regions: ColumnTable, track: ScoreTrack) -> ColumnTable:
        return element_edges.refine_edges(regions, track.runs, element_edges.dataset_evidence(data), resolution)

    def null(elements: ColumnTable, track: ScoreTrack, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
        result = element_null.sequence_null_pvalues(
            model, data, track, elements, cutoff, settings.min_length, settings.max_gap, score=score,
            indices=indices, combine=combine, device=device, batch_size=batch_size,
            settings=NullSettings(shuffles=settings.null_shuffles, seed=settings.null_seed))
        return result.pscore, result.qscore

    return (refine if resolution > 1 else None), (null if settings.null_shuffles >= 2 else None)


def call_elements_from_model(
    run_dir: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    paths: dict[str, Path],
    settings: CallSettings,
    combine: str = "max",
    split: str = "all",
    device: str | torch.device = "auto",
    batch_size: int = 8,
    score: str = "auto",
) -> dict[str, Any] | None:
    """Extract every gene's mask, combine, call, link; returns the summary of call_and_write
    (with ``score``: the per-gene score used).

    ``score``: ``mask`` (the bottleneck's mean mask), ``contribution`` (each bin's share of the
    gene's predicted regulatory input; models with the additive readout) or ``auto``
    (contribution when the model has the additive readout, else mask).

    Under torchrun every rank loads the model and the dataset and extracts the masks of its
    shard of the genes (``indices[rank::world]``, batched on its GPU); the masks stream to
    rank 0 round by round (one batch per rank per round, packed as runs) through a gloo group,
    so no filesystem needs to be shared for them and rank 0 holds at most world x batch_size
    windows at a time. Rank 0 alone combines them in the single-process order (so the outputs
    equal one process's wherever a gene's mask does not depend on the genes batched with it),
    calls and writes; the other ranks write nothing and return None. An error on any rank
    before the calling is raised on every rank.
    """
    import torch

    from seq2exp_cli import inference
    from seq2exp_cli.dataset import PreparedDataset

    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be >= 1")
    device = inference.resolve_device(device)
    inference.init_distributed(device)  # a no-op when the CLI has already joined the group
    if inference.world_size() > 1 and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        # without a process group every process would call (and write) its own shard alone
        raise InputError(f"WORLD_SIZE={inference.world_size()}: this torch has no usable torch.distributed; "
                         "run call-elements as one process")
    with inference.errors_on_every_rank():
        data = PreparedDataset(dataset_dir)
        model, meta = inference.load_model(run_dir, device)
        inference.check_compatible(meta, data)
        config = meta.get("model_config") or {}
        score = resolve_score(score, str(config.get("readout", "promoter")), settings, run_dir)
        settings.check(has_null=True)
        indices = data.indices(split)
        if len(indices) == 0:
            raise InputError(f"{dataset_dir}: no genes in split {split!r}; choose another --split")
    world, leader = inference.world_size(), inference.rank() == 0
    per_rank = -(-len(indices) // world)  # the longest shard: ceil(n / world) genes
    n_rounds = -(-per_rank // batch_size)
    group = inference.object_group()
    failures: list[Exception] = []
    masks = inference.extract_masks(model, data, indices, device=device, batch_size=batch_size, score=score)
    rounds = _rounds_of_masks(masks, batch_size, failures, pack=world > 1)
    stream = inference.gather_rounds(rounds, n_rounds, group)
    if world > 1:
        log.info("extracting the masks of %d genes on %d processes (%d rounds)", len(indices), world, n_rounds)
    spill = GeneScoreSpill(paths["narrowPeak"].parent) if leader else None
    try:
        with inference.errors_on_every_rank(group):
            try:
                if leader:
                    track = combine_gene_scores(data.regions, _merged_masks(stream), data.chrom_sizes, combine,
                                                spill=spill, blacklist_bases=getattr(data, "blacklist_mask", None),
                                                blacklist=getattr(data, "region_blacklist", None))
            finally:
                for _ in stream:  # every rank takes every round, even after an error here
                    pass
            if failures:
                raise failures[0]
        if not leader:
            return None
        refine, element_null = _model_hooks(model, data, indices, settings, score, combine, device, batch_size,
                                            int(config.get("resolution", 1)))
        summary = call_and_write(track, paths, settings, spill=spill, genes=data.genes, refine=refine,
                                 element_null=element_null)
        summary["score"] = score
        return summary
    finally:
        if spill is not None:
            spill.close()
