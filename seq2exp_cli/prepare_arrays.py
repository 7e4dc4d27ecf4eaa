"""``prepare``'s array steps: sequence codes, tracks (read per region in parallel, normalised),
Hi-C contact profiles and the blacklist, each written once into the dataset directory."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seq2exp_cli.dataset import hic_bins_for_window, window_bounds_array
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.stored_array import StoredArray, StoredArrayWriter
from seq2exp_cli.io.chroms import build_alias_map
from seq2exp_cli.prepare_options import HUGE_TRACK_VALUE, ROBUST_QUANTILE, PrepareOptions, Progress

log = logging.getLogger(__name__)


def new_array(path: Path, dtype: Any, shape: tuple[int, ...], label: Path) -> StoredArrayWriter:
    """A new array file over space allocated up front (a full disk is an error here), written
    with positional writes: a writable memmap would keep every written page resident."""
    return StoredArrayWriter(path, dtype, int(np.prod(shape)), label)


def write_sequence(fasta, regions: pd.DataFrame, path: Path, total: int, progress: Progress | None) -> None:
    with new_array(path, np.uint8, (total,), path) as seq:
        for r in regions.itertuples(index=False):
            seq.write(r.offset, fasta.fetch_codes(r.chrom, r.start, r.end))
            if progress:
                progress("sequence", r.end - r.start)


def check_track_names(opts: PrepareOptions, chrom_sizes: dict[str, int], genes: pd.DataFrame) -> dict[str, dict[str, str]]:
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


def read_track(
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
    raw = new_array(raw_path, np.float32, (total,), raw_path)
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


def store_tracks(raw_paths: list[Path], opts: PrepareOptions, arrays: Path, total: int) -> tuple[list[dict], str]:
    """Normalise the raw tracks into one channel-major ``(n_tracks, total)`` array.

    A gene window is then one contiguous row slice per track (a memcpy). Values are float16
    after log1p/quantile normalisation, float32 with ``--normalize none``.
    Returns the per-track metadata and the array's file name.
    """
    dtype = np.float32 if opts.normalize == "none" else np.float16
    file_name = "tracks.f32" if dtype == np.float32 else "tracks.f16"
    out = new_array(arrays / file_name, dtype, (len(raw_paths), total), arrays / file_name)
    metas = []
    for k, ((name, path), raw_path) in enumerate(zip(opts.tracks, raw_paths)):
        raw = StoredArray(raw_path, np.float32, total)
        meta: dict[str, Any] = {"name": name, "path": str(path), "normalization": opts.normalize,
                                "dtype": np.dtype(dtype).name}
        scale = robust_scale(raw) if opts.normalize == "quantile" else 1.0
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


def robust_scale(raw: StoredArray, sample: int = 5_000_000, seed: int = 0) -> float:
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


def write_hic(
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
    out = new_array(path, np.float32, (max(len(genes), 1), n_bins), path)
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


def write_blacklist(path: Path | None, chrom_sizes: dict[str, int], out: Path) -> int:
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
