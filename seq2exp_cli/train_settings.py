"""Where a training run's settings come from, as one core function: :func:`resolve_settings`
merges the dataclass defaults < the preset < a TOML file (or dict) < explicit values, exactly as
``seq2exp train`` does with its flags; on resume the settings stored in ``last.pt`` replace the
defaults and the preset (``train_setup.resolve_plan`` does the merge).

The table of settings (:func:`option_specs`) is read from the ``ModelConfig`` / ``TrainConfig``
dataclasses: the CLI's options, the TOML keys and ``--dump-config`` all come from it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from pathlib import Path
from typing import Any, NamedTuple

from seq2exp_cli.errors import InputError
from seq2exp_cli.train_setup import SettingsLayer, TrainPlan, resolve_plan

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
    "readout": "promoter: the paper's readout at the TSS; additive: every kept bin adds a contribution; "
               "factorized: activity (signals, distance) x gate (sequence) per bin; call-elements scores the "
               "last two per bin (docs/method.md).",
    "bin_head_stem": "With readout additive: each bin's contribution also reads the stem's motif features of the bin.",
    "stem": "Sequence stem: conv (one-hot convolution; Linear at R = 1) or kmer (a learned embedding per "
            "canonical k-mer, summed over each bin).",
    "kmer_size": "k of the k-mer stem (4**k embedding rows; a k-mer and its reverse complement share one).",
    "stem_neighbors": "The k-mer stem's convolution reaches this many bins on each side.",
    "kmer_l1": "L1 weight on the k-mer embedding rows (0 = off).",
    "motif_channels": "Fixed motif-scan channels beside the k-mer stem (2 per motif; set by --motifs).",
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
    "motifs": "Seed the stem's motif detectors: `denovo` (motifs discovered in the training windows' accessible "
              "DNA, written to motifs.meme), `jaspar` (the bundled JASPAR CORE vertebrates, offline), `jaspar:2024`, "
              "`jaspar:2024:CORE:plants`, a MEME file (its motifs most enriched in accessible bases fill the stem's "
              "capacity), or `none`. Needs --resolution > 1.",
}


class OptionSpec(NamedTuple):
    """One setting: its TOML table, dataclass field, scalar type, whether a list, and default."""

    table: str
    name: str
    scalar: Any
    is_list: bool
    default: Any


def _field_type(tp: Any) -> tuple[Any, bool]:
    """(scalar Python type, is_list) of a dataclass annotation (``X | None`` -> X)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return (args[0] if args else float), True
    if args and origin is not None:
        return _field_type(args[0])
    return tp, False


def choices(name: str) -> tuple[str, ...] | None:
    from seq2exp_cli.model.config import READOUTS, STEM_POOLS, STEMS

    return {"stem_pool": STEM_POOLS, "readout": READOUTS, "stem": STEMS}.get(name)


def option_specs() -> list[OptionSpec]:
    """Every setting a user may give, in dataclass order (model first, then training)."""
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
            specs.append(OptionSpec(table, f.name, scalar, is_list, defaults[f.name]))
    return specs


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


def plan_toml(plan: TrainPlan) -> str:
    """A resolved plan as the TOML ``--config`` reads back (``--dump-config``)."""
    model_dict = plan.model_config.to_dict()
    model_dict.pop("variant", None)
    return dump_toml(plan.variant, model_dict, plan.train_config.to_dict())


def config_layer(config: str | os.PathLike | dict[str, Any]) -> SettingsLayer:
    """A TOML file (path) or an already-parsed ``{"variant"?, "model", "training"}`` dict as a layer."""
    values = read_config_file(Path(config)) if not isinstance(config, dict) else config
    return SettingsLayer(values.get("variant"), dict(values.get("model", {})), dict(values.get("training", {})))


def resolve_settings(dataset: Any, *, preset: str = "auto", config: str | os.PathLike | dict | None = None,
                     variant: str | None = None, values: dict[str, Any] | None = None,
                     resume_from: str | os.PathLike | None = None) -> TrainPlan:
    """The settings of a run on ``dataset``: defaults < ``preset`` < ``config`` < ``variant``/``values``.

    ``values`` maps setting names (``ModelConfig`` or ``TrainConfig`` fields, e.g. ``{"lr": 1e-3,
    "d_model": 32}``) to values, as the command-line options do; ``resume_from`` (a run
    directory) puts the settings stored in its ``last.pt`` in place of the defaults and preset.
    Raises InputError for an unknown setting or a value the dataclasses refuse.
    """
    from seq2exp_cli.train_run import read_resume_configs

    layers = [config_layer(config)] if config is not None else []
    flags = SettingsLayer(variant)
    tables = {spec.name: spec.table for spec in option_specs()}
    for name, value in (values or {}).items():
        if name not in tables:
            raise InputError(f"{name}: not a training or model setting; see `seq2exp train --help`")
        if value is not None:
            (flags.model if tables[name] == "model" else flags.training)[name] = value
    layers.append(flags)
    stored = None
    if resume_from is not None:
        model_stored, train_stored = read_resume_configs(resume_from)
        stored = SettingsLayer(model_stored.get("variant"), model_stored, train_stored)
    source = str(config) if config is not None and not isinstance(config, dict) else "command line"
    return resolve_plan(dataset, preset, layers, stored, source=source)
