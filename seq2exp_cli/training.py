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

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seq2exp_cli import __version__
from seq2exp_cli.checkpoints import (
    CHECKPOINT_VERSION,
    LAST_FORMAT,
    capture_rng_state,
    load_checkpoint,
    remove_stale_temporaries,
    restore_rng_state,
    save_checkpoint,
)
from seq2exp_cli.cpu_allocator import keep_freed_memory_on
from seq2exp_cli.distributed import autocast, gather_objects, rank, setup, world_size
from seq2exp_cli.errors import InputError, ModelMismatchError, TrainingError
from seq2exp_cli.inference import predict_values
from seq2exp_cli.metrics import MetricsLog, regression_metrics
from seq2exp_cli.records import recorded_command
from seq2exp_cli.train_batches import BatchPlan, shift_windows
from seq2exp_cli.train_config import TrainConfig
from seq2exp_cli.train_optim import WarmupCosine, WeightAverage, effective_warmup, param_groups
from seq2exp_cli.train_run import check_same_model, model_payload, versions, write_json
from seq2exp_cli.train_state import Session, Sizes, TrainState, zero_sums

log = logging.getLogger(__name__)

METRICS_COLUMNS = [
    "step", "epoch", "lr", "train_loss", "train_pred_loss", "train_kl",
    "val_n", "val_mse", "val_mae", "val_pearson", "val_spearman", "best", "elapsed_s",
]


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
# the steps of a run


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
    device = setup(cfg.device)  # under torchrun: joins the group (it lives until the process exits)
    keep_freed_memory_on(device)  # when opted in: a third of a CPU step was page faults (see cpu_allocator)
    sizes = _sizes(dataset, cfg)
    session = _build(dataset, run_dir, model_config, cfg, device, sizes, model_factory or _default_model_factory,
                     loss_fn or _default_loss(model_config), t_start)
    state, stored = restore(session, resume)
    if state.stopped_early:
        log.info("%s stopped early at step %d; nothing to resume", run_dir, state.step)
        return FitResult(run_dir, state.step, state.best_step, state.best_metrics, True, state.elapsed_before)
    session.net = _wrap(session.model, device)
    loader = _loader(session, sizes, state)
    record = _start_record(session, sizes, command)
    if session.is_main:
        write_json(run_dir / "run.json", record)
    log.info("training %d genes (valid %d) for %d steps, global batch %d on %s x%d",
             len(sizes.train_idx), len(sizes.valid_idx), sizes.max_steps, sizes.global_batch, device, world_size())
    if resume and stored.get("train_sums"):
        state.sums = {k: (int(v) if k == "n" else float(v)) for k, v in stored["train_sums"].items()}
    timing = _loop(session, sizes, state, loader, progress, record)
    return finish(session, sizes, state, record, timing)


