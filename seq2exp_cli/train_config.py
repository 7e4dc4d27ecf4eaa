"""TrainConfig: the training hyper-parameters, in a module that imports no torch (so that
``seq2exp train --help``, generated from the dataclass, stays instant). ``training.py``
re-exports it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from seq2exp_cli.errors import InputError


@dataclass
class TrainConfig:
    """Training hyper-parameters (the ``[training]`` table of ``--config FILE.toml``).

    Defaults are the reference recipe: AdamW (``lr`` 5e-4, ``betas`` 0.9/0.95,
    ``weight_decay`` 1e-6, none on biases, norms, ``A_log`` and ``D``), linear warm-up for
    ``warmup_steps`` (5,000) then cosine decay to ``min_lr`` (1e-4) at ``max_steps`` (50,000),
    gradient clipping at ``grad_clip`` (1.0), ``batch_size`` 8 genes per process, ``seed`` 2222.
    The warm-up is capped at ``warmup_fraction`` (0.1) of ``max_steps`` so a short run still
    reaches the peak rate and decays. ``epochs``, when set, replaces ``max_steps`` by
    ``epochs * steps_per_epoch``. ``patience`` (evaluations without a better validation MSE;
    None = never stop early), ``eval_every`` and ``checkpoint_every`` count optimiser steps.
    ``eval_batch_size`` defaults to ``batch_size``. ``device`` is auto, cpu, cuda or cuda:N.
    ``max_shift`` > 0 shifts each training window by a random whole number of bases in
    [-max_shift, max_shift] (the bases shifted in are N, their signals 0): the bins then cut each
    gene's sequence at different places from step to step, a regulariser for few genes.
    ``ema_decay`` > 0 keeps an exponential moving average of the weights (decay per step), which
    is what validation scores and ``model.pt`` stores; 0 (the default) uses the weights as trained.
    ``motifs`` seeds the stem's motif detectors before training: ``denovo`` (discovered in the
    training windows' accessible DNA), ``jaspar[:...]``, a MEME file, or None / ``none``.
    """

    lr: float = 5e-4
    min_lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 1e-6
    warmup_steps: int = 5000
    warmup_fraction: float = 0.1
    max_steps: int = 50_000
    epochs: int | None = None
    batch_size: int = 8
    eval_batch_size: int | None = None
    grad_clip: float = 1.0
    seed: int = 2222
    num_workers: int = 0
    patience: int | None = None
    eval_every: int = 1000
    checkpoint_every: int = 1000
    device: str = "auto"
    ema_decay: float = 0.0
    max_shift: int = 0
    motifs: str | None = None

    @property
    def motif_source(self) -> str | None:
        """``motifs`` with ``none`` (any case) and the empty string read as None."""
        return None if self.motifs is None or self.motifs.strip().lower() in ("", "none") else self.motifs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-friendly values (``betas`` as a list)."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "training config") -> TrainConfig:
        """Build from a dict, naming any unknown key and the valid ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{source}: unknown training key(s) {unknown}; valid keys are {sorted(known)}")
        values = dict(values)
        if isinstance(values.get("betas"), (list, tuple)) and all(_is_number(b) for b in values["betas"]):
            values["betas"] = tuple(float(b) for b in values["betas"])
        config = cls(**values)
        config.validate(source)
        return config

    def validate(self, source: str = "training config") -> None:
        """Raise :class:`InputError` for values that cannot work (wrong types, NaN, out of range)."""
        self._check_types(source)
        positive = ("lr", "batch_size", "max_steps", "eval_every", "checkpoint_every")
        for name in positive:
            if getattr(self, name) is None or getattr(self, name) <= 0:
                raise InputError(f"{source}: {name} = {getattr(self, name)!r}; it must be > 0")
        for name in ("epochs", "patience", "eval_batch_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(f"{source}: {name} = {value!r}; it must be > 0 (or left unset)")
        if self.min_lr < 0 or self.min_lr > self.lr:
            raise InputError(f"{source}: min_lr = {self.min_lr}; it must lie in [0, lr = {self.lr}]")
        if not 0 <= self.warmup_fraction <= 1:
            raise InputError(f"{source}: warmup_fraction = {self.warmup_fraction}; it must lie in [0, 1]")
        if not 0 <= self.ema_decay < 1:
            raise InputError(f"{source}: ema_decay = {self.ema_decay}; it must lie in [0, 1) (0 = off)")
        if self.max_shift < 0:
            raise InputError(f"{source}: max_shift = {self.max_shift}; it must be >= 0 (0 = off)")
        if self.warmup_steps < 0 or self.num_workers < 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise InputError(f"{source}: warmup_steps, num_workers, weight_decay and grad_clip must be >= 0")
        if not all(0 <= b < 1 for b in self.betas) or len(self.betas) != 2:
            raise InputError(f"{source}: betas = {list(self.betas)}; give two numbers in [0, 1), e.g. [0.9, 0.95]")

    def _check_types(self, source: str) -> None:
        """Each value has its field's type (an int where a float is wanted is fine) and is finite."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = str(f.type)
            optional = "None" in kind
            if value is None and optional:
                continue
            if f.name == "betas":
                ok = isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
                expected = "a list of two numbers"
            elif kind.startswith("float"):
                ok, expected = _is_number(value), "a number"
            elif kind.startswith("int"):
                ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
            elif kind.startswith("str"):
                ok, expected = isinstance(value, str), "a string"
            else:
                continue
            if not ok:
                raise InputError(f"{source}: {f.name} = {value!r}; it must be {expected} (see `seq2exp train --help`)")
            numbers = value if f.name == "betas" else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                raise InputError(f"{source}: {f.name} = {value!r}; it must be a finite number")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
