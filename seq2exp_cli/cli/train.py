"""``seq2exp train``: parse and validate options, resolve the configuration, call ``training.fit``.

Configuration precedence (lowest first): built-in defaults (the reference recipe), the
``--config`` TOML file, then options given on the command line. With ``--resume`` the
settings stored in ``last.pt`` replace the built-in defaults, so ``seq2exp train DATA -o RUN
--resume`` continues a run with exactly its own settings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

from seq2exp_cli.cli.options import threads_option
from seq2exp_cli.errors import InputError

PathType = click.Path(path_type=Path)

# command-line option -> (table, key) in the configuration
_OPTION_KEYS = {
    "max_steps": ("training", "max_steps"), "epochs": ("training", "epochs"),
    "batch_size": ("training", "batch_size"), "device": ("training", "device"),
    "seed": ("training", "seed"), "num_workers": ("training", "num_workers"),
    "patience": ("training", "patience"), "eval_every": ("training", "eval_every"),
    "checkpoint_every": ("training", "checkpoint_every"), "lr": ("training", "lr"),
    "resolution": ("model", "resolution"), "d_model": ("model", "d_model"), "n_layers": ("model", "n_layers"),
    "readout": ("model", "readout"), "bin_head_stem": ("model", "bin_head_stem"),
}

CONFIG_HELP = """\b
Configuration file (--config FILE.toml), every key optional:
  variant = "soft"                 # soft|hard|nomask|seqonly|signalprior
  [model]                          # any ModelConfig field, e.g.
  d_model = 128                    # width of both Mamba stacks
  n_layers = 4                     # layers per stack
  resolution = 100                 # R: bp per model position (1 on CUDA, 100 on CPU)
  readout = "promoter"             # promoter (the paper) | additive (sum of per-bin contributions)
  bin_head_stem = false            # additive: a bin's contribution also reads its own motif features
  stem_pool = "mean"               # mean | max: how an R > 1 bin pools its motif detectors
  [training]
  lr = 5e-4                        # AdamW peak learning rate
  min_lr = 1e-4                    # cosine floor reached at max_steps
  betas = [0.9, 0.95]
  weight_decay = 1e-6              # none on biases, norms, A_log, D
  warmup_steps = 5000              # linear warm-up ...
  warmup_fraction = 0.1            # ... capped at this share of max_steps
  max_steps = 50000
  epochs = 10                      # replaces max_steps when set
  batch_size = 8                   # genes per process per step
  eval_batch_size = 8              # default: batch_size
  grad_clip = 1.0
  ema_decay = 0.0                  # > 0: validate and save a moving average of the weights
  max_shift = 0                    # > 0: shift training windows by up to this many bp
  seed = 2222
  num_workers = 0
  patience = 5                     # evaluations without a better valid MSE
  eval_every = 1000                # steps
  checkpoint_every = 1000          # steps (last.pt)
  device = "auto"
