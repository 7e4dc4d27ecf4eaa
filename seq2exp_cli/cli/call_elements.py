"""``seq2exp call-elements``: regulatory elements from a model's masks, or from any score track."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import click

from seq2exp_cli.cli.options import threads_option
from seq2exp_cli.errors import InputError, naming_flag

log = logging.getLogger("seq2exp_cli.call_elements")

_EPILOG = """\b
Outputs for -o NAME.narrowPeak (NAME.bed is accepted too; never a directory):
  NAME.narrowPeak        narrowPeak, 0-based half-open, FASTA chromosome order:
                         score = round(1000 * score at the summit), clipped to 0..1000,
                         signalValue = mean score over the element's scored bases,
                         pValue/qValue = -log10 p/q at the summit (-1 when not computed),
                         peak = summit offset from start
  NAME.summits.bed       BED5, 1 bp at each summit, 5th column = score at the summit
  NAME.links.tsv         ENCODE-rE2G predictions format: chr start end name class
                         TargetGene TargetGeneTSS TargetGeneIsExpressed TargetGeneEnsembl_ID
                         isSelfPromoter CellType distanceToTSS Score (model mode: a gene is
                         linked when its own score reaches the cutoff in the element)
  NAME.links.bedpe       element, 1-bp TSS, ELEMENT|GENE, score
  NAME.links.interact    UCSC interact (bed5+13) for genome browsers
  NAME.cutoff_analysis.tsv  (--cutoff-analysis) cutoff n_elements total_bp mean_length
  NAME.run.json          command, parameters, score cutoff, counts, timings, status and the
                         size + SHA-256 of every file (written last: the set is complete
                         when it is there; a killed run leaves nothing, and the next run
                         cleans up after it without --force)