def _sizes(dataset: Any, cfg: TrainConfig) -> Sizes:
    """The labelled train and valid genes and the step counts; InputError when a split has none."""
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
    global_batch = cfg.batch_size * world_size()
    steps_per_epoch = -(-len(train_idx) // global_batch)
    max_steps = cfg.epochs * steps_per_epoch if cfg.epochs else cfg.max_steps
    return Sizes(train_idx, valid_idx, global_batch, steps_per_epoch, max_steps, cfg.eval_batch_size or cfg.batch_size)


def _build(dataset: Any, run_dir: Path, model_config: Any, cfg: TrainConfig, device: torch.device, sizes: Sizes,
           model_factory: Callable[[Any], torch.nn.Module], loss_fn: Callable, t_start: float) -> Session:
    """The model (the same seed on every rank for the weights), its average, optimiser and schedule."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)
    model = model_factory(model_config).to(device)
    ema = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas))
    schedule = WarmupCosine(optimizer, cfg.lr, cfg.min_lr, effective_warmup(cfg, sizes.max_steps), sizes.max_steps)
    return Session(dataset, run_dir, cfg, device, model_config, model, ema, optimizer, schedule, loss_fn,
                   MetricsLog(run_dir / "metrics.tsv", METRICS_COLUMNS), t_start, model_config.to_dict(),
                   dataset.data_config())


def restore(session: Session, resume: bool) -> tuple[TrainState, dict[str, Any]]:
    """A fresh state, or the state, weights and RNG streams of ``last.pt`` (with the stored payload).

    Rank-specific streams seed the mask samples: a fresh run draws from ``seed + rank``."""
    cfg, run_dir, world = session.cfg, session.run_dir, world_size()
    if not resume:
        torch.manual_seed(cfg.seed + rank())
        if session.is_main:
            session.metrics_log.start(resume=False)
        return TrainState(), {}
    stored = load_checkpoint(run_dir / "last.pt", LAST_FORMAT)
    check_same_model(stored["model_config"], session.model_dict, run_dir / "last.pt")
    if stored["data_config"] != session.data_config:
        raise ModelMismatchError(
            f"{getattr(session.dataset, 'path', 'dataset')}: this dataset differs from the one the run in {run_dir} "
            f"was trained on ({stored['data_config']} vs {session.data_config}); resume with the original dataset"
        )
    session.model.load_state_dict(stored["model"])
    if session.ema is not None:
        session.ema.model.load_state_dict(stored["ema"] if stored.get("ema") is not None else stored["model"])
    session.optimizer.load_state_dict(stored["optimizer"])
    state = TrainState(
        step=int(stored["step"]), epoch=int(stored["epoch"]), batch_in_epoch=int(stored["batch_in_epoch"]),
        best=float(stored["best_metric"]), best_step=int(stored["best_step"]), bad_evals=int(stored["bad_evals"]),
        best_metrics=dict(stored["best_metrics"]), stopped_early=bool(stored["stopped_early"]),
        elapsed_before=float(stored["elapsed_s"]),
    )
    rng_states = stored["rng"]
    if len(rng_states) == world:
        restore_rng_state(rng_states[rank()])
    else:
        log.warning("last.pt was written by %d process(es), this run has %d: the data order is kept "
                    "but mask sampling is reseeded", len(rng_states), world)
        torch.manual_seed(cfg.seed + 7919 * state.step + rank())
    if session.is_main:
        remove_stale_temporaries(run_dir)
        session.metrics_log.truncate_after(state.step)
    log.info("resuming %s at step %d (epoch %d)", run_dir, state.step, state.epoch)
    return state, stored


def _wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if world_size() <= 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        # some variants leave parts of the network out of the graph; the set never changes
        # between steps, which static_graph handles without a graph traversal per step
        static_graph=True,
    )


def _loader(session: Session, sizes: Sizes, state: TrainState) -> torch.utils.data.DataLoader:
    from seq2exp_cli.dataset import GeneWindows, collate_windows

    cfg = session.cfg
    return torch.utils.data.DataLoader(
        GeneWindows(session.dataset, sizes.train_idx),
        collate_fn=collate_windows,
        batch_sampler=BatchPlan(len(sizes.train_idx), cfg.batch_size, cfg.seed, state.epoch, state.batch_in_epoch),
        num_workers=cfg.num_workers,
        pin_memory=session.device.type == "cuda",
        generator=torch.Generator(),  # keeps the global torch RNG untouched by the loader
    )


def _start_record(session: Session, sizes: Sizes, command: str | list[str] | None) -> dict[str, Any]:
    cfg = session.cfg
    return {
        "command": recorded_command(command), "status": "running", "run_dir": str(session.run_dir),
        "dataset": str(getattr(session.dataset, "path", "dataset")), "device": str(session.device),
        "world_size": world_size(), "seed": cfg.seed,
        "variant": getattr(session.model_config, "variant", None), "model_config": session.model_dict,
        "train_config": cfg.to_dict(), "data_config": session.data_config,
        "derived": {"max_steps": sizes.max_steps, "steps_per_epoch": sizes.steps_per_epoch,
                    "global_batch": sizes.global_batch, "warmup_steps": session.schedule.warmup,
                    "n_train": int(len(sizes.train_idx)), "n_valid": int(len(sizes.valid_idx))},
        "versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(session.t_start)),
    }


@dataclass
class _Timing:
    t_loop: float
    steps_at_loop: int
    eval_s: float = 0.0


def _loop(session: Session, sizes: Sizes, state: TrainState, loader: Any,
          progress: Callable[[dict[str, Any]], None] | None, record: dict[str, Any]) -> _Timing:
    """Steps until ``max_steps`` or an early stop: evaluate every ``eval_every`` steps and keep
    ``last.pt`` current; a non-finite loss marks the run record failed and raises."""
    cfg, main = session.cfg, session.is_main
    timing = _Timing(time.time(), state.step)
    batches = iter(loader)
    try:
        while state.step < sizes.max_steps and not state.stopped_early:
            loss, lr = train_step(session, state, sizes, next(batches))
            if progress is not None and main:
                elapsed = time.time() - timing.t_loop - timing.eval_s
                progress({"step": state.step, "max_steps": sizes.max_steps, "loss": loss, "lr": lr,
                          "genes_per_s": (state.step - timing.steps_at_loop) * sizes.global_batch / max(elapsed, 1e-9),
                          "elapsed_s": time.time() - session.t_start})
            evaluated = False
            if state.step % cfg.eval_every == 0 or state.step == sizes.max_steps:
                t_eval = time.time()
                val_mse = evaluate(session, state, sizes, lr)
                if progress is not None and main:
                    progress({"step": state.step, "max_steps": sizes.max_steps, "val_mse": val_mse})
                timing.eval_s += time.time() - t_eval
                evaluated = True
            if (evaluated or state.step % cfg.checkpoint_every == 0 or state.step == sizes.max_steps
                    or state.stopped_early):
                checkpoint(session, state)
    except TrainingError:
        if main:
            record.update(status="failed", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            write_json(session.run_dir / "run.json", record)
        raise
    finally:
        del batches  # stop loader workers
    return timing


def train_step(session: Session, state: TrainState, sizes: Sizes, batch: dict[str, Any]) -> tuple[float, float]:
    """One optimiser step on ``batch``; returns (the loss averaged over ranks, the learning rate).

    Raises TrainingError on a non-finite loss or gradient (on every rank at once)."""
    cfg, device, net, world = session.cfg, session.device, session.net, world_size()
    lr = session.schedule.apply(state.step)
    net.train()
    batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
    target = batch["target"].float()
    if cfg.max_shift:
        batch = shift_windows(batch, cfg.max_shift)
    with autocast(device):
        output = net(batch["seq"], batch["signals"], batch["features"], batch["blacklist"])
        loss, parts = session.loss_fn(output, target)
    loss = loss.float()
    seen = loss.detach().clone()
    if world > 1:  # every rank must see a NaN on any rank, or the others hang in backward
        torch.distributed.all_reduce(seen)
        seen /= world
    if not torch.isfinite(seen):
        raise TrainingError(_describe_nonfinite(state.step, "loss", lr, device))
    session.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(session.model.parameters(), clip)
    if not torch.isfinite(grad_norm):
        raise TrainingError(_describe_nonfinite(state.step, "gradient", lr, device))
    session.optimizer.step()
    if session.ema is not None:
        session.ema.update(session.model)
    state.step += 1
    state.batch_in_epoch += 1
    if state.batch_in_epoch == sizes.steps_per_epoch:
        state.epoch, state.batch_in_epoch = state.epoch + 1, 0
    state.sums["loss"] += float(seen)
    state.sums["pred"] += float(_part(parts, ("prediction", "pred", "smooth_l1", "mse")))
    state.sums["kl"] += float(_part(parts, ("kl",)))
    state.sums["n"] += 1
    return float(seen), lr


def evaluate(session: Session, state: TrainState, sizes: Sizes, lr: float) -> float:
    """Validate, keep model.pt when the MSE improves, count evaluations without improvement
    (early stop after ``patience``), append the metrics row; returns the validation MSE."""
    cfg, dataset, valid_idx = session.cfg, session.dataset, sizes.valid_idx
    predicted = predict_values(session.validated, dataset, valid_idx, session.device, sizes.eval_batch,
                               cfg.num_workers)
    targets = dataset.genes["target"].to_numpy(np.float64)[valid_idx]
    metrics = regression_metrics(targets, predicted)
    improved = metrics["mse"] < state.best
    if improved:
        state.best, state.best_step, state.bad_evals = metrics["mse"], state.step, 0
        state.best_metrics = {k: float(v) for k, v in metrics.items()}
        if session.is_main:
            save_checkpoint(model_payload(session.kept, session.model_config, session.model_dict,
                                          session.data_config, state.step, metrics), session.run_dir / "model.pt")
    else:
        state.bad_evals += 1
        if cfg.patience is not None and state.bad_evals >= cfg.patience:
            state.stopped_early = True
            log.info("early stop at step %d: no better validation MSE in %d evaluations", state.step, state.bad_evals)
    if session.is_main:
        session.metrics_log.append(_metrics_row(session, state, lr, metrics, improved))
    log.info("step %d: val MSE %.4f, Pearson %.3f%s", state.step, metrics["mse"], metrics["pearson"],
             " (best)" if improved else "")
    state.sums = zero_sums()
    return float(metrics["mse"])


def _metrics_row(session: Session, state: TrainState, lr: float, metrics: dict[str, Any],
                 improved: bool) -> dict[str, Any]:
    sums, n = state.sums, max(state.sums["n"], 1)
    return {
        "step": state.step, "epoch": state.epoch, "lr": lr, "train_loss": sums["loss"] / n,
        "train_pred_loss": sums["pred"] / n, "train_kl": sums["kl"] / n,
        "val_n": metrics["n"], "val_mse": metrics["mse"], "val_mae": metrics["mae"],
        "val_pearson": metrics["pearson"], "val_spearman": metrics["spearman"],
        "best": int(improved), "elapsed_s": round(state.elapsed_before + time.time() - session.t_start, 3),
    }


def checkpoint(session: Session, state: TrainState) -> None:
    """Write ``last.pt``: the state, weights, optimiser, schedule and every rank's RNG streams."""
    rng_states = gather_objects(capture_rng_state())  # every rank's stream
    if not session.is_main:
        return
    payload = {
        "format": LAST_FORMAT, "checkpoint_version": CHECKPOINT_VERSION, "seq2exp_version": __version__,
        "model": session.model.state_dict(), "optimizer": session.optimizer.state_dict(),
        "ema": session.ema.model.state_dict() if session.ema is not None else None,
        "scheduler": session.schedule.state_dict(), "step": state.step, "epoch": state.epoch,
        "batch_in_epoch": state.batch_in_epoch, "best_metric": state.best, "best_step": state.best_step,
        "bad_evals": state.bad_evals, "best_metrics": state.best_metrics, "stopped_early": state.stopped_early,
        "model_config": session.model_dict, "train_config": session.cfg.to_dict(),
        "data_config": session.data_config, "elapsed_s": state.elapsed_before + time.time() - session.t_start,
        "train_sums": dict(state.sums),  # the running train-loss average resumes where it was
    }
    payload["rng"] = rng_states
    save_checkpoint(payload, session.run_dir / "last.pt")


def finish(session: Session, sizes: Sizes, state: TrainState, record: dict[str, Any], timing: _Timing) -> FitResult:
    """Complete the run record (status, best evaluation, timings) and report the result."""
    elapsed = state.elapsed_before + time.time() - session.t_start
    loop_s = max(time.time() - timing.t_loop - timing.eval_s, 1e-9)
    if session.is_main:
        steps = state.step - timing.steps_at_loop
        record.update(
            status="stopped_early" if state.stopped_early else "finished",
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), steps=state.step, best_step=state.best_step,
            best_val_metrics=state.best_metrics,
            timings={"elapsed_s": round(elapsed, 3), "this_session_s": round(time.time() - session.t_start, 3),
                     "train_steps_per_s": round(steps / loop_s, 4),
                     "train_genes_per_s": round(steps * sizes.global_batch / loop_s, 4),
                     "eval_s": round(timing.eval_s, 3)},
        )
        write_json(session.run_dir / "run.json", record)
    return FitResult(session.run_dir, state.step, state.best_step, state.best_metrics, state.stopped_early, elapsed)


def _part(parts: Any, names: tuple[str, ...]) -> float:
    """A named component of the loss (0 when the loss does not report it)."""
    if isinstance(parts, dict):
        for name in names:
            if name in parts:
                value = parts[name]
                return float(value.detach().float().mean()) if torch.is_tensor(value) else float(value)
    return 0.0
