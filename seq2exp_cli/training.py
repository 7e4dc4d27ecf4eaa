"""The fit loop, outside the model: optimiser, schedule, AMP, DDP, checkpoints, metrics, resume.

``fit(dataset, run_dir, model_config, train_config)`` trains a Seq2Exp model on the dataset's
labelled ``train`` genes, evaluates on its labelled ``valid`` genes every ``eval_every`` steps,
keeps the best-validation-MSE weights as ``model.pt`` and everything needed to resume as
``last.pt``, logs one row per evaluation to ``metrics.tsv`` and writes ``run.json``.

Determinism. Every random draw comes from state that ``last.pt`` stores: the data order is a
pure function of ``(seed, epoch)`` (see :func:`epoch_batches`), and the model's Beta samples
draw from the global torch RNG, whose state (with numpy's and Python's) is checkpointed per
rank. On CPU a run killed at any step and resumed therefore ends bit-identical to an
uninterrupted one. On CUDA, atomic adds in some kernels make runs differ in the last bits.

Distributed. Under torchrun each rank trains on its slice of every global batch
(``batch_size`` genes per rank, ``batch_size * world_size`` per step) with
DistributedDataParallel; validation is sharded and gathered; rank 0 alone writes files.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seq2exp_cli import __version__
from seq2exp_cli.checkpoints import (
    CHECKPOINT_VERSION,
    LAST_FORMAT,
    MODEL_FORMAT,
    capture_rng_state,
    load_checkpoint,
    remove_stale_temporaries,
    restore_rng_state,
    save_checkpoint,
)
from seq2exp_cli.errors import InputError, ModelMismatchError, OutputExistsError, TrainingError
from seq2exp_cli.distributed import autocast, gather_objects, init_distributed, rank, resolve_device, world_size
from seq2exp_cli.inference import predict_values
from seq2exp_cli.io.atomic import atomic_path
from seq2exp_cli.metrics import MetricsLog, regression_metrics
from seq2exp_cli.train_config import TrainConfig  # noqa: F401  (defined without torch, for --help)

log = logging.getLogger(__name__)

METRICS_COLUMNS = [
    "step", "epoch", "lr", "train_loss", "train_pred_loss", "train_kl",
    "val_n", "val_mse", "val_mae", "val_pearson", "val_spearman", "best", "elapsed_s",
]
RUN_FILES = ("model.pt", "last.pt", "metrics.tsv", "run.json")
#: parameter names (last dotted component) that never get weight decay: SSM parameters
NO_DECAY_NAMES = frozenset({"A_log", "D"})


@dataclass
class FitResult:
    """What :func:`fit` reports: steps done, the best evaluation, and how the run ended."""

    run_dir: Path
    steps: int
    best_step: int
    best_metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False
    elapsed_s: float = 0.0


# ---------------------------------------------------------------------------------------------
# optimiser and schedule


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


# ---------------------------------------------------------------------------------------------
# data order


def epoch_batches(n_items: int, global_batch: int, seed: int, epoch: int) -> np.ndarray:
    """int64[n_batches, global_batch] positions into the training genes for one epoch.

    A permutation drawn from ``numpy.random.default_rng([seed, epoch])``, padded by wrapping
    around to a whole number of batches (every batch is full, so every rank of a distributed
    run gets the same number of genes, and a run on N processes sees the same global batches
    as one process with an N-times larger batch).
    """
    perm = np.random.default_rng([seed, epoch]).permutation(n_items).astype(np.int64)
    n_batches = -(-n_items // global_batch)
    need = n_batches * global_batch
    if need > n_items:
        perm = np.resize(perm, need)  # repeats from the start
    return perm.reshape(n_batches, global_batch)


class _BatchPlan:
    """Batch sampler for DataLoader: this rank's slice of each global batch, from a position on."""

    def __init__(self, n_items: int, per_rank: int, seed: int, epoch: int, batch_in_epoch: int):
        self.n_items, self.per_rank, self.seed = n_items, per_rank, seed
        self.epoch, self.batch_in_epoch = epoch, batch_in_epoch
        self.world, self.rank = world_size(), rank()

    def __iter__(self) -> Iterator[list[int]]:
        epoch, first = self.epoch, self.batch_in_epoch
        while True:
            batches = epoch_batches(self.n_items, self.per_rank * self.world, self.seed, epoch)
            lo, hi = self.rank * self.per_rank, (self.rank + 1) * self.per_rank
            for row in batches[first:]:
                yield row[lo:hi].tolist()
            epoch, first = epoch + 1, 0


