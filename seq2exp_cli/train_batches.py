"""What each training step sees: the data order (a pure function of seed and epoch), this rank's
slice of every global batch, and the random window shifts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from seq2exp_cli.distributed import rank, world_size


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


class BatchPlan:
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
