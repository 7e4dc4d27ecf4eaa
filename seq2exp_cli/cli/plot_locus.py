"""``seq2exp plot-locus``: signal tracks, Hi-C, mask score, elements and truth for one gene."""

from __future__ import annotations

from pathlib import Path

import click

from seq2exp_cli.cli.options import threads_option


@click.command(context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--gene", required=True, help="gene_id or name of the gene to draw.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Image file (.png, .pdf, .svg).")
@click.option("--elements", type=click.Path(path_type=Path), help="Called elements (narrowPeak/BED) to draw.")
@click.option("--truth", type=click.Path(path_type=Path), help="Truth BED (e.g. simulate's truth_elements.bed).")
@click.option("--device", default="auto", help="auto, cpu or cuda[:N] for computing the mask.")
@click.option("--force", is_flag=True, help="Overwrite an existing image.")
@threads_option()
def plot_locus(run_dir: Path, dataset: Path, gene: str, output: Path, elements: Path | None, truth: Path | None,
               device: str, force: bool) -> None:
    """Draw one gene's window: each track, Hi-C contact with the TSS bin, the learned mask
    score, called elements and (when known) the planted truth. Needs matplotlib
    (pip install 'seq2exp[plot]')."""
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.errors import naming_flag
    from seq2exp_cli.inference import check_compatible, default_score, extract_masks, load_model
    from seq2exp_cli.io.atomic import check_output_free
    from seq2exp_cli.io.intervals import read_bed_intervals
    from seq2exp_cli.plot import SCORE_LABELS, find_gene, plot_locus as draw, read_truth

    check_output_free(output, force)
    data = PreparedDataset(dataset)
    with naming_flag(f"--gene {gene}", dataset):
        index = find_gene(data, gene)
    model, meta = load_model(run_dir, device)
    check_compatible(meta, data)
    score = default_score(model)
    gene_mask = next(iter(extract_masks(model, data, [index], device=device, batch_size=1, score=score)))
    with naming_flag("--elements", elements):
        called = read_bed_intervals(elements) if elements else None
    with naming_flag("--truth", truth):
        planted = read_truth(truth) if truth else None
    draw(data, index, output, mask=gene_mask.scores, elements=called, truth=planted, score_label=SCORE_LABELS[score])
    click.echo(str(output))
