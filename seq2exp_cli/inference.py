"""Batched, no-grad prediction and mask extraction from a trained run, on CPU, GPU or torchrun.

``load_model(run_dir, device)`` reads ``model.pt`` with ``weights_only=True`` and rebuilds the
model from the stored config; ``check_compatible(meta, dataset)`` names any difference between
the data the model was trained on and the dataset at hand; ``predict`` returns one row per gene;
``extract_masks`` yields per-bp mask scores in genomic orientation for ``call-elements``.

Under torchrun (``WORLD_SIZE > 1``, helpers in :mod:`seq2exp_cli.distributed`) genes are
sharded across ranks as ``indices[rank::world]``: ``predict`` gathers every shard so each rank
returns the full table in the input order; ``extract_masks`` yields only this rank's genes (the
consumer merges, e.g. by streaming them to rank 0 with ``gather_rounds``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seq2exp_cli import __version__
from seq2exp_cli.checkpoints import MODEL_FORMAT, load_checkpoint
from seq2exp_cli.cpu_allocator import keep_freed_memory_on
from seq2exp_cli.distributed import autocast, gather_objects, rank, resolve_device, shard, world_size
from seq2exp_cli.errors import ModelMismatchError

log = logging.getLogger(__name__)

#: data-config keys a dataset without targets may leave unset (predict-only data)
_OPTIONAL_IN_DATASET = frozenset({"target_transform"})
PREDICTION_COLUMNS = ["gene_id", "name", "chrom", "tss", "strand", "split", "target", "predicted"]


# ---------------------------------------------------------------------------------------------
# loading a model


def _model_path(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir)
    return path / "model.pt" if path.is_dir() else path


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the trained model from ``RUN_DIR/model.pt`` (or a model.pt path) on ``device``.

    Returns ``(model in eval mode, meta)`` where ``meta`` is the checkpoint without its weights:
    ``model_config``, ``data_config``, ``variant``, ``seq2exp_version``, ``step``, ``val_metrics``.
    Raises :class:`ModelMismatchError` for a file that is not a seq2exp model (including any
    arbitrary pickle, which ``weights_only`` loading refuses) or whose weights do not fit the config.
    """
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.model.seq2exp import Seq2Exp

    path = _model_path(run_dir)
    payload = load_checkpoint(path, MODEL_FORMAT)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    if meta.get("seq2exp_version") != __version__:
        log.warning("%s was written by seq2exp %s; this is %s", path, meta.get("seq2exp_version"), __version__)
    try:
        config = ModelConfig.from_dict(payload["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelMismatchError(f"{path}: model config not understood ({exc}); retrain with this seq2exp") from exc
    model = Seq2Exp(config)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelMismatchError(
            f"{path}: weights do not fit the stored model config ({first[:200]}); retrain with this seq2exp"
        ) from exc
    model.to(resolve_device(device)).eval()
    return model, meta


def check_compatible(meta: dict, dataset: Any) -> None:
    """Raise :class:`ModelMismatchError` naming every difference between the data the model was
    trained for (``meta["data_config"]``) and ``dataset.data_config()``."""
    trained = meta.get("data_config") or {}
    current = dataset.data_config()
    problems = []
    for key in sorted(set(trained) | set(current)):
        a, b = trained.get(key), current.get(key)
        if a == b or (key in _OPTIONAL_IN_DATASET and b is None):
            continue
        if isinstance(a, list) and isinstance(b, list):
            missing = [x for x in a if x not in b]
            extra = [x for x in b if x not in a]
            if missing or extra:
                detail = []
                if missing:
                    detail.append(f"missing {missing}")
                if extra:
                    detail.append(f"unexpected {extra}")
                problems.append(f"{key}: {', '.join(detail)} (model has {a})")
            else:
                problems.append(f"{key}: order {b} differs from the model's {a}")
        else:
            problems.append(f"{key}: model {a!r}, dataset {b!r}")
    if problems:
        raise ModelMismatchError(
            f"{getattr(dataset, 'path', 'dataset')}: does not match the model ({'; '.join(problems)}); "
            "prepare the dataset with the model's settings or train a model on this dataset"
        )


# ---------------------------------------------------------------------------------------------
# batched prediction


def _loader(dataset: Any, indices: np.ndarray, batch_size: int, num_workers: int, device: torch.device):
    from seq2exp_cli.dataset import GeneWindows, collate_windows

    return torch.utils.data.DataLoader(
        GeneWindows(dataset, indices),
        collate_fn=collate_windows,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        # a private generator: creating the loader must not draw from the global torch RNG
        generator=torch.Generator(),
    )


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DistributedDataParallel, so evaluation does not touch DDP's hooks."""
    return getattr(model, "module", model)


@torch.no_grad()
def predict_values(
    model: torch.nn.Module, dataset: Any, indices: np.ndarray, device: torch.device,
    batch_size: int = 8, num_workers: int = 0,
) -> np.ndarray:
    """float64[len(indices)] predictions in the order of ``indices`` (eval mode, no grad).

    Under torchrun each rank predicts its shard and every rank returns the merged array.
    """
    indices = np.asarray(indices, dtype=np.int64)
    keep_freed_memory_on(device)  # when opted in: every batch reallocates the same activations
    net = _unwrap(model)
    was_training = net.training
    net.eval()
    mine = np.arange(len(indices))
    if world_size() > 1:
        mine = mine[rank() :: world_size()]
    values = np.empty(len(mine), dtype=np.float64)
    pos = 0
    if len(mine):
        for batch in _loader(dataset, indices[mine], batch_size, num_workers, device):
            batch = _to_device(batch, device)
            with autocast(device):
                output = net(batch["seq"], batch["signals"], batch["features"], batch["blacklist"])
            pred = output.prediction.float().reshape(-1).cpu().numpy()
            values[pos : pos + len(pred)] = pred
            pos += len(pred)
    net.train(was_training)
    merged = np.empty(len(indices), dtype=np.float64)
    for positions, part in gather_objects((mine, values)):
        merged[positions] = part
    return merged


def predict(
    model: torch.nn.Module, dataset: Any, indices: np.ndarray, device: str | torch.device = "cpu",
    batch_size: int = 8, num_workers: int = 0,
) -> pd.DataFrame:
    """One row per gene of ``indices`` (in that order): gene_id, name, chrom, tss, strand, split,
    target (NaN when unlabelled), predicted. Sharded and merged under torchrun."""
    device = resolve_device(device)
    indices = np.asarray(indices, dtype=np.int64)
    predicted = predict_values(model, dataset, indices, device, batch_size, num_workers)
    genes = dataset.genes.iloc[indices]
    frame = pd.DataFrame({c: genes[c].to_numpy() for c in PREDICTION_COLUMNS[:-2]})
    frame["target"] = pd.to_numeric(genes["target"], errors="coerce").to_numpy(np.float64)
    frame["predicted"] = predicted
    return frame


#: genes per progress report of :func:`predict_in_chunks`
PROGRESS_CHUNK = 256


def predict_in_chunks(
    model: torch.nn.Module, dataset: Any, indices: np.ndarray, device: str | torch.device = "cpu",
    batch_size: int = 8, num_workers: int = 0, progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """:func:`predict` over ``indices`` ``PROGRESS_CHUNK`` genes at a time, calling
    ``progress(n_genes)`` after each chunk (the rows are the same as one call's)."""
    frames = []
    for lo in range(0, max(len(indices), 1), PROGRESS_CHUNK):
        chunk = indices[lo:lo + PROGRESS_CHUNK]
        frames.append(predict(model, dataset, chunk, device, batch_size, num_workers))
        if progress is not None:
            progress(len(chunk))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def split_metrics(frame: pd.DataFrame) -> dict[str, dict[str, float | int | None]]:
    """MSE, MAE, Pearson, Spearman and n per split of a :func:`predict` table (train, valid,
    test order), plus ``all`` when several splits are present. Splits without a labelled gene
    are left out (an unlabelled dataset gives ``{}``); undefined correlations are None."""
    from seq2exp_cli.metrics import regression_metrics

    groups = [(name, frame[frame["split"] == name]) for name in ("train", "valid", "test")
              if (frame["split"] == name).any()]
    if len(groups) > 1:
        groups.append(("all", frame))
    out: dict[str, dict[str, float | int | None]] = {}
    for name, part in groups:
        m = regression_metrics(part["target"].to_numpy(np.float64), part["predicted"].to_numpy(np.float64))
        if m["n"]:
            out[name] = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in m.items()}
    return out


# ---------------------------------------------------------------------------------------------
# masks


@dataclass(frozen=True)
class GeneMask:
    """Per-bp mask scores of one gene's window, in genomic orientation.

    ``scores`` is float32[end - start]: ``scores[k]`` belongs to genomic position ``start + k``.
    The window is clipped to the chromosome, so ``0 <= start < end <= chrom size``.
    """

    index: int
    chrom: str
    start: int
    end: int
    scores: np.ndarray


def default_score(model: torch.nn.Module) -> str:
    """The per-gene score call-elements uses by default: ``contribution`` for a model with the
    additive or factorized readout, else ``mask``."""
    config = getattr(_unwrap(model), "config", None)
    return "contribution" if getattr(config, "readout", "promoter") in ("additive", "factorized") else "mask"


@torch.no_grad()
def extract_masks(
    model: torch.nn.Module, dataset: Any, indices: np.ndarray, device: str | torch.device = "cpu",
    batch_size: int = 8, num_workers: int = 0, score: str = "mask", shard_indices: bool = True,
    totals: dict[int, float] | None = None,
) -> Iterator[GeneMask]:
    """Yield a :class:`GeneMask` per gene of this rank's shard of ``indices`` (in order; every
    gene of ``indices`` when ``shard_indices`` is False).

    ``score = "mask"`` uses ``model.mask_scores`` (evaluation-mode mean mask, 0 on blacklisted
    bases, no promoter override); ``"contribution"`` uses ``model.contribution_scores`` (each
    bin's share of the gene's predicted regulatory input, additive or factorized readout; with
    ``totals``, gene id -> the denominator, from :func:`contribution_totals`, instead of the
    gene's own sum). Either is expanded from R-bp bins to bp with ``expand_mask``, flipped back
    to genomic order for minus-strand genes, and clipped to the chromosome.
    """
    from seq2exp_cli.model.seq2exp import expand_mask

    device = resolve_device(device)
    keep_freed_memory_on(device)  # when opted in: every batch reallocates the same activations
    net = _unwrap(model)
    net.eval()
    mine = shard(indices) if shard_indices else np.asarray(indices, dtype=np.int64)
    if len(mine) == 0:
        return
    window = int(dataset.window)
    chrom_sizes = getattr(dataset, "chrom_sizes", {}) or {}
    for batch in _loader(dataset, mine, batch_size, num_workers, device):
        gene_ids = batch["index"].tolist()
        batch = _to_device(batch, device)
        with autocast(device):
            if score == "contribution":
                denominator = None if totals is None else torch.tensor(
                    [totals[g] for g in gene_ids], dtype=torch.float32, device=batch["seq"].device)
                binned = net.contribution_scores(batch["seq"], batch["signals"], batch["features"], batch["blacklist"],
                                                 totals=denominator)
            else:
                binned = net.mask_scores(batch["seq"], batch["signals"], batch["blacklist"])  # [B, L//R]
        binned = binned.float()
        resolution = max(1, window // binned.shape[1])
        per_bp = expand_mask(binned, resolution)  # [B, L//R * R]
        if per_bp.shape[1] < window:
            # L not a multiple of R: the last partial bin repeats its score
            per_bp = torch.cat([per_bp, per_bp[:, -1:].expand(-1, window - per_bp.shape[1])], dim=1)
        per_bp = per_bp[:, :window].cpu().numpy().astype(np.float32, copy=False)
        for row, gene in enumerate(gene_ids):
            chrom, start, end, strand = dataset.genomic_window(gene)
            scores = per_bp[row]
            if strand == "-":
                scores = scores[::-1]  # index i was genomic end - 1 - i
            lo = max(start, 0)
            hi = min(end, int(chrom_sizes.get(chrom, end)))
            yield GeneMask(int(gene), chrom, lo, hi, np.ascontiguousarray(scores[lo - start : hi - start]))


@torch.no_grad()
def contribution_totals(model: torch.nn.Module, dataset: Any, indices: np.ndarray, device: str | torch.device = "cpu",
                        batch_size: int = 8) -> dict[int, float]:
    """Gene id -> the sum of its unnormalised contributions (the denominator of
    ``contribution_scores``), batched as :func:`extract_masks` batches them."""
    device = resolve_device(device)
    net = _unwrap(model)
    net.eval()
    out: dict[int, float] = {}
    for batch in _loader(dataset, np.asarray(indices, dtype=np.int64), batch_size, 0, device):
        gene_ids = batch["index"].tolist()
        batch = _to_device(batch, device)
        with autocast(device):
            raw = net.contribution_scores(batch["seq"], batch["signals"], batch["features"], batch["blacklist"],
                                          normalize=False)
        for gene, total in zip(gene_ids, raw.sum(1).tolist()):
            out[int(gene)] = float(total)
    return out
