"""``seq2exp quickstart``: simulate -> prepare -> train -> predict -> call-elements -> one table."""

from __future__ import annotations

from pathlib import Path

import click

from seq2exp_cli.cli.options import threads_option


@click.command(context_settings={"show_default": True})
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("demo"), help="Directory for everything.")
@click.option("--scale", type=click.Choice(["tiny", "small"]), default="small",
              help="small: ~360 genes, at most ~5 min of CPU training; tiny: ~60 genes, about a minute in all.")
@click.option("--seed", type=int, default=1, help="Seed of the simulation and of training.")
@click.option("--device", default="auto", help="auto, cpu or cuda[:N].")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@threads_option()
def quickstart(output: Path, scale: str, seed: int, device: str, force: bool) -> None:
    """Run the whole pipeline on a simulated genome with planted enhancers and signal-matched
    decoys, and print how well seq2exp recovers them next to a DNase-threshold caller (and
    MACS3 when installed), with held-out expression accuracy and a locus plot."""
    from seq2exp_cli.quickstart import format_table, run_quickstart

    result = run_quickstart(output, scale=scale, seed=seed, device=device, force=force)
    click.echo(format_table(result))
    click.echo("")
    if result.files.get("locus_plot"):
        click.echo(f"Locus plot: {result.files['locus_plot']}")
    click.echo(f"Elements: {result.files['narrowPeak']}  Links: {result.files['links']}  "
               f"Summary: {result.out / 'summary.md'}")
