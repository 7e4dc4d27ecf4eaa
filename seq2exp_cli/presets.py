"""Training presets: named bundles of ModelConfig and TrainConfig values, as data.

A preset sits between the dataclass defaults and the user's own settings (defaults < preset <
``--config`` TOML < command-line flags). Each preset is one flat dict below: keys that are
``ModelConfig`` fields go to the model, ``TrainConfig`` fields to training, ``variant`` picks the
variant, and the length keys (:data:`LENGTH_KEYS`) size training to the dataset:

``target_steps``
    about this many optimiser steps in all; the epochs are ``target_steps / steps_per_epoch``
    rounded, kept within ``min_epochs`` .. ``max_epochs``.
``eval_per_epoch``
    validation runs this many times per epoch (and ``patience`` counts those evaluations).

``auto`` resolves to ``cpu`` on a CPU and ``gpu`` on CUDA. ``paper`` is the published
configuration exactly (the dataclass defaults at resolution 1, 50,000 steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from seq2exp_cli.errors import InputError

#: CPU: the model that learns elements from the sequence without a motif database (k-mer stem,
#: factorized readout, no mask, motif channels seeded de novo from the data's accessible DNA;
#: docs/method.md and benchmarks/results/bench_accuracy_medium.md), one small layer at 200-bp bins
CPU: dict[str, Any] = {
    "variant": "nomask", "stem": "kmer", "kmer_size": 6, "readout": "factorized", "motifs": "denovo",
    "resolution": 200, "d_model": 32, "n_layers": 1, "d_state": 8, "expand": 1,
    "lr": 3e-3, "min_lr": 3e-4, "batch_size": 16,
    "target_steps": 1000, "min_epochs": 4, "max_epochs": 30, "eval_per_epoch": 1, "patience": 5,
}
#: one GPU: the paper's model at the paper's resolution (1 bp), length sized to the dataset
GPU: dict[str, Any] = {
    "variant": "soft", "resolution": 1,
    "target_steps": 50_000, "min_epochs": 2, "max_epochs": 200, "eval_per_epoch": 1, "patience": 10,
}
#: the published configuration: the dataclass defaults, at resolution 1
PAPER: dict[str, Any] = {"variant": "soft", "resolution": 1}

PRESETS: dict[str, dict[str, Any]] = {"cpu": CPU, "gpu": GPU, "paper": PAPER}
PRESET_NAMES = ("auto", *PRESETS)
LENGTH_KEYS = ("target_steps", "min_epochs", "max_epochs", "eval_per_epoch")


@dataclass
class ResolvedPreset:
    """A preset split into its tables: ``model`` and ``training`` values and the length rule."""

    name: str
    variant: str
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    length: dict[str, Any] = field(default_factory=dict)


def resolve_name(name: str, device_type: str) -> str:
    """``auto`` -> ``gpu`` on CUDA, ``cpu`` otherwise; other names are returned checked."""
    if name == "auto":
        return "gpu" if device_type.startswith("cuda") else "cpu"
    if name not in PRESETS:
        raise InputError(f"--preset {name!r} unknown; use one of {', '.join(PRESET_NAMES)}")
    return name


def split_preset(name: str, device_type: str = "cpu") -> ResolvedPreset:
    """The named preset (``auto`` resolved for ``device_type``) split into model/training/length."""
    import dataclasses

    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.train_config import TrainConfig

    name = resolve_name(name, device_type)
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    resolved = ResolvedPreset(name, "soft")
    for key, value in PRESETS[name].items():
        if key == "variant":
            resolved.variant = value
        elif key in LENGTH_KEYS:
            resolved.length[key] = value
        elif key in model_keys:
            resolved.model[key] = value
        elif key in train_keys:
            resolved.training[key] = value
        else:  # a typo in the table above
            raise KeyError(f"preset {name!r}: {key!r} is neither a model nor a training setting")
    return resolved


def preset_values(name: str) -> dict[str, Any]:
    """A copy of the flat preset dict (for recipes built on top of a preset)."""
    return dict(PRESETS[resolve_name(name, "cpu")])


def sized_length(length: dict[str, Any], n_train: int, global_batch: int) -> dict[str, int]:
    """Training values (``epochs``, ``eval_every``, ``checkpoint_every``) from the length rule for
    ``n_train`` labelled training genes; empty when the preset has no length rule."""
    if not length:
        return {}
    steps_per_epoch = max(1, math.ceil(n_train / global_batch))
    epochs = round(length.get("target_steps", steps_per_epoch) / steps_per_epoch)
    epochs = int(min(max(epochs, length.get("min_epochs", 1)), length.get("max_epochs", 10**9)))
    every = max(1, steps_per_epoch // int(length.get("eval_per_epoch", 1)))
    return {"epochs": epochs, "eval_every": every, "checkpoint_every": every}
