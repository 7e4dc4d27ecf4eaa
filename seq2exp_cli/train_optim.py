"""The optimiser's pieces: AdamW parameter groups, the warm-up + cosine schedule, and the
exponential moving average of the weights."""

from __future__ import annotations

import math
from typing import Any

import torch

from seq2exp_cli.train_config import TrainConfig

#: parameter names (last dotted component) that never get weight decay: SSM parameters
NO_DECAY_NAMES = frozenset({"A_log", "D"})


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: decayed weights, and the rest (biases, norms, ``A_log``, ``D``, and any
    parameter with fewer than 2 dimensions) with ``weight_decay`` 0."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        parts = name.split(".")
        if (
            parts[-1] in NO_DECAY_NAMES
            or parts[-1] == "bias"
            or param.ndim < 2
            or any("norm" in part.lower() for part in parts[:-1])
        ):
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def effective_warmup(config: TrainConfig, max_steps: int) -> int:
    """``min(warmup_steps, floor(warmup_fraction * max_steps))``: short runs warm up briefly."""
    return int(min(config.warmup_steps, math.floor(config.warmup_fraction * max_steps)))


class WarmupCosine:
    """Linear warm-up from ``peak/warmup`` to ``peak`` over ``warmup`` steps, then a half cosine
    from ``peak`` to ``floor`` at step ``total``; ``floor`` afterwards.

    The schedule is a pure function of the step, so its state is just its four numbers.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, peak: float, floor: float, warmup: int, total: int):
        self.optimizer = optimizer
        self.peak, self.floor, self.warmup, self.total = float(peak), float(floor), int(warmup), int(total)

    def lr_at(self, step: int) -> float:
        """Learning rate of the optimiser step numbered ``step`` (0-based)."""
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.floor + 0.5 * (self.peak - self.floor) * (1.0 + math.cos(math.pi * progress))

    def apply(self, step: int) -> float:
        """Set every group's learning rate for step ``step``; return it."""
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"name": "warmup_cosine", "peak": self.peak, "floor": self.floor,
                "warmup": self.warmup, "total": self.total}


class WeightAverage:
    """Exponential moving average of a model's weights: after each optimiser step,
    w_avg <- decay * w_avg + (1 - decay) * w (buffers copied). ``model`` is the averaged copy,
    used for validation and saved as ``model.pt``; it never trains itself."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        import copy

        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval()
        for param in self.model.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        averaged = list(self.model.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)
