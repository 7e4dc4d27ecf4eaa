"""Start the stem's motif detectors from known motifs (a MEME file such as JASPAR's).

A convolution learns 12-bp motifs from gene-level expression only slowly: on the small
simulation, without seeding, held-out Pearson stops near 0.7 and the model overfits, with
seeding it keeps improving (benchmarks/results/quickstart_small.md). Seeding sets two filters
per motif (both strands) to the motif's log-odds against the background, with a bias that makes
the filter fire only near the motif's best score. The filters stay trainable, the rest of the
stem keeps its random initialisation, and nothing in the model's shape changes: a seeded model is
saved and loaded like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.motifs import Motif

log = logging.getLogger(__name__)

#: pseudo-count (in sites) mixed into each column before taking log-odds, so that a base never
#: seen in the motif's sites costs a finite penalty
PSEUDO_SITES = 20.0
#: a seeded filter's output is positive when its log-odds score exceeds this fraction of the
#: motif's best score (a consensus site clears it with one mismatch to spare in a 12-mer)
THRESHOLD_FRACTION = 0.6
#: overall scale of the seeded weights (keeps GELU inputs of order 1-5 at a consensus site)
WEIGHT_SCALE = 0.5


def log_odds(motif: Motif, background: np.ndarray) -> np.ndarray:
    """[w, 4] natural-log odds of the motif (with PSEUDO_SITES pseudo-counts) against ``background``."""
    bg = np.asarray(background, dtype=np.float64)
    probs = (motif.probs * PSEUDO_SITES + bg) / (PSEUDO_SITES + 1.0)
    return np.log(probs / bg)


def _core(scores: np.ndarray, kernel: int) -> np.ndarray:
    """The ``kernel`` consecutive columns with the most information, when the motif is wider."""
    if scores.shape[0] <= kernel:
        return scores
    info = scores.max(1)
    best = int(np.argmax(np.convolve(info, np.ones(kernel), mode="valid")))
    return scores[best:best + kernel]


def check_stem_fits(config, n_motifs: int, source: str = "motif file") -> None:
    """Raise InputError when a model built from ``config`` (a ModelConfig) cannot hold
    ``n_motifs`` seeded motifs: a resolution-1 stem has no convolution, and each motif takes two
    of the d_model filters (both strands); a k-mer stem needs motif_channels = 2 x n_motifs."""
    if getattr(config, "stem", "conv") == "kmer":
        if config.motif_channels != 2 * n_motifs:
            raise InputError(f"{source}: {n_motifs} motifs need motif_channels = {2 * n_motifs} beside the k-mer stem "
                             f"(it is {config.motif_channels}); set motif_channels from the motif file")
        return
    if config.resolution == 1:
        raise InputError(f"{source}: seeding motif detectors needs a convolutional stem (--resolution > 1); "
                         "drop --motifs or train at a coarser resolution")
    if 2 * n_motifs > config.d_model:
        raise InputError(f"{source}: {n_motifs} motifs need {2 * n_motifs} filters (both strands) but the stem has "
                         f"{config.d_model} (d_model); give a smaller motif set or raise --d-model to at least "
                         f"{2 * n_motifs}")


def seed_stem_filters(model: torch.nn.Module, motifs: list[Motif], background: np.ndarray,
                      source: str = "motif file") -> int:
    """Overwrite the first 2 x len(motifs) filters of ``model.stem``'s convolution with the motifs
    (forward strand, then reverse complement); returns the number of filters set.

    Raises InputError when the stem has no convolution (resolution 1) or too few filters."""
    check_stem_fits(model.config, len(motifs), source)
    conv = model.stem.motif_scan if model.stem.motif_scan is not None else model.stem.seq_embed
    n_filters, _, kernel = conv.weight.shape
    with torch.no_grad():
        c = 0
        for motif in motifs:
            for strand in (motif, motif.reverse_complement()):
                scores = _core(log_odds(strand, background), kernel)
                width = scores.shape[0]
                offset = (kernel - width) // 2
                weight = torch.zeros(4, kernel, dtype=conv.weight.dtype)
                weight[:, offset:offset + width] = torch.as_tensor(scores.T, dtype=conv.weight.dtype)
                conv.weight[c] = WEIGHT_SCALE * weight
                conv.bias[c] = -WEIGHT_SCALE * THRESHOLD_FRACTION * float(scores.max(1).sum())
                c += 1
    log.info("seeded %d of %d stem filters from %d motifs in %s", c, n_filters, len(motifs), source)
    return c


def seeded_model_factory(motifs: list[Motif], background: np.ndarray, source: str) -> Callable[[Any], torch.nn.Module]:
    """A ``fit`` model factory: Seq2Exp(config) with its stem seeded from ``motifs``."""
    from seq2exp_cli.model.seq2exp import Seq2Exp

    def build(config: Any) -> torch.nn.Module:
        model = Seq2Exp(config)
        seed_stem_filters(model, motifs, background, source)
        return model

    return build
