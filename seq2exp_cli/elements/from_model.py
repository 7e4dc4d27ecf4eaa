"""call-elements in model mode: every gene's mask (on every rank) -> combined track -> calling."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seq2exp_cli.column_table import ColumnTable
from seq2exp_cli.elements.calling import CalledElements, call_and_write, call_tables, log_called
from seq2exp_cli.elements.combine import GeneScoreSpill, combine_gene_scores
from seq2exp_cli.elements.null import NullSettings
from seq2exp_cli.elements.packing import merged_masks, rounds_of_masks
from seq2exp_cli.elements.settings import CallSettings
from seq2exp_cli.elements.track import ScoreTrack
from seq2exp_cli.errors import InputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


SCORES = ("auto", "mask", "contribution")


def resolve_score(score: str, readout: str, settings: CallSettings, run_dir: str | os.PathLike) -> str:
    """``mask`` or ``contribution`` for ``--score`` given the model's readout; raises InputError
    for a contribution score without the additive readout."""
    if score not in SCORES:
        raise InputError(f"--score {score!r}: use one of {', '.join(SCORES)}")
    with_contributions = readout in ("additive", "factorized")
    if score == "auto":
        score = "contribution" if with_contributions else "mask"
    if score == "contribution" and not with_contributions:
        raise InputError(f"--score contribution: the model in {run_dir} has readout {readout!r}, which has no "
                         "per-bin contributions; use --score mask or train with readout = \"factorized\"")
    return score


def _model_hooks(model: Any, data: Any, indices: np.ndarray, settings: CallSettings, score: str, combine: str,
                 device: Any, batch_size: int, resolution: int) -> tuple[Callable | None, Callable | None]:
    """call_and_write's model-mode steps: base-pair edges from the dataset's tracks, and p/q
    from the sequence null (shuffled genomes scored on this process alone)."""
    from seq2exp_cli.elements import edges as element_edges
    from seq2exp_cli.elements import null as element_null

    def refine(regions: ColumnTable, track: ScoreTrack) -> ColumnTable:
        return element_edges.refine_edges(regions, track.runs, element_edges.dataset_evidence(data), resolution)

    def null(elements: ColumnTable, track: ScoreTrack, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
        result = element_null.sequence_null_pvalues(
            model, data, track, elements, cutoff, settings.min_length, settings.max_gap, score=score,
            indices=indices, combine=combine, device=device, batch_size=batch_size,
            settings=NullSettings(shuffles=settings.null_shuffles, seed=settings.null_seed))
        return result.pscore, result.qscore

    return (refine if resolution > 1 else None), (null if settings.null_shuffles >= 2 else None)


def _load(run_dir: str | os.PathLike, dataset_dir: str | os.PathLike, device: Any, settings: CallSettings,
          split: str, score: str) -> tuple[Any, Any, dict[str, Any], str, np.ndarray]:
    """The dataset, the model (checked against it), its config, the score kind and the genes."""
    from seq2exp_cli import inference
    from seq2exp_cli.dataset import PreparedDataset

    data = PreparedDataset(dataset_dir)
    model, meta = inference.load_model(run_dir, device)
    inference.check_compatible(meta, data)
    config = meta.get("model_config") or {}
    score = resolve_score(score, str(config.get("readout", "promoter")), settings, run_dir)
    settings.check(has_null=True)
    indices = data.indices(split)
    if len(indices) == 0:
        raise InputError(f"{dataset_dir}: no genes in split {split!r}; choose another --split")
    return data, model, config, score, indices


def call_elements_from_model(
    run_dir: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    paths: dict[str, Path],
    settings: CallSettings,
    combine: str = "max",
    split: str = "all",
    device: str | torch.device = "auto",
    batch_size: int = 8,
    score: str = "auto",
) -> dict[str, Any] | None:
    """Extract every gene's mask, combine, call, link and write ``paths``; returns the summary of
    call_and_write (with ``score``: the per-gene score used), None on ranks other than 0.

    ``score``: ``mask`` (the bottleneck's mean mask), ``contribution`` (each bin's share of the
    gene's predicted regulatory input; models with the additive readout) or ``auto``
    (contribution when the model has the additive readout, else mask).

    Under torchrun every rank loads the model and the dataset and extracts the masks of its
    shard of the genes (``indices[rank::world]``, batched on its GPU); the masks stream to
    rank 0 round by round (one batch per rank per round, packed as runs) through a gloo group,
    so no filesystem needs to be shared for them and rank 0 holds at most world x batch_size
    windows at a time. Rank 0 alone combines them in the single-process order (so the outputs
    equal one process's wherever a gene's mask does not depend on the genes batched with it),
    calls and writes; the other ranks write nothing and return None. An error on any rank
    before the calling is raised on every rank.
    """
    def write(track: ScoreTrack, spill: GeneScoreSpill, genes: Any, refine: Callable | None,
              element_null: Callable | None) -> dict[str, Any]:
        return call_and_write(track, paths, settings, spill=spill, genes=genes, refine=refine,
                              element_null=element_null)

    result = _from_model(run_dir, dataset_dir, paths["narrowPeak"].parent, settings, combine, split, device,
                         batch_size, score, write)
    if result is None:
        return None
    summary, score_used = result
    summary["score"] = score_used
    return summary


def called_from_model(
    run_dir: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    settings: CallSettings,
    stem: str,
    scratch: str | os.PathLike,
    combine: str = "max",
    split: str = "all",
    device: str | torch.device = "auto",
    batch_size: int = 8,
    score: str = "auto",
) -> tuple[CalledElements, str] | None:
    """As :func:`call_elements_from_model`, but the elements come back as tables (named
    ``STEM_element_N``) with the score kind used, and nothing is written but the per-gene
    scores' temporary file in ``scratch``; None on ranks other than 0."""
    def tables(track: ScoreTrack, spill: GeneScoreSpill, genes: Any, refine: Callable | None,
               element_null: Callable | None) -> CalledElements:
        called = call_tables(track, settings, stem, spill=spill, genes=genes, refine=refine,
                             element_null=element_null)
        log_called(called, written=False)
        return called

    return _from_model(run_dir, dataset_dir, scratch, settings, combine, split, device, batch_size, score, tables)


def _from_model(run_dir: str | os.PathLike, dataset_dir: str | os.PathLike, scratch: str | os.PathLike,
                settings: CallSettings, combine: str, split: str, device: str | torch.device, batch_size: int,
                score: str, finish: Callable[..., Any]) -> tuple[Any, str] | None:
    """Masks on every rank -> the combined track on rank 0 -> ``finish(track, spill, genes,
    refine, element_null)``; returns (its result, the score kind) on rank 0, None elsewhere."""
    import torch

    from seq2exp_cli import distributed, inference

    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be >= 1")
    device = distributed.setup(device)  # a no-op when the CLI has already joined the group
    if distributed.world_size() > 1 and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        # without a process group every process would call (and write) its own shard alone
        raise InputError(f"WORLD_SIZE={distributed.world_size()}: this torch has no usable torch.distributed; "
                         "run call-elements as one process")
    with distributed.errors_on_every_rank():
        data, model, config, score, indices = _load(run_dir, dataset_dir, device, settings, split, score)
    world, leader = distributed.world_size(), distributed.rank() == 0
    per_rank = -(-len(indices) // world)  # the longest shard: ceil(n / world) genes
    n_rounds = -(-per_rank // batch_size)
    group = distributed.object_group()
    failures: list[Exception] = []
    masks = inference.extract_masks(model, data, indices, device=device, batch_size=batch_size, score=score)
    rounds = rounds_of_masks(masks, batch_size, failures, pack=world > 1)
    stream = distributed.gather_rounds(rounds, n_rounds, group)
    if world > 1:
        log.info("extracting the masks of %d genes on %d processes (%d rounds)", len(indices), world, n_rounds)
    spill = GeneScoreSpill(scratch) if leader else None
    try:
        with distributed.errors_on_every_rank(group):
            try:
                if leader:
                    track = combine_gene_scores(data.regions, merged_masks(stream), data.chrom_sizes, combine,
                                                spill=spill, blacklist_bases=getattr(data, "blacklist_mask", None),
                                                blacklist=getattr(data, "region_blacklist", None))
            finally:
                for _ in stream:  # every rank takes every round, even after an error here
                    pass
            if failures:
                raise failures[0]
        if not leader:
            return None
        refine, element_null = _model_hooks(model, data, indices, settings, score, combine, device, batch_size,
                                            int(config.get("resolution", 1)))
        return finish(track, spill, data.genes, refine, element_null), score
    finally:
        if spill is not None:
            spill.close()
