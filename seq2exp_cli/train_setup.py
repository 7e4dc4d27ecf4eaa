"""Resolve a training run's settings and estimate its cost, before ``training.fit`` runs.

Layers, lowest first: the dataclass defaults, the preset (``presets.py``), the ``--config``
TOML, the command-line values. With ``resume`` the settings stored in ``last.pt`` replace the
defaults and the preset. The preset's length rule (epochs sized to the number of training genes)
applies only when neither the TOML nor the command line sets ``epochs`` or ``max_steps``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seq2exp_cli.errors import InputError

log = logging.getLogger(__name__)

LENGTH_SETTINGS = ("epochs", "max_steps")


@dataclass
class SettingsLayer:
    """One layer of settings: an optional variant and ``model`` / ``training`` tables."""

    variant: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainPlan:
    """The resolved run: configs, the preset used (None on resume) and the genes per split."""

    variant: str
    model_config: Any
    train_config: Any
    preset: str | None
    genes: dict[str, dict[str, int]]
    sized: dict[str, int] = field(default_factory=dict)

    @property
    def steps_per_epoch(self) -> int:
        from seq2exp_cli.distributed import world_size

        batch = self.train_config.batch_size * world_size()
        return max(1, -(-self.genes["train"]["labelled"] // batch))

    @property
    def total_steps(self) -> int:
        epochs = self.train_config.epochs
        return epochs * self.steps_per_epoch if epochs else self.train_config.max_steps


def genes_per_split(dataset: Any) -> dict[str, dict[str, int]]:
    """``{split: {"genes": n, "labelled": n}}`` for train, valid and test."""
    out = {}
    for split in ("train", "valid", "test"):
        idx = dataset.indices(split)
        out[split] = {"genes": int(len(idx)), "labelled": int(len(dataset.labelled(idx)))}
    return out


def resolve_plan(dataset: Any, preset: str = "auto", layers: list[SettingsLayer] | None = None,
                 stored: SettingsLayer | None = None, source: str = "command line") -> TrainPlan:
    """Merge defaults < preset < ``layers`` (TOML, then flags), or ``stored`` < ``layers`` on resume."""
    from seq2exp_cli.distributed import resolve_device, world_size
    from seq2exp_cli.model.config import ModelConfig, recommended_resolution
    from seq2exp_cli.presets import sized_length, split_preset
    from seq2exp_cli.train_config import TrainConfig

    layers = layers or []
    user_training: dict[str, Any] = {}
    for layer in layers:
        user_training.update(layer.training)
    genes = genes_per_split(dataset)
    preset_name = None
    sized: dict[str, int] = {}
    if stored is not None:
        variant = stored.variant or "soft"
        model_values, train_values = dict(stored.model), dict(stored.training)
    else:
        device = user_training.get("device", TrainConfig().device)
        chosen = split_preset(preset, resolve_device(device).type)
        preset_name, variant = chosen.name, chosen.variant
        model_values = dict(chosen.model)
        train_values = {**TrainConfig().to_dict(), **chosen.training}
        if not any(key in user_training for key in LENGTH_SETTINGS):
            batch = int(user_training.get("batch_size", train_values["batch_size"])) * world_size()
            sized = sized_length(chosen.length, genes["train"]["labelled"], batch)
            sized = {k: v for k, v in sized.items() if k not in user_training}
            train_values.update(sized)
    for layer in layers:
        variant = layer.variant or variant
        model_values.update(layer.model)
        train_values.update(layer.training)
    if "epochs" in user_training or "max_steps" in user_training:
        # an explicit length wins over the other kind left from a lower layer
        if "max_steps" in user_training and "epochs" not in user_training:
            train_values["epochs"] = None
    train_config = TrainConfig.from_dict(train_values, source=source)
    if stored is None and "resolution" not in model_values:
        model_values["resolution"] = recommended_resolution(resolve_device(train_config.device).type)
    try:
        if stored is not None:
            model_values["variant"] = variant
            model_config = ModelConfig.from_dict(model_values)
        else:
            model_config = ModelConfig.for_data(dataset.data_config(), variant, **model_values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: model settings not accepted ({exc}); see `seq2exp train --help`") from None
    return TrainPlan(variant, model_config, train_config, preset_name, genes, sized)


def estimate_seconds(dataset: Any, plan: TrainPlan, repeats: int = 2) -> dict[str, float]:
    """Measured seconds per training step and per validation gene, and the estimate per epoch.

    Times ``repeats`` forward + backward passes of one batch of training genes (after one
    untimed pass), and one forward pass without gradients, on a throw-away model; the estimate
    per epoch is ``steps_per_epoch * step + evaluations per epoch * valid genes * per-gene``.
    """
    import torch

    from seq2exp_cli.dataset import GeneWindows, collate_windows
    from seq2exp_cli.distributed import autocast, resolve_device
    from seq2exp_cli.model.seq2exp import Seq2Exp

    device = resolve_device(plan.train_config.device)
    train_idx = dataset.labelled(dataset.indices("train"))
    if len(train_idx) == 0:
        return {}
    batch_size = plan.train_config.batch_size
    rows = np.resize(train_idx, batch_size)
    windows = GeneWindows(dataset, rows)
    batch = collate_windows([windows[k] for k in range(len(rows))])
    batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
    rng_state = torch.random.get_rng_state()
    model = Seq2Exp(plan.model_config).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step() -> None:
        with autocast(device):
            output = model(batch["seq"], batch["signals"].float(), batch["features"], batch["blacklist"])
        output.prediction.float().sum().backward()

    step()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    sync()
    step_s = (time.perf_counter() - t0) / repeats
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad(), autocast(device):
        model(batch["seq"], batch["signals"].float(), batch["features"], batch["blacklist"])
    sync()
    gene_s = (time.perf_counter() - t0) / batch_size
    torch.random.set_rng_state(rng_state)
    steps = plan.steps_per_epoch
    evals_per_epoch = steps / max(1, plan.train_config.eval_every)
    n_valid = plan.genes["valid"]["labelled"]
    epoch_s = steps * step_s + evals_per_epoch * n_valid * gene_s
    return {"step_s": step_s, "valid_gene_s": gene_s, "epoch_s": epoch_s}


def plan_line(plan: TrainPlan, estimate: dict[str, float]) -> str:
    """One line: preset and its main settings, genes per split, length, time per epoch."""
    mc, tc = plan.model_config, plan.train_config
    preset = f"preset {plan.preset}" if plan.preset else "resumed settings"
    genes = ", ".join(f"{s} {v['labelled']}/{v['genes']}" for s, v in plan.genes.items())
    length = (f"{tc.epochs} epochs x {plan.steps_per_epoch} steps" if tc.epochs else f"{tc.max_steps} steps")
    if tc.patience:
        length += f", early stop after {tc.patience} evaluations without a better validation MSE"
    text = (f"{preset}: {plan.variant}, resolution {mc.resolution}, d_model {mc.d_model} x {mc.n_layers} layers, "
            f"readout {mc.readout}, lr {tc.lr:g}, batch {tc.batch_size}; labelled/all genes: {genes}; {length}")
    if estimate:
        epoch_s = estimate["epoch_s"]
        total = epoch_s * plan.total_steps / plan.steps_per_epoch
        text += (f"; about {_duration(epoch_s)} per epoch ({estimate['step_s']:.2f} s per step), "
                 f"at most {_duration(total)} in all")
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
