"""``prepare``: raw genomics files in, a compact self-describing dataset out.

Work is done per chromosome region (the union of gene windows), never per gene, so each base
of the FASTA and of every track is read once. The dataset is built in a temporary directory
beside the output and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seq2exp_cli import __version__
from seq2exp_cli.dataset import (
    FORMAT_VERSION,
    GENE_COLUMNS,
    hic_bins_for_window,
    merge_intervals,
    window_bounds_array,
)
from seq2exp_cli.errors import InputError, naming_flag
from seq2exp_cli.io.atomic import atomic_directory, check_free_space
from seq2exp_cli.io.stored_array import StoredArray, StoredArrayWriter
from seq2exp_cli.io.chroms import build_alias_map, canonical_chrom_key
from seq2exp_cli.records import jsonable
from seq2exp_cli.splits import check_splits, split_auto, split_by_blocks, split_by_chroms, split_from_file

log = logging.getLogger(__name__)

NORMALIZATIONS = ("log1p", "quantile", "none")
#: bp on each side of the TSS for the promoter-signal features
PROMOTER_HALF_WIDTH = 500
#: quantile that maps to 1.0 with --normalize quantile
ROBUST_QUANTILE = 0.99
FULL_CHECKSUM_LIMIT = 256 * 2**20
#: track values above this are reported (a coverage or fold-change track stays far below it)
HUGE_TRACK_VALUE = 1e9

Progress = Callable[[str, int], None]


@dataclass
class PrepareOptions:
    """Everything ``prepare`` needs; the CLI fills it, Python users may too."""

    fasta: Path
    genes: Path
    output: Path
    tracks: list[tuple[str, Path]] = field(default_factory=list)
    expression: Path | None = None
    expression_id_column: str | None = None
    expression_value_column: str | None = None
    target_transform: str = "log10p1"
    hic: Path | None = None
    hic_resolution: int = 5000
    hic_normalization: str = "auto"
    powerlaw_fallback: bool = True
    window: int = 200_000
    normalize: str = "log1p"
    blacklist: Path | None = None
    gene_format: str = "auto"
    gtf_feature: str = "gene"
    gene_types: Sequence[str] | None = None
    gene_features: Path | None = None
    exclude_chroms: Sequence[str] = ("chrM",)
    split_mode: str = "auto"
    test_chroms: Sequence[str] = ("chr22", "chrX")
    valid_chroms: Sequence[str] = ("chr3", "chr21")
    split_file: Path | None = None
    block_size: int = 2_000_000
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 2222
    extsize: int | None = None
    shift: int = 0
    min_mapq: int = 0
    threads: int = 1
    force: bool = False
    command: str = ""


def prepare_dataset(opts: PrepareOptions, progress: Progress | None = None) -> Path:
    """Build the dataset described by ``opts`` at ``opts.output``; returns its path.

    ``progress(stage, n_done)`` is called as work completes (for the CLI's progress bar).
    Raises :class:`InputError` for every problem a user can fix.
    """
    _validate_options(opts)
    with contextlib.ExitStack() as naming:
        for flag, path in _flagged_inputs(opts):
            naming.enter_context(naming_flag(flag, path))
        for _, path in _flagged_inputs(opts):
            if not path.exists():
                raise InputError(f"{path}: file not found; check the path")
        return _prepare(opts, progress)


def _flagged_inputs(opts: PrepareOptions) -> list[tuple[str, Path]]:
    """``(flag, path)`` of every input file."""
    named = [("--fasta", opts.fasta), ("--genes", opts.genes), *(("--track", p) for _, p in opts.tracks),
             ("--expression", opts.expression), ("--hic", opts.hic), ("--blacklist", opts.blacklist),
             ("--split-file", opts.split_file), ("--gene-features", opts.gene_features)]
    return [(flag, Path(path)) for flag, path in named if path is not None]


def _prepare(opts: PrepareOptions, progress: Progress | None) -> Path:
    from seq2exp_cli.io.fasta import FastaReader

    with FastaReader(opts.fasta) as fasta:
        chrom_sizes = dict(fasta.chrom_sizes)
        genes, gene_aliases = _load_genes(opts, chrom_sizes)
        regions = _regions(genes, chrom_sizes, opts.window)
        total_bp = int((regions["end"] - regions["start"]).sum())
        log.info(
            "%d genes on %d chromosomes; %d regions cover %.1f Mb", len(genes), genes["chrom"].nunique(),
            len(regions), total_bp / 1e6,
        )
        track_aliases = _check_track_names(opts, chrom_sizes, genes)
        with atomic_directory(opts.output, force=opts.force) as tmp:
            check_free_space(tmp, _bytes_needed(opts, total_bp, len(genes)), opts.output)
            arrays = tmp / "arrays"
            arrays.mkdir()
            _write_sequence(fasta, regions, arrays / "seq.u8", total_bp, progress)
            raw_paths = [
                _read_track(name, path, regions, arrays, total_bp, track_aliases[name], opts, progress)
                for name, path in opts.tracks
            ]
            tracks_meta, track_file = _store_tracks(raw_paths, opts, arrays, total_bp)
            hic_meta = _write_hic(opts, genes, chrom_sizes, arrays / "hic.f32", progress)
            feature_names = _promoter_features(genes, regions, arrays / track_file, tracks_meta, total_bp)
            feature_names += _user_features(genes, opts.gene_features)
            blacklist_count = _write_blacklist(opts.blacklist, chrom_sizes, tmp / "blacklist.bed")
            genes[GENE_COLUMNS + feature_names].to_csv(tmp / "genes.tsv", sep="\t", index=False, na_rep="")
            regions.to_csv(tmp / "regions.tsv", sep="\t", index=False)
            manifest = {
                "format_version": FORMAT_VERSION,
                "seq2exp_version": __version__,
                "command": opts.command or " ".join(sys.argv),
                "parameters": jsonable(asdict(opts)),
                "window": opts.window,
                "normalization": opts.normalize,
                "target_transform": opts.target_transform if opts.expression else None,
                "chrom_sizes": chrom_sizes,
                "aliases": {"genes": gene_aliases, **{f"track:{k}": v for k, v in track_aliases.items()}},
                "tracks": tracks_meta,
                "track_file": track_file,
                "hic": hic_meta,
                "feature_names": feature_names,
                "n_genes": len(genes),
                "n_labelled": int(genes["target"].notna().sum()),
                "split_counts": genes["split"].value_counts().to_dict(),
                "blacklist_intervals": blacklist_count,
                "total_bp": total_bp,
                "inputs": {str(p): _fingerprint(p) for p in _input_paths(opts)},
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("dataset written to %s", opts.output)
    return Path(opts.output)


# --------------------------------------------------------------------------- validation


def _validate_options(opts: PrepareOptions) -> None:
    if opts.window < 2_000:
        raise InputError(f"--window {opts.window}: must be at least 2000 bp (the promoter is the central 2 kb)")
    if opts.normalize not in NORMALIZATIONS:
        raise InputError(f"--normalize {opts.normalize!r}: choose one of {', '.join(NORMALIZATIONS)}")
    if opts.hic_resolution <= 0:
        raise InputError(f"--hic-resolution {opts.hic_resolution}: must be a positive number of bp")
    names = [name for name, _ in opts.tracks]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise InputError(f"--track name {sorted(dupes)[0]!r} given twice; give each track a distinct name")
    if "hic" in names:
        raise InputError("--track name 'hic' is reserved for the Hi-C channel; rename the track")
    if opts.threads < 1:
        raise InputError(f"--threads {opts.threads}: must be at least 1")
    if opts.window % 100:
        log.warning("--window %d is not a multiple of 100, the resolution `seq2exp train` uses on a CPU by "
                    "default; train it with a --resolution that divides %d", opts.window, opts.window)


def _bytes_needed(opts: PrepareOptions, total_bp: int, n_genes: int) -> int:
    """Peak bytes of the dataset while it is built: sequence, raw float32 tracks, stored tracks, Hi-C."""
    from seq2exp_cli.dataset import hic_bins_for_window

    n_tracks = len(opts.tracks)
    stored = 4 if opts.normalize == "none" else 2
    hic = 0
    if opts.hic is not None or opts.powerlaw_fallback:
        hic = max(n_genes, 1) * hic_bins_for_window(0, opts.window, opts.hic_resolution)[1] * 4
    return total_bp * (1 + n_tracks * (4 + stored)) + hic + (1 << 20)  # + tables and manifest


def _new_array(path: Path, dtype: Any, shape: tuple[int, ...], label: Path) -> StoredArrayWriter:
    """A new array file over space allocated up front (a full disk is an error here), written
    with positional writes: a writable memmap would keep every written page resident."""
    return StoredArrayWriter(path, dtype, int(np.prod(shape)), label)


def _input_paths(opts: PrepareOptions) -> list[Path]:
    paths = [opts.fasta, opts.genes] + [p for _, p in opts.tracks]
    paths += [p for p in (opts.expression, opts.hic, opts.blacklist, opts.split_file, opts.gene_features) if p]
    return [Path(p) for p in paths]


# --------------------------------------------------------------------------- genes


def _load_genes(opts: PrepareOptions, chrom_sizes: dict[str, int]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Genes with FASTA chromosome names, targets, splits and window regions; sorted by FASTA order."""
    from seq2exp_cli.io.genes import attach_targets, read_expression_candidates, read_genes

    genes = read_genes(opts.genes, fmt=opts.gene_format, gtf_feature=opts.gtf_feature, gene_types=opts.gene_types)
    excluded = {canonical_chrom_key(c) for c in opts.exclude_chroms}
    keep = ~genes["chrom"].map(canonical_chrom_key).isin(excluded)
    if (~keep).any():
        log.info("%d genes on excluded chromosomes (%s) left out", int((~keep).sum()), ", ".join(opts.exclude_chroms))
    genes = genes[keep].reset_index(drop=True)
    if genes.empty:
        raise InputError(f"{opts.genes}: no genes left after filtering; check --gene-types and --exclude-chroms")
    names = list(dict.fromkeys(genes["chrom"]))
    aliases = build_alias_map(chrom_sizes, names, str(opts.genes))
    unknown = [c for c in names if c not in aliases]
    if unknown:
        n = int((genes["chrom"] == unknown[0]).sum())
        raise InputError(
            f"{opts.genes}: {n} gene(s) on chromosome {unknown[0]!r}, which the FASTA {opts.fasta} lacks "
            f"(FASTA has {', '.join(list(chrom_sizes)[:4])}...); use the matching FASTA or --exclude-chroms {unknown[0]}"
        )
    genes["chrom"] = genes["chrom"].map(aliases)
    for chrom in genes["chrom"].unique():
        if opts.window > chrom_sizes[chrom]:
            raise InputError(
                f"--window {opts.window} is longer than chromosome {chrom} ({chrom_sizes[chrom]} bp); "
                f"use --window <= {chrom_sizes[chrom]} or --exclude-chroms {chrom}"
            )
    bad_tss = genes[(genes["tss"] < 0) | (genes["tss"] >= genes["chrom"].map(chrom_sizes))]
    if len(bad_tss):
        row = bad_tss.iloc[0]
        raise InputError(
            f"{opts.genes}: gene {row['gene_id']!r} has TSS {row['tss']} outside {row['chrom']} "
            f"(size {chrom_sizes[row['chrom']]}); the annotation and FASTA are from different assemblies"
        )
    if opts.expression:
        expression = read_expression_candidates(
            opts.expression, id_column=opts.expression_id_column, value_column=opts.expression_value_column
        )
        genes = attach_targets(genes, expression, transform=opts.target_transform, source=str(opts.expression))
        infinite = np.flatnonzero(np.isinf(genes["target"].to_numpy(np.float64)))
        if infinite.size:
            row = genes.iloc[int(infinite[0])]
            raise InputError(f"{opts.expression}: gene {row['gene_id']!r} has an infinite expression value; give a "
                             "finite number or leave it empty (NA: the gene stays, unlabelled)")
    else:
        genes["target"] = np.nan
    order = {c: k for k, c in enumerate(chrom_sizes)}
    genes = genes.assign(_order=genes["chrom"].map(order)).sort_values(["_order", "tss"], kind="stable")
    genes = genes.drop(columns="_order").reset_index(drop=True)
    genes["split"] = _assign_splits(genes, opts)
    return genes, {k: v for k, v in aliases.items() if k != v}


def _assign_splits(genes: pd.DataFrame, opts: PrepareOptions) -> pd.Series:
    if opts.split_mode == "auto":
        split, how = split_auto(genes, opts.test_chroms, opts.valid_chroms, opts.block_size,
                                opts.valid_fraction, opts.test_fraction, opts.seed)
    elif opts.split_mode == "chroms":
        split = split_by_chroms(genes["chrom"], opts.test_chroms, opts.valid_chroms)
        how = f"--test-chroms {','.join(opts.test_chroms)} --valid-chroms {','.join(opts.valid_chroms)}"
    elif opts.split_mode == "blocks":
        split = split_by_blocks(
            genes["chrom"], genes["tss"], opts.block_size, opts.valid_fraction, opts.test_fraction, opts.seed
        )
        how = f"--split-mode blocks --block-size {opts.block_size}"
    elif opts.split_mode == "file":
        if opts.split_file is None:
            raise InputError("--split-mode file needs --split-file TSV (gene_id, split)")
        split = split_from_file(genes["gene_id"], Path(opts.split_file))
        how = f"--split-file {opts.split_file}"
    else:
        raise InputError(f"--split-mode {opts.split_mode!r}: choose auto, chroms, blocks or file")
    check_splits(genes.assign(split=split), how)
    return split


def _regions(genes: pd.DataFrame, chrom_sizes: dict[str, int], window: int) -> pd.DataFrame:
    """Merge the genes' windows (clipped to chromosomes) into regions; set genes' region ids.

    Also fills ``genes['region']`` and ``genes['hic_offset']`` in place.
    """
    starts = window_bounds_array(
        genes["tss"].to_numpy(np.int64), (genes["strand"] == "-").to_numpy(), window
    )
    rows = []
    region_of_gene = np.zeros(len(genes), dtype=np.int64)
    offset = 0
    for chrom in chrom_sizes:
        sel = np.flatnonzero((genes["chrom"] == chrom).to_numpy())
        if len(sel) == 0:
            continue
        lo = np.clip(starts[sel], 0, chrom_sizes[chrom])
        hi = np.clip(starts[sel] + window, 0, chrom_sizes[chrom])
        mstarts, mends = merge_intervals(lo, hi)
        first_id = len(rows)
        for s, e in zip(mstarts, mends):
            rows.append((len(rows), chrom, int(s), int(e), offset))
            offset += int(e - s)
        region_of_gene[sel] = first_id + np.searchsorted(mends, lo, side="right")
    genes["region"] = region_of_gene
    genes["hic_offset"] = 0
    return pd.DataFrame(rows, columns=["region_id", "chrom", "start", "end", "offset"])


# --------------------------------------------------------------------------- arrays


def _write_sequence(fasta, regions: pd.DataFrame, path: Path, total: int, progress: Progress | None) -> None:
    with _new_array(path, np.uint8, (total,), path) as seq:
        for r in regions.itertuples(index=False):
            seq.write(r.offset, fasta.fetch_codes(r.chrom, r.start, r.end))
            if progress:
                progress("sequence", r.end - r.start)


def _check_track_names(opts: PrepareOptions, chrom_sizes: dict[str, int], genes: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Alias maps FASTA name -> track name, per track; raises when a gene chromosome is missing."""
    from seq2exp_cli.io.tracks import open_track

    gene_chroms = list(dict.fromkeys(genes["chrom"]))
    maps = {}
    for name, path in opts.tracks:
        reader = open_track(path, extsize=opts.extsize, shift=opts.shift, min_mapq=opts.min_mapq)
        try:
            alias = build_alias_map(chrom_sizes, reader.chrom_sizes, str(path), required=gene_chroms)
        finally:
            reader.close()
        maps[name] = {fasta_name: track_name for track_name, fasta_name in alias.items()}
        shorter = [(f, reader.chrom_sizes[t], chrom_sizes[f]) for f, t in maps[name].items()
                   if f in gene_chroms and reader.chrom_sizes[t] < chrom_sizes[f]]
        for fasta_name, track_size, fasta_size in shorter[:3]:
            log.warning("%s: %s is %d bp in the track but %d bp in the FASTA %s; bases past the track's end "
                        "read as 0 (is the track from another assembly?)", path, fasta_name, track_size, fasta_size,
                        opts.fasta)
    return maps


def _read_track(
    name: str,
    path: Path,
    regions: pd.DataFrame,
    arrays: Path,
    total: int,
    fasta_to_track: dict[str, str],
    opts: PrepareOptions,
    progress: Progress | None,
) -> Path:
    """Read one track over every region (threads across chromosomes) into a raw float32 file."""
    from seq2exp_cli.io.tracks import open_track

    raw_path = arrays / f"{name}.raw.f32"
    raw = _new_array(raw_path, np.float32, (total,), raw_path)
    # tallied while reading: a pass over the whole raw file would map it all
    unusual = {"nonfinite": 0, "huge": 0, "negative": 0, "largest": 0.0}

    def read_chrom(chrom: str) -> int:
        reader = open_track(path, extsize=opts.extsize, shift=opts.shift, min_mapq=opts.min_mapq)
        try:
            done = 0
            for r in regions[regions["chrom"] == chrom].itertuples(index=False):
                values = np.asarray(reader.read(fasta_to_track[chrom], r.start, r.end), dtype=np.float32)
                finite = np.isfinite(values)
                unusual["nonfinite"] += int(values.size - finite.sum())
                kept = np.where(finite, values, 0.0)
                unusual["huge"] += int((np.abs(kept) > HUGE_TRACK_VALUE).sum())
                unusual["negative"] += int((kept < 0).sum())
                if kept.size:
                    unusual["largest"] = max(unusual["largest"], float(np.abs(kept).max()))
                raw.write(r.offset, kept)
                done += r.end - r.start
            return done
        finally:
            reader.close()

    chroms = list(dict.fromkeys(regions["chrom"]))
    try:
        with ThreadPoolExecutor(max_workers=opts.threads) as pool:
            for done in pool.map(read_chrom, chroms):
                if progress:
                    progress(f"track {name}", done)
    finally:
        raw.close()
    if unusual["nonfinite"]:
        log.warning("%s: %d bases hold NaN or infinite values; they are stored as 0 (no signal)", path,
                    unusual["nonfinite"])
    if unusual["huge"]:
        log.warning("%s: %d bases hold values above %.0e (largest %.3g); check the track's units", path,
                    unusual["huge"], HUGE_TRACK_VALUE, unusual["largest"])
    if opts.normalize == "log1p" and total and unusual["negative"]:
        raise InputError(
            f"{path}: {unusual['negative']} negative values (a log-ratio or z-score track?); "
            "use --normalize none or quantile"
        )
    return raw_path


def _store_tracks(raw_paths: list[Path], opts: PrepareOptions, arrays: Path, total: int) -> tuple[list[dict], str]:
    """Normalise the raw tracks into one channel-major ``(n_tracks, total)`` array.

    A gene window is then one contiguous row slice per track (a memcpy). Values are float16
    after log1p/quantile normalisation, float32 with ``--normalize none``.
    Returns the per-track metadata and the array's file name.
    """
    dtype = np.float32 if opts.normalize == "none" else np.float16
    file_name = "tracks.f32" if dtype == np.float32 else "tracks.f16"
    out = _new_array(arrays / file_name, dtype, (len(raw_paths), total), arrays / file_name)
    metas = []
    for k, ((name, path), raw_path) in enumerate(zip(opts.tracks, raw_paths)):
        raw = StoredArray(raw_path, np.float32, total)
        meta: dict[str, Any] = {"name": name, "path": str(path), "normalization": opts.normalize,
                                "dtype": np.dtype(dtype).name}
        scale = _robust_scale(raw) if opts.normalize == "quantile" else 1.0
        if opts.normalize == "quantile":
            meta["scale"] = scale
        chunk = 1 << 23
        for lo in range(0, total, chunk):
            block = raw.read(lo, min(chunk, total - lo))
            if opts.normalize == "log1p":
                block = np.log1p(block)
            elif opts.normalize == "quantile":
                block = np.clip(block / scale, -6e4, 6e4)
            out.write(k * total + lo, block)
        metas.append(meta)
        raw.close()
        raw_path.unlink()
    out.close()
    return metas, file_name


def _robust_scale(raw: StoredArray, sample: int = 5_000_000, seed: int = 0) -> float:
    """The ``ROBUST_QUANTILE`` of the non-zero |values| of ``raw`` (from a seeded sample on big
    tracks, read a chunk at a time)."""
    total = len(raw)
    if total > sample:
        idx = np.sort(np.random.default_rng(seed).integers(0, total, sample))
        chunk = 1 << 23
        cuts = np.searchsorted(idx, np.arange(0, total + chunk, chunk))
        values = np.concatenate([raw.read(lo, min(chunk, total - lo))[idx[a:b] - lo]
                                 for lo, a, b in zip(range(0, total, chunk), cuts[:-1], cuts[1:])])
    else:
        values = raw.read(0, total)
    nonzero = np.abs(values[values != 0])
    if len(nonzero) == 0:
        return 1.0
    scale = float(np.quantile(nonzero, ROBUST_QUANTILE))
    return scale if scale > 0 else 1.0


def _write_hic(
    opts: PrepareOptions, genes: pd.DataFrame, chrom_sizes: dict[str, int], path: Path, progress: Progress | None
) -> dict[str, Any] | None:
    """Per gene: log10(1 + contact) of its TSS bin with each bin under its window."""
    from seq2exp_cli.io.hic import PowerLawContacts, open_contacts

    if opts.hic is None and not opts.powerlaw_fallback:
        return None
    if opts.hic is not None:
        reader = open_contacts(opts.hic, resolution=opts.hic_resolution, normalization=opts.hic_normalization)
        gene_chroms = list(dict.fromkeys(genes["chrom"]))
        alias = build_alias_map(chrom_sizes, reader.chrom_sizes, str(opts.hic), required=gene_chroms)
        fasta_to_hic = {v: k for k, v in alias.items()}
        source = {"path": str(opts.hic), "normalization": reader.normalization}
    else:
        reader = PowerLawContacts(chrom_sizes, resolution=opts.hic_resolution)
        fasta_to_hic = {c: c for c in chrom_sizes}
        source = {"path": None, "normalization": "powerlaw", "gamma": reader.gamma, "scale": reader.scale}
        log.info("no --hic given: using ABC's power-law contact model (gamma %.3f)", reader.gamma)
    bin_size = opts.hic_resolution
    starts = window_bounds_array(genes["tss"].to_numpy(np.int64), (genes["strand"] == "-").to_numpy(), opts.window)
    first_bins = starts // bin_size
    _, n_bins, _ = hic_bins_for_window(0, opts.window, bin_size)
    genes["hic_offset"] = starts - first_bins * bin_size
    out = _new_array(path, np.float32, (max(len(genes), 1), n_bins), path)
    anchors = genes["tss"].to_numpy(np.int64) // bin_size
    for chrom in dict.fromkeys(genes["chrom"]):
        sel = np.flatnonzero((genes["chrom"] == chrom).to_numpy())
        profiles = reader.anchor_profiles(fasta_to_hic[chrom], anchors[sel], first_bins[sel], n_bins)
        profiles = np.nan_to_num(np.asarray(profiles, dtype=np.float32), nan=0.0, posinf=0.0)
        rows = np.log10(1.0 + np.clip(profiles, 0, None))
        for row, values in zip(sel.tolist(), rows):  # a gene's row: n_bins floats
            out.write(row * n_bins, values)
        if progress:
            progress("hi-c", len(sel))
    out.close()
    if hasattr(reader, "close"):
        reader.close()
    return {**source, "resolution": bin_size, "n_bins": n_bins, "value": "log10(1 + contact)"}


def _promoter_features(
    genes: pd.DataFrame, regions: pd.DataFrame, track_file: Path, tracks_meta: list[dict], total: int
) -> list[str]:
    """``promoter_<track>``: mean stored (normalised) signal over TSS +/- 500 bp."""
    names: list[str] = []
    if not tracks_meta:
        return names
    region = genes["region"].to_numpy()
    region_start = regions["start"].to_numpy(np.int64)[region]
    region_off = regions["offset"].to_numpy(np.int64)[region]
    tss = genes["tss"].to_numpy(np.int64)
    lo = region_off + np.maximum(tss - PROMOTER_HALF_WIDTH, region_start) - region_start
    hi = region_off + np.minimum(tss + PROMOTER_HALF_WIDTH, regions["end"].to_numpy(np.int64)[region]) - region_start
    dtype = np.dtype(tracks_meta[0]["dtype"])
    for k, meta in enumerate(tracks_meta):
        values = StoredArray(track_file, dtype, total, base=k * total)
        column = f"promoter_{meta['name']}"
        genes[column] = np.array(
            [values.read(a, b - a).astype(np.float64).mean() if b > a else 0.0 for a, b in zip(lo.tolist(), hi.tolist())],
            dtype=np.float32,
        )
        values.close()
        names.append(column)
    return names


def _user_features(genes: pd.DataFrame, path: Path | None) -> list[str]:
    """Numeric per-gene columns from ``--gene-features`` (first column: gene_id); missing -> 0."""
    if path is None:
        return []
    table = pd.read_csv(path, sep="\t", dtype={0: str})
    table = table.rename(columns={table.columns[0]: "gene_id"}).set_index("gene_id")
    names = []
    for column in table.columns:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().all():
            raise InputError(f"{path}: column {column!r} is not numeric; keep only numeric feature columns")
        name = f"feature_{column}"
        genes[name] = genes["gene_id"].map(values).fillna(0.0).astype(np.float32)
        names.append(name)
    matched = int(genes["gene_id"].isin(table.index).sum())
    if matched == 0:
        raise InputError(f"{path}: no gene_id matches the genes; the first column must hold gene ids")
    log.info("%s: %d feature columns, %d/%d genes matched", path, len(names), matched, len(genes))
    return names


def _write_blacklist(path: Path | None, chrom_sizes: dict[str, int], out: Path) -> int:
    """Blacklist intervals renamed to FASTA names, clipped, sorted; returns their number."""
    if path is None:
        out.write_text("")
        return 0
    from seq2exp_cli.io.intervals import read_bed_intervals

    table = read_bed_intervals(path)
    alias = build_alias_map(chrom_sizes, list(dict.fromkeys(table["chrom"])), str(path)) if len(table) else {}
    table = table[table["chrom"].isin(alias.keys())].copy()
    table["chrom"] = table["chrom"].map(alias)
    table["end"] = np.minimum(table["end"], table["chrom"].map(chrom_sizes))
    table = table[table["start"] < table["end"]]
    order = {c: k for k, c in enumerate(chrom_sizes)}
    table = table.assign(_o=table["chrom"].map(order)).sort_values(["_o", "start"]).drop(columns="_o")
    table[["chrom", "start", "end"]].to_csv(out, sep="\t", header=False, index=False)
    return len(table)


# --------------------------------------------------------------------------- manifest helpers


def _fingerprint(path: Path) -> dict[str, Any]:
    """Size, mtime and md5 (whole file up to 256 MiB; else of the first 1 MiB, labelled so)."""
    stat = path.stat()
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        if stat.st_size <= FULL_CHECKSUM_LIMIT:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
            kind = "md5"
        else:
            digest.update(fh.read(1 << 20))
            kind = "md5_first_1MiB"
    return {"size": stat.st_size, "mtime": int(stat.st_mtime), kind: digest.hexdigest()}
