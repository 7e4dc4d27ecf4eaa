"""Masks on their way from every rank to rank 0: packed as runs, sent round by round, merged
back into the single-process order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def pack_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """float32[n] -> ``(values, run lengths int32)`` when runs shorten it, else ``(scores, None)``.

    Masks are computed per R-bp bin and expanded to bp, so runs shrink them about R-fold for
    the trip to rank 0. Exact: a run ends wherever the float32 bit pattern changes, so NaN
    payloads and -0.0 come back as they were (:func:`unpack_scores`).
    """
    data = np.ascontiguousarray(scores, dtype=np.float32)
    if data.size < 2:
        return data, None
    bits = data.view(np.uint32)
    starts = np.flatnonzero(bits[1:] != bits[:-1]) + 1
    if 2 * (starts.size + 1) >= data.size:  # values + lengths would not be smaller
        return data, None
    starts = np.concatenate([np.zeros(1, np.int64), starts])
    lengths = np.diff(np.append(starts, data.size)).astype(np.int32)
    return data[starts], lengths


def unpack_scores(values: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """The float32[n] that :func:`pack_scores` packed."""
    return values if lengths is None else np.repeat(values, lengths)


def rounds_of_masks(masks: Iterable[Any], batch_size: int, failures: list[Exception],
                     pack: bool = True) -> Iterable[list[tuple]]:
    """This rank's masks as one list of masks per round of ``batch_size`` genes, packed with
    :func:`pack_scores` when ``pack`` (they travel to rank 0; one process keeps them as they are).

    An exception while extracting ends this rank's stream (later rounds send nothing) and is
    kept in ``failures``, to be raised once every rank has finished the rounds.
    """
    source = iter(masks)
    while True:
        chunk: list[tuple] = []
        try:
            for mask in source:
                scores = pack_scores(mask.scores) if pack else (mask.scores, None)
                chunk.append((int(mask.index), str(mask.chrom), int(mask.start), int(mask.end), *scores))
                if len(chunk) == batch_size:
                    break
        except Exception as exc:  # noqa: BLE001 -- raised after the last round (no rank may be left waiting)
            failures.append(exc)
            return
        if not chunk:
            return
        yield chunk
        if len(chunk) < batch_size:
            return


def merged_masks(rounds: Iterable[list[Any]]) -> Iterable[Any]:
    """Rank 0: the masks of every round in the single-process order.

    Rank r's shard is ``indices[r::world]`` and every round carries ``batch_size`` consecutive
    genes of each shard, so taking the j-th mask of every rank in rank order, for j = 0, 1, ...,
    restores the order of ``indices``. ``mean`` then sums in the same order as one process would.
    """
    from seq2exp_cli.inference import GeneMask

    for parts in rounds:
        parts = [p or [] for p in parts]
        for j in range(max((len(p) for p in parts), default=0)):
            for part in parts:
                if j < len(part):
                    index, chrom, start, end, values, lengths = part[j]
                    yield GeneMask(index, chrom, start, end, unpack_scores(values, lengths))
