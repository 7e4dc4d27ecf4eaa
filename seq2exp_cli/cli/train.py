"""``seq2exp train``: parse options, resolve the settings (``train_settings``), call ``training.fit``.

Settings, lowest first: the dataclass defaults, ``--preset`` (``presets.py``; ``auto`` = ``cpu``
on a CPU, ``gpu`` on CUDA), the ``--config`` TOML file, then options given on the command line.
One option per ``ModelConfig`` / ``TrainConfig`` field is generated from the dataclasses. With
``--resume`` the settings stored in ``last.pt`` replace the defaults and the preset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from seq2exp_cli.cli.options import threads_option

PathType = click.Path(path_type=Path)

CONFIG_HELP = """\b
Settings, lowest first: dataclass defaults < --preset < --config FILE.toml < options.
The TOML file has every key optional: `variant = "hard"`, a [model] table (the --model options
below, in snake_case, e.g. d_state = 8) and a [training] table (the training options, e.g.
min_lr = 6e-4, warmup_steps = 100). `--dump-config` prints the resolved settings as TOML.
Presets: cpu (small model, 200-bp bins, epochs sized to the dataset, early stopping), gpu (the
paper's model at 1 bp, epochs sized to the dataset), paper (the published configuration).
"""


def _list_value(scalar: Any) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> list | None:
        if value is None:
            return None
        try:
            return [scalar(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a comma list of numbers") from None
    return convert


def _generated_options(command: Any) -> Any:
    """Decorate ``command`` with one option per ModelConfig / TrainConfig field."""
    from seq2exp_cli.presets import PRESETS
    from seq2exp_cli.train_settings import FIELD_HELP, choices, option_specs

    for table, name, scalar, is_list, default in reversed(option_specs()):
        flag = "--" + name.replace("_", "-")
        cpu = PRESETS["cpu"].get(name)
        shown = f"[default: {default}" + (f"; preset cpu: {cpu}" if cpu is not None else "") + "]"
        help_text = f"{FIELD_HELP.get(name, name)} {shown}"
        if scalar is bool:
            decorator = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
        elif is_list:
            decorator = click.option(flag, name, callback=_list_value(scalar), help=help_text)
        else:
            allowed = choices(name)
            kind = click.Choice(allowed) if allowed else scalar
            decorator = click.option(flag, name, type=kind, default=None, show_default=False, help=help_text)
        command = decorator(command)
    return command


@_generated_options
@click.command(context_settings={"show_default": True}, epilog=CONFIG_HELP)
@click.argument("dataset", type=PathType)
@click.option("-o", "--output", "run_dir", required=True, type=PathType, help="Run directory to create (or resume).")
@click.option("--preset", type=click.Choice(["auto", "cpu", "gpu", "paper"]), default="auto",
              help="Settings bundle: auto = cpu on a CPU, gpu on CUDA; paper = the published configuration.")
@click.option("--variant", type=click.Choice(["soft", "hard", "nomask", "seqonly", "signalprior"]),
              help="Model variant: Beta soft mask, hard mask, no mask, sequence only, or the signal prior alone "
                   "[default: the preset's; cpu: nomask, gpu/paper: soft].")
@click.option("--config", "config_file", type=PathType, help="TOML file with [model] and [training] settings.")
@click.option("--resume", is_flag=True, help="Continue the run in -o from its last.pt.")
@click.option("--force", is_flag=True, help="Overwrite the run files in an existing -o.")
@click.option("--dump-config", is_flag=True, help="Print the resolved configuration as TOML and exit.")
@click.pass_context
@threads_option()
def train(ctx: click.Context, dataset: Path, run_dir: Path, preset: str, variant: str | None,
          config_file: Path | None, resume: bool, force: bool, dump_config: bool,
          **options: Any) -> None:
    """Train Seq2Exp on a prepared DATASET; write model.pt (best validation MSE), last.pt,
    metrics.tsv and run.json into -o RUN_DIR.

    Runs on CPU, one GPU, or several under torchrun (see docs/distributed.md).
    """
    from seq2exp_cli.cli.options import command_line
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.train_run import finish_run_record, start_run
    from seq2exp_cli.train_settings import plan_toml, resolve_settings
    from seq2exp_cli.training import fit

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    data = PreparedDataset(dataset)
    plan = resolve_settings(data, preset=preset, config=config_file, variant=variant, values=options,
                            resume_from=run_dir if resume else None)
    if dump_config:
        click.echo(plan_toml(plan), nl=False)
        return
    start = start_run(data, run_dir, plan, resume=resume, force=force, motifs=plan.train_config.motif_source)
    _announce(data, plan)
    from seq2exp_cli.cli.progress import training_progress
    from seq2exp_cli.distributed import rank

    try:
        with training_progress() as progress:
            result = fit(data, start.run_dir, plan.model_config, plan.train_config, resume=resume,
                         command=command_line(ctx), progress=progress, model_factory=start.model_factory)
    finally:
        finish_run_record(start)
    run_dir = start.run_dir
    if rank() == 0:
        best = result.best_metrics
        summary = (f"best validation MSE {best['mse']:.4f} (Pearson {best['pearson']:.3f}) at step {result.best_step}"
                   if best else "no evaluation")
        click.echo(f"{run_dir}: {result.steps} steps{' (stopped early)' if result.stopped_early else ''}; {summary}",
                   err=True)


def _announce(data: Any, plan: Any) -> None:
    """The one line before training: preset, genes per split, length and time per epoch."""
    import logging

    from seq2exp_cli.distributed import rank
    from seq2exp_cli.train_setup import estimate_seconds, plan_line

    if rank() != 0 or plan.genes["train"]["labelled"] == 0 or plan.genes["valid"]["labelled"] == 0:
        return  # fit refuses such data with its own message
    logging.getLogger("seq2exp_cli.train").info("%s", plan_line(plan, estimate_seconds(data, plan)))
