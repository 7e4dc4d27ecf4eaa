"""``seq2exp train``: parse options, resolve the settings (``train_setup``), call ``training.fit``.

Settings, lowest first: the dataclass defaults, ``--preset`` (``presets.py``; ``auto`` = ``cpu``
on a CPU, ``gpu`` on CUDA), the ``--config`` TOML file, then options given on the command line.
One option per ``ModelConfig`` / ``TrainConfig`` field is generated from the dataclasses. With
``--resume`` the settings stored in ``last.pt`` replace the defaults and the preset.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from pathlib import Path
from typing import Any

import click

from seq2exp_cli.cli.options import threads_option
from seq2exp_cli.errors import InputError

PathType = click.Path(path_type=Path)

#: ModelConfig fields that come from the dataset (or are derived), so they have no option
DATA_FIELDS = frozenset({"variant", "window", "signal_names", "feature_names", "n_features"})

FIELD_HELP = {
    "resolution": "R: bp per model position (1 = the paper's per-bp model).",
    "d_model": "Model width (both Mamba stacks; the stem has this many motif filters).",
    "n_layers": "Mamba layers per stack.",
    "d_state": "SSM state size per channel.",
    "d_conv": "Width of the Mamba block's causal convolution.",
    "expand": "Mamba inner width = expand x d_model.",
    "promoter_bp": "Central bases read by the promoter readout.",
    "beta_min": "Beta mask: floor added to both concentrations.",
    "prior_scale": "Beta mask: total pseudo-count of the signal prior.",
    "prior_weights": "Signal prior weight per track (comma list, in track order).",
    "prior_offsets": "Signal prior offset per track (comma list, in track order).",
    "mu": "Marginal Beta mean of the mask (KL target).",
    "sigma": "Marginal Beta concentration of the mask (KL target).",
    "kl_weight": "Weight of the KL term in the loss.",
    "mlp_hidden": "Hidden width of the prediction head.",
    "hard_threshold": "Hard variant: the mask's keep threshold.",
    "stem_kernel": "Width (bp) of the R > 1 stem's one-hot convolution (motif detectors).",
    "stem_pool": "How the R > 1 stem pools its motif detectors into a bin.",
    "readout": "promoter: the paper's readout at the TSS; additive: every kept bin adds a contribution, "
               "which call-elements can then score (docs/method.md).",
    "bin_head_stem": "With readout additive: each bin's contribution also reads the stem's motif features of the bin.",
    "blacklist_bin_fraction": "A bin counts as blacklisted above this fraction of blacklisted bases.",
    "generator_signals": "Feed the soft mask generator the signals as well as the DNA.",
    "min_concentration": "Floor on the Beta parameters.",
    "rms_eps": "RMSNorm epsilon.",
    "lr": "Peak learning rate (AdamW).",
    "min_lr": "Learning rate at the end of the cosine decay.",
    "betas": "AdamW betas (two comma-separated numbers).",
    "weight_decay": "AdamW weight decay (none on biases, norms, A_log, D).",
    "warmup_steps": "Linear warm-up steps (capped at warmup_fraction of the run).",
    "warmup_fraction": "Largest share of the run spent warming up.",
    "max_steps": "Optimiser steps (the schedule ends here); given alone, replaces the preset's epochs.",
    "epochs": "Passes over the train genes (replaces --max-steps); presets size it to the dataset.",
    "batch_size": "Genes per step per process (global batch = this x processes).",
    "eval_batch_size": "Genes per validation batch (default: --batch-size).",
    "grad_clip": "Gradient-norm clip (0 = off).",
    "seed": "Seed for weights, data order and mask samples.",
    "num_workers": "DataLoader worker processes.",
    "patience": "Stop after this many evaluations without a better validation MSE.",
    "eval_every": "Evaluate on the valid split every N steps (presets: once per epoch).",
    "checkpoint_every": "Write last.pt every N steps (and at each evaluation).",
    "device": "auto, cpu, cuda or cuda:N (bf16 autocast on CUDA).",
    "ema_decay": "Keep an exponential moving average of the weights (0 = off).",
    "max_shift": "Shift each training window by up to this many bases (0 = off).",
}

CONFIG_HELP = """\b
Settings, lowest first: dataclass defaults < --preset < --config FILE.toml < options.
The TOML file has every key optional: `variant = "hard"`, a [model] table (the --model options
below, in snake_case, e.g. d_state = 8) and a [training] table (the training options, e.g.
min_lr = 6e-4, warmup_steps = 100). `--dump-config` prints the resolved settings as TOML.
Presets: cpu (small model, 200-bp bins, epochs sized to the dataset, early stopping), gpu (the
paper's model at 1 bp, epochs sized to the dataset), paper (the published configuration).
"""


def _field_type(tp: Any) -> tuple[Any, bool]:
    """(scalar Python type, is_list) of a dataclass annotation (``X | None`` -> X)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return (args[0] if args else float), True
    if args and origin is not None:
        return _field_type(args[0])
    return tp, False


def _choices(name: str) -> tuple[str, ...] | None:
    from seq2exp_cli.model.config import READOUTS, STEM_POOLS

    return {"stem_pool": STEM_POOLS, "readout": READOUTS}.get(name)


def _option_specs() -> list[tuple[str, str, Any, bool, Any]]:
    """(table, field, scalar type, is_list, dataclass default) for every generated option."""
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.train_config import TrainConfig

    specs = []
    for table, cls in (("model", ModelConfig), ("training", TrainConfig)):
        hints = typing.get_type_hints(cls)
        defaults = cls().to_dict()
        for f in dataclasses.fields(cls):
            if table == "model" and f.name in DATA_FIELDS:
                continue
            scalar, is_list = _field_type(hints[f.name])
            specs.append((table, f.name, scalar, is_list, defaults[f.name]))
    return specs


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

    for table, name, scalar, is_list, default in reversed(_option_specs()):
        flag = "--" + name.replace("_", "-")
        cpu = PRESETS["cpu"].get(name)
        shown = f"[default: {default}" + (f"; preset cpu: {cpu}" if cpu is not None else "") + "]"
        help_text = f"{FIELD_HELP.get(name, name)} {shown}"
        if scalar is bool:
            decorator = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
        elif is_list:
            decorator = click.option(flag, name, callback=_list_value(scalar), help=help_text)
        else:
            choices = _choices(name)
            kind = click.Choice(choices) if choices else scalar
            decorator = click.option(flag, name, type=kind, default=None, show_default=False, help=help_text)
        command = decorator(command)
    return command


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


@_generated_options
@click.command(context_settings={"show_default": True}, epilog=CONFIG_HELP)
@click.argument("dataset", type=PathType)
@click.option("-o", "--output", "run_dir", required=True, type=PathType, help="Run directory to create (or resume).")
@click.option("--preset", type=click.Choice(["auto", "cpu", "gpu", "paper"]), default="auto",
              help="Settings bundle: auto = cpu on a CPU, gpu on CUDA; paper = the published configuration.")
@click.option("--variant", type=click.Choice(["soft", "hard", "nomask", "seqonly", "signalprior"]),
              help="Model variant: Beta soft mask, hard mask, no mask, sequence only, or the signal prior alone "
                   "[default: the preset's; cpu: hard, gpu/paper: soft].")
@click.option("--config", "config_file", type=PathType, help="TOML file with [model] and [training] settings.")
@click.option("--motifs", "motifs_spec",
              help="Seed the stem's motif detectors: `jaspar` (the bundled JASPAR CORE vertebrates, offline), "
                   "`jaspar:2024`, `jaspar:2024:CORE:plants`, or a MEME file; the motifs most enriched in the "
                   "training windows' accessible bases fill d_model/2 filters (needs --resolution > 1).")
@click.option("--resume", is_flag=True, help="Continue the run in -o from its last.pt.")
@click.option("--force", is_flag=True, help="Overwrite the run files in an existing -o.")
@click.option("--dump-config", is_flag=True, help="Print the resolved configuration as TOML and exit.")
@click.pass_context
@threads_option()
def train(ctx: click.Context, dataset: Path, run_dir: Path, preset: str, variant: str | None,
          config_file: Path | None, motifs_spec: str | None, resume: bool, force: bool, dump_config: bool,
          **options: Any) -> None:
    """Train Seq2Exp on a prepared DATASET; write model.pt (best validation MSE), last.pt,
    metrics.tsv and run.json into -o RUN_DIR.

    Runs on CPU, one GPU, or several under torchrun (see docs/distributed.md).
    """
    from seq2exp_cli.cli.options import command_line
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.train_run import prepare_run_dir, read_resume_configs
    from seq2exp_cli.training import fit
    from seq2exp_cli.train_setup import SettingsLayer, resolve_plan

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    data = PreparedDataset(dataset)
    layers = []
    if config_file is not None:
        values = read_config_file(config_file)
        layers.append(SettingsLayer(values.get("variant"), dict(values.get("model", {})),
                                    dict(values.get("training", {}))))
    flags = SettingsLayer(variant)
    for table, name, *_ in _option_specs():
        if options.get(name) is not None:
            (flags.model if table == "model" else flags.training)[name] = options[name]
    layers.append(flags)
    stored = None
    if resume:
        model_stored, train_stored = read_resume_configs(run_dir)
        stored = SettingsLayer(model_stored.get("variant"), model_stored, train_stored)
    plan = resolve_plan(data, preset, layers, stored, source=str(config_file) if config_file else "command line")
    if dump_config:
        model_dict = plan.model_config.to_dict()
        model_dict.pop("variant", None)
        click.echo(dump_toml(plan.variant, model_dict, plan.train_config.to_dict()), nl=False)
        return
    from seq2exp_cli.distributed import resolve_device

    resolve_device(plan.train_config.device)  # a device mistake is reported before -o is created
    motif_record, model_factory = None, None
    if motifs_spec is not None and not resume:  # on resume the weights come from last.pt
        motif_record, model_factory = _motif_seeding(motifs_spec, data, plan.model_config)
    run_dir = prepare_run_dir(run_dir, force=force, resume=resume)
    _announce(data, plan)
    from seq2exp_cli.cli.progress import training_progress
    from seq2exp_cli.distributed import rank

    extra = {"preset": plan.preset, "sized_by_preset": plan.sized, "motifs": motif_record}
    if resume:  # fit rewrites run.json; keep what the first session recorded
        extra = _kept_from_run_record(run_dir / "run.json", list(extra))
    try:
        with training_progress() as progress:
            result = fit(data, run_dir, plan.model_config, plan.train_config, resume=resume,
                         command=command_line(ctx), progress=progress, model_factory=model_factory)
    finally:
        if rank() == 0:
            _add_to_run_record(run_dir / "run.json", extra)
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


def _motif_seeding(spec: str, data: Any, model_config: Any) -> tuple[dict[str, Any], Any]:
    """Load the motifs, choose those that seed the stem, and return (record, model factory)."""
    from seq2exp_cli.io.motifs import load_motifs
    from seq2exp_cli.model.motif_init import (
        check_stem_fits,
        choose_motifs,
        fit_motif_channels,
        seeded_model_factory,
    )

    motifs, background, source = load_motifs(spec)
    check_stem_fits(model_config, 1, source)
    chosen, record = choose_motifs(motifs, background, data, model_config, source)
    fit_motif_channels(model_config, len(chosen))
    return record, seeded_model_factory(chosen, background, source)


def _kept_from_run_record(path: Path, keys: list[str]) -> dict[str, Any]:
    """The values of ``keys`` in an existing run.json (empty when there is none)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: record[k] for k in keys if k in record}


def _add_to_run_record(path: Path, extra: dict[str, Any]) -> None:
    """Merge ``extra`` into run.json (written by fit) when it is there."""
    from seq2exp_cli.io.atomic import atomic_path

    if not path.is_file():
        return
    record = json.loads(path.read_text())
    record.update({k: v for k, v in extra.items() if v is not None and v != {}})
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2, default=str) + "\n")
