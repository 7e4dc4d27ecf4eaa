"""``prepare``: raw genomics files in, a compact self-describing dataset out.

Work is done per chromosome region (the union of gene windows), never per gene, so each base
of the FASTA and of every track is read once. The dataset is built in a temporary directory
beside the output and renamed into place only when complete. The steps: ``prepare_options``
(what is asked), ``prepare_genes`` (genes, splits, regions, features), ``prepare_arrays``
(sequence, tracks, Hi-C, blacklist); this module validates, orders them and writes the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from seq2exp_cli import __version__
from seq2exp_cli.dataset import FORMAT_VERSION, GENE_COLUMNS, hic_bins_for_window
from seq2exp_cli.errors import InputError, naming_flag
from seq2exp_cli.io.atomic import atomic_directory, check_free_space
from seq2exp_cli.prepare_arrays import check_track_names, read_track, store_tracks, write_blacklist, write_hic, write_sequence
from seq2exp_cli.prepare_genes import body_features, gene_regions, load_genes, promoter_features, user_features
from seq2exp_cli.prepare_options import FULL_CHECKSUM_LIMIT, NORMALIZATIONS, PrepareOptions, Progress
from seq2exp_cli.records import jsonable, recorded_command

log = logging.getLogger(__name__)


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
        genes, gene_aliases = load_genes(opts, chrom_sizes)
        regions = gene_regions(genes, chrom_sizes, opts.window)
        total_bp = int((regions["end"] - regions["start"]).sum())
        log.info(
            "%d genes on %d chromosomes; %d regions cover %.1f Mb", len(genes), genes["chrom"].nunique(),
            len(regions), total_bp / 1e6,
        )
        track_aliases = check_track_names(opts, chrom_sizes, genes)
        with atomic_directory(opts.output, force=opts.force) as tmp:
            check_free_space(tmp, _bytes_needed(opts, total_bp, len(genes)), opts.output)
            arrays = tmp / "arrays"
            arrays.mkdir()
            write_sequence(fasta, regions, arrays / "seq.u8", total_bp, progress)
            raw_paths = [
                read_track(name, path, regions, arrays, total_bp, track_aliases[name], opts, progress)
                for name, path in opts.tracks
            ]
            tracks_meta, track_file = store_tracks(raw_paths, opts, arrays, total_bp)
            hic_meta = write_hic(opts, genes, chrom_sizes, arrays / "hic.f32", progress)
            feature_names = promoter_features(genes, regions, arrays / track_file, tracks_meta, total_bp)
            feature_names += body_features(genes, regions, arrays / track_file, tracks_meta, total_bp, opts.window)
            feature_names += user_features(genes, opts.gene_features)
            blacklist_count = write_blacklist(opts.blacklist, chrom_sizes, tmp / "blacklist.bed")
            genes[GENE_COLUMNS + feature_names].to_csv(tmp / "genes.tsv", sep="\t", index=False, na_rep="")
            regions.to_csv(tmp / "regions.tsv", sep="\t", index=False)
            manifest = {
                "format_version": FORMAT_VERSION,
                "seq2exp_version": __version__,
                "command": recorded_command(opts.command),
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




def _input_paths(opts: PrepareOptions) -> list[Path]:
    paths = [opts.fasta, opts.genes] + [p for _, p in opts.tracks]
    paths += [p for p in (opts.expression, opts.hic, opts.blacklist, opts.split_file, opts.gene_features) if p]
    return [Path(p) for p in paths]


# --------------------------------------------------------------------------- genes




# --------------------------------------------------------------------------- arrays








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