Run `seq2exp train DATA -o RUN --dump-config` to print the resolved settings.
"""


def read_config_file(path: Path) -> dict[str, Any]:
    """``{"variant"?, "model": {...}, "training": {...}}`` from a TOML file; unknown tables raise."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(f"{path}: configuration file not found; check the --config path") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc}); fix the file (see `seq2exp train --help`)") from None
    unknown = sorted(set(data) - {"variant", "model", "training"})
    if unknown:
        raise InputError(f"{path}: unknown top-level key(s) {unknown}; use variant, [model] and [training]")
    for table in ("model", "training"):
        if not isinstance(data.get(table, {}), dict):
            raise InputError(f"{path}: `{table}` must be a table ([{table}]); see `seq2exp train --help`")
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def dump_toml(variant: str, model: dict[str, Any], training: dict[str, Any]) -> str:
    """The resolved configuration as TOML (``None`` values are left out: TOML has no null)."""
    lines = [f"variant = {_toml_value(variant)}", "", "[model]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in model.items() if v is not None]
    lines += ["", "[training]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in training.items() if v is not None]
    return "\n".join(lines) + "\n"


@click.command(context_settings={"show_default": True}, epilog=CONFIG_HELP)
@click.argument("dataset", type=PathType)
@click.option("-o", "--output", "run_dir", required=True, type=PathType, help="Run directory to create (or resume).")
@click.option("--variant", type=click.Choice(["soft", "hard", "nomask", "seqonly", "signalprior"]), default="soft",
              help="Model variant: Beta soft mask, hard mask, no mask, sequence only, or the signal prior alone.")
@click.option("--config", "config_file", type=PathType, help="TOML file with [model] and [training] settings.")
@click.option("--max-steps", type=int, default=50_000, help="Optimiser steps (the schedule ends here).")
@click.option("--epochs", type=int, help="Train for this many passes over the train genes instead of --max-steps.")
@click.option("--batch-size", type=int, default=8, help="Genes per step per process (global batch = this x processes).")
@click.option("--lr", type=float, default=5e-4, help="Peak learning rate (AdamW).")
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N (bf16 autocast on CUDA).")
@click.option("--seed", type=int, default=2222, help="Seed for weights, data order and mask samples.")
@click.option("--num-workers", type=int, default=0, help="DataLoader worker processes.")
@click.option("--patience", type=int, help="Stop after this many evaluations without a better validation MSE.")
@click.option("--eval-every", type=int, default=1000, help="Evaluate on the valid split every N steps.")
@click.option("--checkpoint-every", type=int, default=1000, help="Write last.pt every N steps (and at each evaluation).")
@click.option("--resolution", type=int, help="R: bp per model position (default: 1 on CUDA, 100 on CPU).")
@click.option("--d-model", type=int, help="Model width (default 128).")
@click.option("--n-layers", type=int, help="Mamba layers per stack (default 4).")
@click.option("--readout", type=click.Choice(["promoter", "additive"]),
              help="promoter: the paper's readout at the TSS (default); additive: every kept bin adds a "
                   "contribution, which call-elements can then score (see docs/method.md).")
@click.option("--bin-head-stem", is_flag=True, default=None,
              help="With --readout additive: each bin's contribution also reads the stem's motif features "
                   "of that bin, not only the Mamba output there (learns from few genes much faster).")
@click.option("--motifs", "motifs_file", type=PathType,
              help="MEME-format motif file (e.g. JASPAR's): start the stem's motif detectors from these "
                   "PWMs, both strands (needs --resolution > 1 and d_model >= 2 x motifs).")
@click.option("--resume", is_flag=True, help="Continue the run in -o from its last.pt.")
@click.option("--force", is_flag=True, help="Overwrite the run files in an existing -o.")
@click.option("--dump-config", is_flag=True, help="Print the resolved configuration as TOML and exit.")
@click.pass_context
@threads_option()
def train(ctx: click.Context, dataset: Path, run_dir: Path, variant: str, config_file: Path | None,
          motifs_file: Path | None, resume: bool, force: bool, dump_config: bool, **options: Any) -> None:
    """Train Seq2Exp on a prepared DATASET; write model.pt (best validation MSE), last.pt,
    metrics.tsv and run.json into -o RUN_DIR.

    Runs on CPU, one GPU, or several under torchrun (see docs/distributed.md).
    """
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.cli.options import command_line
    from seq2exp_cli.inference import resolve_device
    from seq2exp_cli.model.config import ModelConfig, recommended_resolution
    from seq2exp_cli.training import TrainConfig, fit, prepare_run_dir, read_resume_configs

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    data = PreparedDataset(dataset)

    # layer 1: defaults (fresh run) or the stored settings (resume)
    model_values: dict[str, Any] = {}
    train_values: dict[str, Any] = {}
    if resume:
        model_stored, train_values = read_resume_configs(run_dir)
        variant_source = ctx.get_parameter_source("variant")
        if variant_source == click.core.ParameterSource.DEFAULT:
            variant = model_stored.get("variant", variant)
        model_values = dict(model_stored)
    else:
        train_values = {k: v for k, v in TrainConfig().to_dict().items()}
    # layer 2: the TOML file
    if config_file is not None:
        file_values = read_config_file(config_file)
        if "variant" in file_values and ctx.get_parameter_source("variant") == click.core.ParameterSource.DEFAULT:
            variant = file_values["variant"]
        model_values.update(file_values.get("model", {}))
        train_values.update(file_values.get("training", {}))
    # layer 3: options given on the command line (defaults only fill what nothing else set)
    for name, (table, key) in _OPTION_KEYS.items():
        value = options[name]
        explicit = ctx.get_parameter_source(name) not in (
            click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)
        if explicit and value is not None:
            (model_values if table == "model" else train_values)[key] = value
    if resume and "variant" in model_values:
        model_values["variant"] = variant  # an explicit, different --variant is then refused by fit

    source = str(config_file) if config_file else "command line"
    train_config = TrainConfig.from_dict(train_values, source=source)
    if not resume and "resolution" not in model_values:
        # R = 1 is the paper's model; on CPU a 200-kb window at 1 bp takes minutes per step
        model_values["resolution"] = recommended_resolution(resolve_device(train_config.device).type)
    try:
        if resume:
            model_config = ModelConfig.from_dict(model_values)
        else:
            model_config = ModelConfig.for_data(data.data_config(), variant, **model_values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: model settings not accepted ({exc}); see `seq2exp train --help`") from None
    if dump_config:
        model_dict = model_config.to_dict()
        model_dict.pop("variant", None)
        click.echo(dump_toml(variant, model_dict, train_config.to_dict()), nl=False)
        return

    model_factory = None
    if motifs_file is not None and not resume:  # on resume the weights come from last.pt
        from seq2exp_cli.io.motifs import read_meme
        from seq2exp_cli.model.motif_init import check_stem_fits, seeded_model_factory

        motifs, background = read_meme(motifs_file)
        check_stem_fits(model_config, len(motifs), str(motifs_file))
        model_factory = seeded_model_factory(motifs, background, str(motifs_file))
    run_dir = prepare_run_dir(run_dir, force=force, resume=resume)
    command = command_line(ctx)
    with _progress_bar() as progress:
        result = fit(data, run_dir, model_config, train_config, resume=resume, command=command, progress=progress,
                     model_factory=model_factory)
    from seq2exp_cli.inference import rank

    if rank() == 0:
        best = result.best_metrics
        summary = (f"best validation MSE {best['mse']:.4f} (Pearson {best['pearson']:.3f}) at step {result.best_step}"
                   if best else "no evaluation")
        click.echo(f"{run_dir}: {result.steps} steps{' (stopped early)' if result.stopped_early else ''}; {summary}",
                   err=True)


class _progress_bar:
    """Rich progress on stderr (step, loss, lr, genes/s, ETA); silent when stderr is not a terminal."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        console = Console(stderr=True)
        self.enabled = console.is_terminal
        if not self.enabled:
            return None
        self.bar = Progress(
            TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        )
        self.bar.start()
        self.task = None
        self.val = ""
        return self.update

    def update(self, info: dict[str, Any]) -> None:
        if self.task is None:
            self.task = self.bar.add_task("train", total=info["max_steps"], info="")
        if "val_mse" in info:
            self.val = f" val {info['val_mse']:.4f}"
            return
        text = f"loss {info['loss']:.4f} lr {info['lr']:.2e} {info['genes_per_s']:.2f} genes/s{self.val}"
        self.bar.update(self.task, completed=info["step"], info=text)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.stop()
