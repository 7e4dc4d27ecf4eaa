"""``seq2exp simulate``: write a synthetic data set whose causal elements are known."""

from __future__ import annotations

from pathlib import Path

import click

from seq2exp_cli.cli.options import threads_option


@click.command(context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Directory to create (its parent must exist).")
@click.option("--seed", type=click.IntRange(min=0), default=1, help="Random seed; the same seed writes the same data.")
@click.option("--scale", type=click.Choice(["tiny", "small", "full"]), default="small",
              help="tiny: 3 chromosomes, 60 genes, 20-kb windows (CI); small: 6 chromosomes, ~360 genes, "
              "40-kb windows (quickstart); full: 12 chromosomes, ~2,400 genes, 200-kb windows (benchmark).")
@click.option("--force", is_flag=True, help="Replace an existing output directory (only once the new one is complete).")
@threads_option()
def simulate(output: Path, seed: int, scale: str, force: bool) -> None:
    """Simulate a genome with functional enhancers, signal-matched decoys, genes, expression,
    DNase/H3K27ac bigWigs, Hi-C (.cool and Juicer dumps), DNase reads and the truth.

    simulation.json in the output lists every file, parameter, the recommended --window and
    the chromosome split, and the matching `seq2exp prepare` command.
    """
    from seq2exp_cli.simulate import simulate as run_simulation

    manifest = run_simulation(output, seed=seed, scale=scale, force=force)
    counts = manifest["counts"]
    click.echo(
        f"simulated {counts['genes']} genes, {counts['functional']} functional and {counts['decoy']} decoy "
        f"elements on {counts['chromosomes']} chromosomes in {output} "
        f"(window {manifest['window']} bp); next: cd {output} && {manifest['prepare_command']}",
        err=True,
    )