# ---------------------------------------------------------------------------------------------
# run directory


def prepare_run_dir(run_dir: str | Path, force: bool, resume: bool) -> Path:
    """Create ``run_dir``; refuse an existing one unless ``force`` (our files are removed) or
    ``resume`` (``last.pt`` must be there)."""
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise InputError(f"{run_dir}: nothing to resume (no last.pt); drop --resume to start a new run")
        return run_dir
    if run_dir.exists():
        if not run_dir.is_dir():
            raise InputError(f"{run_dir}: exists and is not a directory; choose another -o")
        if any(run_dir.iterdir()) and not force:
            raise OutputExistsError(
                f"{run_dir}: output directory exists; pass --resume to continue it or --force to overwrite it"
            )
        if force and rank() == 0:
            for name in RUN_FILES:
                (run_dir / name).unlink(missing_ok=True)
            remove_stale_temporaries(run_dir)
    elif rank() == 0:
        if not run_dir.parent.exists():
            raise InputError(f"{run_dir}: parent directory {run_dir.parent} does not exist; create it first")
        run_dir.mkdir()
    return run_dir


def read_resume_configs(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model_config dict, train_config dict)`` stored in ``run_dir/last.pt``."""
    if not (Path(run_dir) / "last.pt").is_file():
        raise InputError(f"{run_dir}: nothing to resume (no last.pt); drop --resume to start a new run")
    payload = load_checkpoint(Path(run_dir) / "last.pt", LAST_FORMAT)
    return dict(payload["model_config"]), dict(payload["train_config"])


def _write_json(path: Path, record: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")


def _versions() -> dict[str, str]:
    return {
        "seq2exp": __version__, "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
    }


# ---------------------------------------------------------------------------------------------
# the loop


def _default_model_factory(model_config: Any) -> torch.nn.Module:
    from seq2exp_cli.model.seq2exp import Seq2Exp

    return Seq2Exp(model_config)


def _default_loss(model_config: Any) -> Callable[[Any, torch.Tensor], tuple[torch.Tensor, dict]]:
    from seq2exp_cli.losses import seq2exp_loss

    kl_weight = float(getattr(model_config, "kl_weight"))
    return lambda output, target: seq2exp_loss(output, target, kl_weight)


def _describe_nonfinite(step: int, what: str, lr: float, device: torch.device) -> str:
    cause = (
        "bf16 overflow or a learning rate too high for this data (try a lower --config lr or --device cpu)"
        if device.type == "cuda"
        else "a learning rate too high for this data, or extreme signal values (check the dataset's "
        "normalisation; try a lower lr)"
    )
    return f"non-finite {what} at step {step + 1} (lr {lr:.3g}); likely cause: {cause}; last.pt and model.pt keep the last good state"


def fit(
    dataset: Any,
    run_dir: str | Path,
    model_config: Any,
    train_config: TrainConfig,
    *,
    resume: bool = False,
    command: str | list[str] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    model_factory: Callable[[Any], torch.nn.Module] | None = None,
    loss_fn: Callable[[Any, torch.Tensor], tuple[torch.Tensor, dict]] | None = None,
) -> FitResult:
    """Train on ``dataset`` (a :class:`~seq2exp_cli.dataset.PreparedDataset`) into ``run_dir``.

    ``model_config`` is a ``ModelConfig`` (anything with ``to_dict()``); the model is
    ``model_factory(model_config)`` (default ``Seq2Exp``) and the loss ``loss_fn(output,
    target) -> (total, parts)`` (default ``seq2exp_loss`` with the config's ``kl_weight``).
    ``run_dir`` must exist (see :func:`prepare_run_dir`); with ``resume`` training continues
    from ``run_dir/last.pt``. ``progress`` is called after every step with a dict (step,
    max_steps, loss, lr, genes_per_s, elapsed_s) and after each evaluation with ``val_mse``.

    Raises :class:`InputError` when the train or valid split has no labelled genes,
    :class:`ModelMismatchError` when resuming with a different model config, and
    :class:`TrainingError` on a non-finite loss or gradient (files keep the last good state).
    """
    t_start = time.time()
    run_dir = Path(run_dir)
    cfg = train_config
    cfg.validate()
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        from seq2exp_cli.cpu_allocator import keep_freed_memory

        keep_freed_memory()  # a third of a CPU step was page faults (see cpu_allocator)
    init_distributed(device)  # under torchrun; the group lives until the process exits
    return _fit(dataset, run_dir, model_config, cfg, device, resume, command, progress,
                model_factory or _default_model_factory, loss_fn or _default_loss(model_config), t_start)


def _fit(dataset, run_dir, model_config, cfg, device, resume, command, progress, model_factory, loss_fn, t_start):
    is_main = rank() == 0
    world = world_size()
    train_idx = dataset.labelled(dataset.indices("train"))
    valid_idx = dataset.labelled(dataset.indices("valid"))
    where = getattr(dataset, "path", "dataset")
    if len(train_idx) == 0:
        raise InputError(f"{where}: the train split has no labelled genes; give targets for them in `seq2exp prepare`")
    if len(valid_idx) == 0:
        raise InputError(
            f"{where}: the valid split has no labelled genes, so the best model cannot be chosen; "
            "re-run `seq2exp prepare` with validation chromosomes that carry targets"
        )
    global_batch = cfg.batch_size * world
    steps_per_epoch = -(-len(train_idx) // global_batch)
    max_steps = cfg.epochs * steps_per_epoch if cfg.epochs else cfg.max_steps
    eval_batch = cfg.eval_batch_size or cfg.batch_size

    # same seed on every rank for the weights; rank-specific streams for the mask samples below
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)
    model = model_factory(model_config).to(device)
    ema = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas))
    schedule = WarmupCosine(optimizer, cfg.lr, cfg.min_lr, effective_warmup(cfg, max_steps), max_steps)
    model_dict = model_config.to_dict()
    data_config = dataset.data_config()

    step = epoch = batch_in_epoch = 0
    best, best_step, bad_evals, best_metrics = math.inf, -1, 0, {}
    stopped_early, elapsed_before = False, 0.0
    metrics_log = MetricsLog(run_dir / "metrics.tsv", METRICS_COLUMNS)
    if resume:
        state = load_checkpoint(run_dir / "last.pt", LAST_FORMAT)
        _check_same_model(state["model_config"], model_dict, run_dir / "last.pt")
        if state["data_config"] != data_config:
            raise ModelMismatchError(
                f"{where}: this dataset differs from the one the run in {run_dir} was trained on "
                f"({state['data_config']} vs {data_config}); resume with the original dataset"
            )
        model.load_state_dict(state["model"])
        if ema is not None:
            ema.model.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, epoch, batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
        best, best_step, bad_evals = float(state["best_metric"]), int(state["best_step"]), int(state["bad_evals"])
        best_metrics, stopped_early = dict(state["best_metrics"]), bool(state["stopped_early"])
        elapsed_before = float(state["elapsed_s"])
        rng_states = state["rng"]
        if len(rng_states) == world:
            restore_rng_state(rng_states[rank()])
        else:
            log.warning("last.pt was written by %d process(es), this run has %d: the data order is kept "
                        "but mask sampling is reseeded", len(rng_states), world)
            torch.manual_seed(cfg.seed + 7919 * step + rank())
        if is_main:
            remove_stale_temporaries(run_dir)
            metrics_log.truncate_after(step)
        log.info("resuming %s at step %d (epoch %d)", run_dir, step, epoch)
    else:
        torch.manual_seed(cfg.seed + rank())
        if is_main:
            metrics_log.start(resume=False)
    if stopped_early:
        log.info("%s stopped early at step %d; nothing to resume", run_dir, step)
        return FitResult(run_dir, step, best_step, best_metrics, True, elapsed_before)

    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            # some variants leave parts of the network out of the graph; the set never changes
            # between steps, which static_graph handles without a graph traversal per step
            static_graph=True,
        )

    from seq2exp_cli.dataset import GeneWindows, collate_windows

    loader = torch.utils.data.DataLoader(
        GeneWindows(dataset, train_idx),
        collate_fn=collate_windows,
        batch_sampler=_BatchPlan(len(train_idx), cfg.batch_size, cfg.seed, epoch, batch_in_epoch),
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),  # keeps the global torch RNG untouched by the loader
    )
    run_record = {
        "command": command or " ".join(sys.argv), "status": "running", "run_dir": str(run_dir),
        "dataset": str(where), "device": str(device), "world_size": world, "seed": cfg.seed,
        "variant": getattr(model_config, "variant", None), "model_config": model_dict,
        "train_config": cfg.to_dict(), "data_config": data_config,
        "derived": {"max_steps": max_steps, "steps_per_epoch": steps_per_epoch, "global_batch": global_batch,
                    "warmup_steps": schedule.warmup, "n_train": int(len(train_idx)), "n_valid": int(len(valid_idx))},
        "versions": _versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t_start)),
    }
    if is_main:
        _write_json(run_dir / "run.json", run_record)
    log.info("training %d genes (valid %d) for %d steps, global batch %d on %s x%d",
             len(train_idx), len(valid_idx), max_steps, global_batch, device, world)

    def snapshot() -> dict[str, Any]:
        return {
            "format": LAST_FORMAT, "checkpoint_version": CHECKPOINT_VERSION, "seq2exp_version": __version__,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "ema": ema.model.state_dict() if ema is not None else None,
            "scheduler": schedule.state_dict(), "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
            "best_metric": best, "best_step": best_step, "bad_evals": bad_evals, "best_metrics": best_metrics,
            "stopped_early": stopped_early, "model_config": model_dict, "train_config": cfg.to_dict(),
            "data_config": data_config, "elapsed_s": elapsed_before + time.time() - t_start,
            "train_sums": dict(sums),  # the running train-loss average resumes where it was
        }

    def write_last() -> None:
        rng_states = gather_objects(capture_rng_state())  # every rank's stream
        if is_main:
            payload = snapshot()
            payload["rng"] = rng_states
            save_checkpoint(payload, run_dir / "last.pt")

    # with ema_decay the averaged weights are the ones validated and kept as model.pt
    validated = ema.model if ema is not None else net
    kept = ema.model if ema is not None else model
    sums = {"loss": 0.0, "pred": 0.0, "kl": 0.0, "n": 0}
    if resume and state.get("train_sums"):
        sums = {k: (int(v) if k == "n" else float(v)) for k, v in state["train_sums"].items()}
    t_loop, steps_at_loop = time.time(), step
    batches = iter(loader)
    eval_time = 0.0
    try:
        while step < max_steps and not stopped_early:
            batch = next(batches)
            lr = schedule.apply(step)
            net.train()
            batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
            target = batch["target"].float()
            if cfg.max_shift:
                batch = shift_windows(batch, cfg.max_shift)
            with autocast(device):
                output = net(batch["seq"], batch["signals"], batch["features"], batch["blacklist"])
                loss, parts = loss_fn(output, target)
            loss = loss.float()
            seen = loss.detach().clone()
            if world > 1:  # every rank must see a NaN on any rank, or the others hang in backward
                torch.distributed.all_reduce(seen)
                seen /= world
            if not torch.isfinite(seen):
                raise TrainingError(_describe_nonfinite(step, "loss", lr, device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
            if not torch.isfinite(grad_norm):
                raise TrainingError(_describe_nonfinite(step, "gradient", lr, device))
            optimizer.step()
            if ema is not None:
                ema.update(model)
            step += 1
            batch_in_epoch += 1
            if batch_in_epoch == steps_per_epoch:
                epoch, batch_in_epoch = epoch + 1, 0
            sums["loss"] += float(seen)
            sums["pred"] += float(_part(parts, ("prediction", "pred", "smooth_l1", "mse")))
            sums["kl"] += float(_part(parts, ("kl",)))
            sums["n"] += 1
            if progress is not None and is_main:
                elapsed = time.time() - t_loop - eval_time
                progress({"step": step, "max_steps": max_steps, "loss": float(seen), "lr": lr,
                          "genes_per_s": (step - steps_at_loop) * global_batch / max(elapsed, 1e-9),
                          "elapsed_s": time.time() - t_start})
            evaluated = False
            if step % cfg.eval_every == 0 or step == max_steps:
                t_eval = time.time()
                predicted = predict_values(validated, dataset, valid_idx, device, eval_batch, cfg.num_workers)
                targets = dataset.genes["target"].to_numpy(np.float64)[valid_idx]
                metrics = regression_metrics(targets, predicted)
                improved = metrics["mse"] < best
                if improved:
                    best, best_step, bad_evals = metrics["mse"], step, 0
                    best_metrics = {k: float(v) for k, v in metrics.items()}
                    if is_main:
                        save_checkpoint(_model_payload(kept, model_config, model_dict, data_config, step, metrics),
                                        run_dir / "model.pt")
                else:
                    bad_evals += 1
                    if cfg.patience is not None and bad_evals >= cfg.patience:
                        stopped_early = True
                        log.info("early stop at step %d: no better validation MSE in %d evaluations", step, bad_evals)
                n = max(sums["n"], 1)
                if is_main:
                    metrics_log.append({
                        "step": step, "epoch": epoch, "lr": lr, "train_loss": sums["loss"] / n,
                        "train_pred_loss": sums["pred"] / n, "train_kl": sums["kl"] / n,
                        "val_n": metrics["n"], "val_mse": metrics["mse"], "val_mae": metrics["mae"],
                        "val_pearson": metrics["pearson"], "val_spearman": metrics["spearman"],
                        "best": int(improved), "elapsed_s": round(elapsed_before + time.time() - t_start, 3),
                    })
                log.info("step %d: val MSE %.4f, Pearson %.3f%s", step, metrics["mse"], metrics["pearson"],
                         " (best)" if improved else "")
                if progress is not None and is_main:
                    progress({"step": step, "max_steps": max_steps, "val_mse": metrics["mse"]})
                sums = {"loss": 0.0, "pred": 0.0, "kl": 0.0, "n": 0}
                eval_time += time.time() - t_eval
                evaluated = True
            if evaluated or step % cfg.checkpoint_every == 0 or step == max_steps or stopped_early:
                write_last()
    except TrainingError:
        if is_main:
            run_record.update(status="failed", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            _write_json(run_dir / "run.json", run_record)
        raise
    finally:
        del batches  # stop loader workers

    elapsed = elapsed_before + time.time() - t_start
    loop_s = max(time.time() - t_loop - eval_time, 1e-9)
    if is_main:
        run_record.update(
            status="stopped_early" if stopped_early else "finished",
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), steps=step, best_step=best_step,
            best_val_metrics=best_metrics,
            timings={"elapsed_s": round(elapsed, 3), "this_session_s": round(time.time() - t_start, 3),
                     "train_steps_per_s": round((step - steps_at_loop) / loop_s, 4),
                     "train_genes_per_s": round((step - steps_at_loop) * global_batch / loop_s, 4),
                     "eval_s": round(eval_time, 3)},
        )
        _write_json(run_dir / "run.json", run_record)
    return FitResult(run_dir, step, best_step, best_metrics, stopped_early, elapsed)


def shift_windows(batch: dict[str, Any], max_shift: int) -> dict[str, Any]:
    """Shift each window of ``batch`` (seq [B, L], signals [B, L, S], blacklist [B, L]) by its own
    random offset in [-max_shift, max_shift] bases, drawn from the global torch RNG (checkpointed,
    so a resumed run draws the same shifts). Bases shifted in are N (``BASE_N``) with signals 0
    and no blacklist. Returns a new dict; the other entries are passed through."""
    from seq2exp_cli.dataset import BASE_N

    seq, signals, blacklist = batch["seq"], batch["signals"], batch["blacklist"]
    length = seq.shape[1]
    offsets = torch.randint(-max_shift, max_shift + 1, (seq.shape[0],)).tolist()
    out_seq = torch.full_like(seq, BASE_N)
    out_signals = torch.zeros_like(signals)
    out_black = torch.zeros_like(blacklist)
    for row, offset in enumerate(offsets):
        # output position t reads input position t - offset
        dst = slice(max(offset, 0), length + min(offset, 0))
        src = slice(max(-offset, 0), length - max(offset, 0))
        out_seq[row, dst] = seq[row, src]
        out_signals[row, dst] = signals[row, src]
        out_black[row, dst] = blacklist[row, src]
    return {**batch, "seq": out_seq, "signals": out_signals, "blacklist": out_black}


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


def _part(parts: Any, names: tuple[str, ...]) -> float:
    """A named component of the loss (0 when the loss does not report it)."""
    if isinstance(parts, dict):
        for name in names:
            if name in parts:
                value = parts[name]
                return float(value.detach().float().mean()) if torch.is_tensor(value) else float(value)
    return 0.0


def _model_payload(model, model_config, model_dict, data_config, step, metrics) -> dict[str, Any]:
    return {
        "format": MODEL_FORMAT, "checkpoint_version": CHECKPOINT_VERSION, "seq2exp_version": __version__,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "model_config": model_dict, "data_config": data_config,
        "variant": getattr(model_config, "variant", None), "step": step,
        "val_metrics": {k: float(v) for k, v in metrics.items()},
    }


def _check_same_model(stored: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    diffs = [f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in sorted(set(stored) | set(current))
             if stored.get(k) != current.get(k)]
    if diffs:
        raise ModelMismatchError(
            f"{path}: the model settings differ from the run being resumed ({'; '.join(diffs)}); "
            "resume with the original settings or start a new run with -o"
        )