\b
Scores (--score): mask = the bottleneck's mean mask; contribution = the bin's share of the
gene's predicted regulatory input (sums to 1 per gene, like ABC's score). Model mode tests
each called element against a sequence null: genomes whose bases are dinucleotide-shuffled in
500-bp blocks are scored and called the same way; p = the share of their elements whose score
exceeds a shuffled reference's by as much, q = the false discovery rate estimated from their
calls; -p/-q keep the elements that pass. Edges and summits are refined to bp within the edge
bins from the dataset's tracks. Model-free mode has no null (pValue/qValue -1). Calling matches `macs3 bdgpeakcall -c CUTOFF -l
MIN_LENGTH -g MAX_GAP` (score >= cutoff; gaps <= max-gap joined; length >= min-length; summit =
middle of the highest run). Unlike MACS3, unscored bases (blacklist, outside gene windows,
bedGraph gaps) never count as above the cutoff.
"""



@click.command("call-elements", epilog=_EPILOG, context_settings={"show_default": True})
@click.argument("run_dir", required=False, type=click.Path(exists=True, path_type=Path))
@click.argument("dataset", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="narrowPeak output NAME.narrowPeak (or NAME.bed); the other outputs go beside it.")
@click.option("--from-bigwig", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Model-free mode: call elements on this score bigWig.")
@click.option("--from-bedgraph", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Model-free mode: call elements on this score bedGraph.")
@click.option("--dataset", "ref_dataset", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Model-free mode: take chromosome order and sizes from this prepared dataset.")
@click.option("--chrom-sizes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Model-free mode: take chromosome order and sizes from this chrom.sizes file.")
@click.option("--combine", type=click.Choice(["max", "mean"]), default="max",
              help="How overlapping gene windows combine into one track.")
@click.option("-c", "--cutoff", type=float, default=None,
              help="Score cutoff (score >= cutoff; mask scores are in [0, 1]). Without it or --top-fraction: "
                   "--top-fraction 0.05 in model mode, --cutoff 0.5 with --from-bigwig/--from-bedgraph.")
@click.option("-p", "--pvalue", type=float, default=None,
              help="Model mode: keep the called elements with sequence-null p <= this (e.g. 0.01).")
@click.option("-q", "--qvalue", type=float, default=None,
              help="Model mode: keep the called elements with BH q <= this (e.g. 0.05).")
@click.option("--top-fraction", type=float, default=None,
              help="Keep the highest-scoring fraction of scored bases (ties are never split).")
@click.option("-l", "--min-length", type=int, default=200, help="Minimum element length in bp.")
@click.option("-g", "--max-gap", type=int, default=30, help="Join above-cutoff stretches this close (bp).")
@click.option("--call-summits", is_flag=True, help="Report every sub-peak summit (MACS3 --call-summits).")
@click.option("--cutoff-analysis", is_flag=True, help="Also write NAME.cutoff_analysis.tsv.")
@click.option("--cutoff-analysis-steps", type=click.IntRange(1, 10000), default=100,
              help="Number of cutoffs in the analysis.")
@click.option("--bigwig", type=click.Path(dir_okay=False, path_type=Path), help="Write the per-bp score as bigWig.")
@click.option("--bedgraph", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the per-bp score as bedGraph (gap-free; unscored bases as 0).")
@click.option("--null-shuffles", type=click.IntRange(0), default=2,
              help="Model mode: dinucleotide shuffles per element for p/q (>= 2; 0 = no p/q, -1 columns).")
@click.option("--split", type=click.Choice(["all", "train", "valid", "test"]), default="all",
              help="Model mode: genes whose masks are used.")
@click.option("--score", "score_kind", type=click.Choice(["auto", "mask", "contribution"]), default="auto",
              help="Model mode: per-gene score. mask: the bottleneck's mean mask; contribution: each bin's "
                   "share of the gene's predicted regulatory input (additive-readout models; no -p/-q); "
                   "auto: contribution when the model has it, else mask.")
@click.option("--cell-type", help="Model mode: the links' CellType column [default: the dataset directory's name].")
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", type=click.IntRange(1), default=8, help="Genes per forward pass.")
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
@threads_option()
def call_elements(run_dir, dataset, output, from_bigwig, from_bedgraph, ref_dataset, chrom_sizes, combine,
                  cutoff, pvalue, qvalue, top_fraction, min_length, max_gap, call_summits, cutoff_analysis,
                  cutoff_analysis_steps, bigwig, bedgraph, null_shuffles, split, score_kind, cell_type,
                  device, batch_size, force) -> None:
    """Call regulatory elements: RUN_DIR DATASET (model mode) or --from-bigwig/--from-bedgraph.

    In model mode the masks are extracted in batches on the GPU when there is one. Under
    torchrun the genes are shared out across processes (each on its local GPU); rank 0
    combines their masks in the one-process order and writes every file.
    """
    from seq2exp_cli.elements.settings import call_settings, output_paths

    started = time.time()
    model_free = from_bigwig is not None or from_bedgraph is not None
    if from_bigwig is not None and from_bedgraph is not None:
        raise click.UsageError("give one of --from-bigwig and --from-bedgraph")
    if model_free and (run_dir is not None or dataset is not None):
        raise click.UsageError("model-free mode (--from-bigwig/--from-bedgraph) takes no RUN_DIR/DATASET")
    if not model_free and (run_dir is None or dataset is None):
        raise click.UsageError("give RUN_DIR and DATASET, or --from-bigwig/--from-bedgraph")
    if ref_dataset is not None and chrom_sizes is not None:
        raise click.UsageError("give one of --dataset and --chrom-sizes")
    settings = call_settings(
        model_free, dataset, cutoff=cutoff, pvalue=pvalue, qvalue=qvalue, top_fraction=top_fraction,
        min_length=min_length, max_gap=max_gap, call_summits=call_summits, cutoff_analysis=cutoff_analysis,
        cutoff_steps=cutoff_analysis_steps, bigwig=bigwig, bedgraph=bedgraph, null_shuffles=null_shuffles,
        cell_type=cell_type or None,
    )
    paths = output_paths(output, settings, links=not model_free)
    run_path = paths["summits"].with_name(paths["summits"].name[: -len(".summits.bed")] + ".run.json")

    if model_free:
        _call_model_free(paths, run_path, settings, from_bigwig, from_bedgraph, ref_dataset, chrom_sizes, cutoff,
                         combine, force, started)
    else:
        _call_from_model(paths, run_path, settings, run_dir, dataset, combine, split, device, batch_size,
                         score_kind, force, started)


def _call_model_free(paths, run_path, settings, from_bigwig, from_bedgraph, ref_dataset, chrom_sizes, cutoff,
                     combine, force, started) -> None:
    """Model-free mode: the score track of a bigWig/bedGraph, called and written by this process."""
    from seq2exp_cli.elements import track_from_file
    from seq2exp_cli.elements.calling import call_and_write
    from seq2exp_cli.elements.settings import check_outputs
    from seq2exp_cli.io.output_set import OutputSet

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("--from-bigwig/--from-bedgraph: model-free calling runs in one process; "
                         "start it without torchrun")
    check_outputs({**paths, "run record": run_path}, force=True)  # duplicates and directories
    outputs = OutputSet(paths, run_path, force)
    settings.check(has_null=False)
    reference = None
    if ref_dataset is not None:
        from seq2exp_cli.dataset import PreparedDataset

        with naming_flag("--dataset", ref_dataset):
            reference = PreparedDataset(ref_dataset).chrom_sizes
    elif chrom_sizes is not None:
        from seq2exp_cli.io.bed import read_chrom_sizes

        with naming_flag("--chrom-sizes", chrom_sizes):
            reference = read_chrom_sizes(chrom_sizes)
    source_flag = "--from-bigwig" if from_bigwig is not None else "--from-bedgraph"
    with naming_flag(source_flag, from_bigwig or from_bedgraph):
        track = track_from_file(from_bigwig or from_bedgraph, bigwig=from_bigwig is not None, reference=reference)
    if cutoff is not None and cutoff < 0:
        log.warning("--cutoff %s is below 0: every scored base passes unless its score is lower still", cutoff)
    with outputs:
        summary = call_and_write(track, outputs.staged, settings)
        _commit(outputs, summary, settings, combine, True, started)


def _call_from_model(paths, run_path, settings, run_dir, dataset, combine, split, device, batch_size, score_kind,
                     force, started) -> None:
    """Model mode: every rank extracts its genes' masks; rank 0 owns and writes the outputs."""
    from seq2exp_cli import distributed
    from seq2exp_cli.elements.from_model import call_elements_from_model
    from seq2exp_cli.elements.settings import check_outputs
    from seq2exp_cli.io.output_set import OutputSet

    # as in predict: under torchrun each process joins the group (it lives until the process
    # exits) and uses its local GPU
    torch_device = distributed.setup(device)
    # rank 0 owns the outputs (the others may not even see its directory); an error
    # there is reported by every process instead of leaving them waiting
    outputs = None
    with distributed.errors_on_every_rank():
        if distributed.rank() == 0:
            check_outputs({**paths, "run record": run_path}, force=True)  # duplicates and directories
            outputs = OutputSet(paths, run_path, force)
    if outputs is None:  # not rank 0: rank 0 writes every file
        call_elements_from_model(run_dir, dataset, paths, settings, combine, split, torch_device,
                                 batch_size, score_kind)
        return
    with outputs:
        summary = call_elements_from_model(run_dir, dataset, outputs.staged, settings, combine, split,
                                           torch_device, batch_size, score_kind)
        _commit(outputs, summary, settings, combine, False, started)


def _commit(outputs, summary: dict, settings, combine: str, model_free: bool, started: float) -> None:
    """Rename the staged files into place and write the run record last."""
    from seq2exp_cli import __version__
    from seq2exp_cli.cli.options import command_line

    summary["outputs"] = {k: str(v) for k, v in outputs.targets.items()}
    record = {
        "command": command_line(click.get_current_context()), "seq2exp_version": __version__,
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(settings).items()},
        "combine": combine, "mode": "model-free" if model_free else "model", **summary,
        "seconds": round(time.time() - started, 3),
    }
    outputs.commit(record)
