"""The typed state of a training run: where it stands (:class:`TrainState`, what ``last.pt``
stores besides weights and RNG streams), its sizes (:class:`Sizes`) and the objects it trains
with (:class:`Session`). The steps that change them live in ``training``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seq2exp_cli.distributed import rank
from seq2exp_cli.metrics import MetricsLog
from seq2exp_cli.train_config import TrainConfig
from seq2exp_cli.train_optim import WarmupCosine, WeightAverage


def zero_sums() -> dict[str, float]:
    return {"loss": 0.0, "pred": 0.0, "kl": 0.0, "n": 0}


@dataclass
class TrainState:
    """Where a run stands: everything ``last.pt`` stores besides the weights and RNG streams."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: float = math.inf
    best_step: int = -1
    bad_evals: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False
    elapsed_before: float = 0.0
    sums: dict[str, float] = field(default_factory=zero_sums)  # running train-loss sums since the last evaluation


@dataclass
class Sizes:
    """The training genes, the validation genes and the step counts derived from them."""

    train_idx: np.ndarray
    valid_idx: np.ndarray
    global_batch: int
    steps_per_epoch: int
    max_steps: int
    eval_batch: int


@dataclass
class Session:
    """The objects one :func:`fit` call trains with (the same on every rank but ``rank``)."""

    dataset: Any
    run_dir: Path
    cfg: TrainConfig
    device: torch.device
    model_config: Any
    model: torch.nn.Module
    ema: WeightAverage | None
    optimizer: torch.optim.Optimizer
    schedule: WarmupCosine
    loss_fn: Callable[[Any, torch.Tensor], tuple[torch.Tensor, dict]]
    metrics_log: MetricsLog
    t_start: float
    model_dict: dict[str, Any] = field(default_factory=dict)  # model_config.to_dict()
    data_config: dict[str, Any] = field(default_factory=dict)  # dataset.data_config()
    net: torch.nn.Module | None = None  # the model, wrapped in DDP under torchrun

    @property
    def is_main(self) -> bool:
        return rank() == 0

    @property
    def validated(self) -> torch.nn.Module:
        """The weights validated and kept as model.pt: the averaged ones with ``ema_decay``."""
        return self.ema.model if self.ema is not None else self.net

    @property
    def kept(self) -> torch.nn.Module:
        return self.ema.model if self.ema is not None else self.model
