"""``seq2exp prepare``: FASTA, tracks, Hi-C, genes and expression -> a dataset directory."""

from __future__ import annotations

from pathlib import Path

import click

from seq2exp_cli.cli.options import comma_list, command_line, threads_option
from seq2exp_cli.prepare_options import PrepareOptions

PathType = click.Path(path_type=Path)
#: the option defaults are PrepareOptions' (one source for the CLI and Python callers)
DEFAULTS = PrepareOptions(fasta=Path(), genes=Path(), output=Path())


def _track_specs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, Path]]:
    from seq2exp_cli.errors import InputError
    from seq2exp_cli.io.tracks import parse_track_spec

    try:
        return [(name, Path(path)) for name, path in map(parse_track_spec, values)]
    except InputError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command(context_settings={"show_default": True})
@click.option("--fasta", required=True, type=PathType, help="Genome FASTA (plain or bgzip); its names and order are the dataset's.")
@click.option("--genes", required=True, type=PathType, help="Genes: GTF/GFF, BED6+ or TSV (gene_id, chrom, tss, strand; gives no gene ends, so no gene-body features).")
@click.option("-o", "--output", required=True, type=PathType, help="Dataset directory to create.")
@click.option("--track", "tracks", multiple=True, callback=_track_specs, metavar="NAME=PATH",
              help="Signal track, bigWig or BAM; repeat for each (e.g. --track dnase=dnase.bw).")
@click.option("--expression", type=PathType, help="Expression table (TSV/CSV; id + value); genes without a value stay, unlabelled.")
@click.option("--expression-id-column", help="Id column of --expression (default: the first).")
@click.option("--expression-column", help="Value column of --expression (default: the only numeric one).")
@click.option("--target-transform", type=click.Choice(["log10p1", "none"]), default=DEFAULTS.target_transform,
              help="Target = log10(1 + value), or the value as given.")
@click.option("--hic", type=PathType, help=".hic, .cool, .mcool, juicer dump (start1 start2 count) or bedpe of contacts.")
@click.option("--hic-resolution", type=int, default=DEFAULTS.hic_resolution, help="Hi-C bin size in bp.")
@click.option("--hic-normalization", default=DEFAULTS.hic_normalization,
              help="Hi-C normalisation: auto (VC when present, else raw counts), NONE, VC, KR, SCALE, weight, ...")
@click.option("--no-powerlaw", is_flag=True, help="Without --hic, leave Hi-C out instead of ABC's power-law contact model.")
@click.option("--window", type=int, default=DEFAULTS.window, help="Window length in bp, centred on the TSS.")
@click.option("--normalize", type=click.Choice(["log1p", "quantile", "none"]), default=DEFAULTS.normalize,
              help="Track values stored as log(1+x), x / 99th percentile of non-zero values, or raw.")
@click.option("--blacklist", type=PathType, help="BED of regions the mask must never select (e.g. ENCODE blacklist).")
@click.option("--gene-format", type=click.Choice(["auto", "gtf", "gff", "bed", "tsv"]), default=DEFAULTS.gene_format)
@click.option("--gtf-feature", type=click.Choice(["gene", "transcript"]), default=DEFAULTS.gtf_feature,
              help="TSS from gene records, or from each gene's longest transcript.")
@click.option("--gene-types", callback=comma_list, help="Keep only these gene types (comma list, e.g. protein_coding).")
@click.option("--gene-features", type=PathType, help="TSV of extra numeric per-gene features (first column gene_id).")
@click.option("--exclude-chroms", callback=comma_list, default=",".join(DEFAULTS.exclude_chroms),
              help="Chromosomes whose genes are left out (comma list; aliases such as MT match).")
@click.option("--split-mode", type=click.Choice(["auto", "chroms", "blocks", "file"]), default=DEFAULTS.split_mode,
              help="Hold out whole chromosomes, contiguous position blocks, or follow --split-file; auto: "
                   "chromosomes when they leave labelled genes in every split, else blocks (one-chromosome data).")
@click.option("--test-chroms", callback=comma_list, default=",".join(DEFAULTS.test_chroms), help="Test chromosomes (--split-mode chroms).")
@click.option("--valid-chroms", callback=comma_list, default=",".join(DEFAULTS.valid_chroms), help="Validation chromosomes (--split-mode chroms).")
@click.option("--split-file", type=PathType, help="TSV gene_id<TAB>train|valid|test (--split-mode file).")
@click.option("--block-size", type=int, default=DEFAULTS.block_size, help="Block length in bp (--split-mode blocks).")
@click.option("--valid-fraction", type=float, default=DEFAULTS.valid_fraction, help="Share of genes for validation (--split-mode blocks).")
@click.option("--test-fraction", type=float, default=DEFAULTS.test_fraction, help="Share of genes for test (--split-mode blocks).")
@click.option("--seed", type=int, default=DEFAULTS.seed, help="Seed for block splits.")
@click.option("--extsize", type=int, help="BAM tracks: extend each read to this fragment length (MACS3 --extsize).")
@click.option("--shift", type=int, default=DEFAULTS.shift, help="BAM tracks: move 5' ends by this many bp first (MACS3 --shift).")
@click.option("--min-mapq", type=int, default=DEFAULTS.min_mapq, help="BAM tracks: skip reads below this mapping quality.")
@threads_option(expose=True, default=1, extra_help=" Tracks are also read on up to N chromosomes at once.")
@click.option("--force", is_flag=True, help="Replace an existing output directory (only once the new one is complete).")
def prepare(**kwargs) -> None:
    """Build a dataset from your files: one window per gene (centred on its TSS), stored once
    per chromosome region as raw binary arrays, with Hi-C per gene per bin.

    Minus-strand windows are served reverse-complemented (transcription orientation).
    """
    from seq2exp_cli.cli.progress import stage_progress
    from seq2exp_cli.prepare import prepare_dataset

    kwargs["powerlaw_fallback"] = not kwargs.pop("no_powerlaw")
    kwargs["expression_value_column"] = kwargs.pop("expression_column")
    opts = PrepareOptions(command=command_line(click.get_current_context()), **kwargs)
    with stage_progress() as progress:
        path = prepare_dataset(opts, progress=progress)
    click.echo(f"dataset: {path}", err=True)
