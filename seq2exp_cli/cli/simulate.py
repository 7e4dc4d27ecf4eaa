"""``seq2exp simulate``: write a synthetic data set whose causal elements are known."""

from __future__ import annotations

from pathlib import Path

import click

from seq2exp_cli.cli.options import threads_option


@click.command(context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Directory to create (its parent must exist).")
@click.option("--seed", type=click.IntRange(min=0), default=1,
              help="Random seed; the same seed writes the same data. Each seed draws its own motif grammar.")
@click.option("--scale", type=click.Choice(["tiny", "small", "medium", "full"]), default="small",
              help="tiny: 3 chromosomes, 60 genes, 20-kb windows (CI); small: 6 chromosomes, 361 genes, "
              "40-kb windows (quickstart); medium: 10 chromosomes, ~2,500 genes, 40-kb windows (headline "
              "benchmark); full: 12 chromosomes, ~2,400 genes, 200-kb windows.")
@click.option("--null-distal", is_flag=True,
              help="A null genome: no distal region has any effect on expression (no functional "
              "elements; other genes' promoters do not act either); own promoters still drive expression.")
@click.option("--force", is_flag=True, help="Replace an existing output directory (only once the new one is complete).")
@threads_option()
def simulate(output: Path, seed: int, scale: str, null_distal: bool, force: bool) -> None:
    """Simulate a genome with functional enhancers and non-functional candidates (signal-matched
    decoys, orphans, closed, insulators, inert), genes, expression, DNase/H3K27ac bigWigs, Hi-C
    (.cool and Juicer dumps), DNase reads, motif databases (exact and noisy) and the truth.

    simulation.json in the output lists every file, parameter, the motif grammar, the recommended
    --window and the chromosome split, and the matching `seq2exp prepare` command.
    """
    from seq2exp_cli.simulate import simulate as run_simulation

    manifest = run_simulation(output, seed=seed, scale=scale, force=force, null_distal=null_distal)
    counts = manifest["counts"]
    classes = ", ".join(f"{counts[c]} {c}" for c in ("functional", "decoy", "orphan", "closed", "insulator", "inert"))
    click.echo(
        f"simulated {counts['genes']} genes and {counts['candidates']} candidates ({classes}) on "
        f"{counts['chromosomes']} chromosomes in {output} (window {manifest['window']} bp); "
        f"next: cd {output} && {manifest['prepare_command']}",
        err=True,
    )
