"""``seq2exp predict``: predictions for every gene of a split, plus metrics where targets exist."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from seq2exp_cli.cli.options import threads_option

PathType = click.Path(path_type=Path)


def run_record_path(output: Path) -> Path:
    """``predictions.tsv`` -> ``predictions.run.json`` (beside the TSV)."""
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.run.json")


def metrics_path(output: Path) -> Path:
    """``predictions.tsv`` -> ``predictions.metrics.json`` (beside the TSV)."""
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.metrics.json")


@click.command(context_settings={"show_default": True})
@click.argument("run_dir", type=PathType)
@click.argument("dataset", type=PathType)
@click.option("-o", "--output", required=True, type=PathType,
              help="Predictions TSV (`-` for stdout); metrics go to NAME.metrics.json and the run record "
                   "to NAME.run.json beside it.")
@click.option("--split", type=click.Choice(["test", "valid", "train", "all"]), default="test",
              help="Which genes to predict.")
@click.option("--batch-size", type=int, default=8, help="Genes per forward pass.")
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N (bf16 autocast on CUDA).")
@click.option("--num-workers", type=int, default=0, help="DataLoader worker processes.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@threads_option()
def predict(run_dir: Path, dataset: Path, output: Path, split: str, batch_size: int, device: str,
            num_workers: int, force: bool) -> None:
    """Predict expression with the model in RUN_DIR for the genes of DATASET.

    Writes gene_id, name, chrom, tss, strand, split, target, predicted (NA for unknown
    targets), and MSE, MAE, Pearson and Spearman per split (a table on stderr and a JSON),
    and a run record (command, version, inputs, counts, timings). Under torchrun the genes are shared out across processes and rank 0 writes the file.
    """
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.distributed import rank, setup
    from seq2exp_cli.inference import check_compatible, load_model, predict_in_chunks, split_metrics
    import time

    from seq2exp_cli.cli.options import command_line
    from seq2exp_cli.cli.progress import stage_progress
    from seq2exp_cli.io.atomic import atomic_path, check_output_free

    started = time.time()
    if batch_size <= 0:
        raise click.BadParameter("must be > 0", param_hint="--batch-size")
    to_stdout = str(output) == "-"
    if not to_stdout:
        check_output_free(output, force)
        check_output_free(metrics_path(output), force)
        check_output_free(run_record_path(output), force)
    torch_device = setup(device)  # under torchrun: joins the group (it lives until the process exits)
    data = PreparedDataset(dataset)
    model, meta = load_model(run_dir, torch_device)
    check_compatible(meta, data)
    indices = data.indices(split)
    with stage_progress({"predict": len(indices)}) as progress:
        frame = predict_in_chunks(model, data, indices, torch_device, batch_size, num_workers,
                                  progress=lambda n: progress("predict", n))
    if rank() != 0:
        return
    metrics = split_metrics(frame)
    if to_stdout:
        _write_tsv(frame, sys.stdout)
    else:
        with atomic_path(output) as tmp, open(tmp, "w", newline="") as handle:
            _write_tsv(frame, handle)
        if metrics:
            record = {"run_dir": str(run_dir), "dataset": str(dataset), "split": split,
                      "model_step": meta.get("step"), "metrics": metrics}
            with atomic_path(metrics_path(output)) as tmp:
                tmp.write_text(json.dumps(record, indent=2) + "\n")
        from seq2exp_cli import __version__

        run = {"command": command_line(click.get_current_context()), "seq2exp_version": __version__,
               "run_dir": str(run_dir), "dataset": str(dataset), "split": split, "device": str(torch_device),
               "model_step": meta.get("step"), "n_genes": int(len(frame)),
               "n_labelled": int(frame["target"].notna().sum()) if "target" in frame else 0,
               "outputs": {"predictions": str(output), **({"metrics": str(metrics_path(output))} if metrics else {})},
               "seconds": round(time.time() - started, 3)}
        with atomic_path(run_record_path(output)) as tmp:
            tmp.write_text(json.dumps(run, indent=2) + "\n")
    _report(metrics, len(frame))


def _write_tsv(frame, handle) -> None:
    try:
        frame.to_csv(handle, sep="\t", index=False, na_rep="NA", float_format="%.6g", lineterminator="\n")
        handle.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error
        sys.stderr.close()


def _report(metrics: dict, n_genes: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    if not metrics:
        console.print(f"{n_genes} genes predicted; no targets, so no metrics")
        return
    table = Table(title=f"{n_genes} genes predicted")
    for column in ("split", "n", "MSE", "MAE", "Pearson", "Spearman"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, m in metrics.items():
        table.add_row(name, str(m["n"]), *("NA" if m[k] is None else f"{m[k]:.4f}" for k in ("mse", "mae", "pearson", "spearman")))
    console.print(table)
