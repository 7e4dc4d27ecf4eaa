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
from seq2exp_cli.model.motif_discovery import ACCESSIBLE_QUANTILE, access_track, discover_motifs

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
        if config.motif_channels and config.motif_channels != 2 * n_motifs:
            raise InputError(f"{source}: {n_motifs} motifs need motif_channels = {2 * n_motifs} beside the k-mer stem "
                             f"(it is {config.motif_channels}); set motif_channels from the motif file")
        return
    if config.resolution == 1:
        raise InputError(f"{source}: seeding motif detectors needs a convolutional stem (--resolution > 1); "
                         "give --motifs none or train at a coarser resolution")
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


#: a third of the stem's filters stay free to learn: ``d_model // 3`` motifs take two each
SEEDED_SHARE = 3
#: a motif "hit" is a position whose log-odds score reaches this fraction of the motif's best
HIT_FRACTION = 0.8
#: training windows scanned to rank the motifs (evenly spaced over the train genes)
RANK_WINDOWS = 16


#: motifs a k-mer stem scans beside its k-mers (two fixed filters each): the scan runs over every
#: base, so its width sets most of a CPU step's cost
KMER_STEM_MOTIFS = 32


def motif_capacity(config) -> int:
    """How many motifs seed the stem: ``d_model // SEEDED_SHARE`` (two filters each), or
    KMER_STEM_MOTIFS fixed motif channels beside a k-mer stem."""
    if getattr(config, "stem", "conv") == "kmer":
        return KMER_STEM_MOTIFS
    return max(1, config.d_model // SEEDED_SHARE)


def fit_motif_channels(config, n_motifs: int) -> None:
    """Give a k-mer stem's config the fixed motif channels for ``n_motifs`` (two each); a
    convolutional stem's config is left as it is."""
    if getattr(config, "stem", "conv") == "kmer":
        config.motif_channels = 2 * n_motifs


def _hit_counts(motifs: list[Motif], background: np.ndarray, seq: np.ndarray, accessible: np.ndarray,
                kernel: int, chunk: int = 20_000) -> np.ndarray:
    """int64[n_motifs, 2]: hits (either strand) on accessible and on other bases of ``seq``."""
    filters, thresholds, widths = [], [], []
    for motif in motifs:
        for strand in (motif, motif.reverse_complement()):
            scores = _core(log_odds(strand, background), kernel)
            filters.append(scores.T)
            thresholds.append(HIT_FRACTION * float(scores.max(1).sum()))
            widths.append(scores.shape[0])
    width = max(widths)
    weight = np.zeros((len(filters), 4, width), dtype=np.float32)
    for k, f in enumerate(filters):
        weight[k, :, : f.shape[1]] = f
    weight_t = torch.from_numpy(weight)
    limit = torch.tensor(thresholds, dtype=torch.float32)[:, None]
    counts = np.zeros((len(motifs), 2), dtype=np.int64)
    valid = seq < 4
    onehot = np.zeros((4, len(seq)), dtype=np.float32)
    onehot[seq[valid], np.flatnonzero(valid)] = 1.0
    for lo in range(0, len(seq) - width + 1, chunk):
        hi = min(len(seq), lo + chunk + width - 1)
        with torch.no_grad():
            out = torch.nn.functional.conv1d(torch.from_numpy(onehot[None, :, lo:hi]), weight_t[:, :, :])[0]
        hit = (out >= limit).reshape(len(motifs), 2, -1).any(1).numpy()  # a hit starting at lo + t
        centre = accessible[lo + width // 2: lo + width // 2 + hit.shape[1]]
        counts[:, 0] += (hit & centre[None, :]).sum(1)
        counts[:, 1] += (hit & ~centre[None, :]).sum(1)
    return counts


def choose_motifs(motifs: list[Motif], background: np.ndarray, dataset: Any, config: Any,
                  source: str) -> tuple[list[Motif], dict[str, Any]]:
    """The motifs that seed the stem, and a JSON-safe record of the choice (for run.json).

    Rule: when more motifs are given than :func:`motif_capacity`, rank them by the enrichment of
    their hits in accessible bases of the training windows, log2((hits on accessible bases / their
    number) / (hits elsewhere / their number)) with one pseudo-hit on each side, and keep the top
    ones; a hit reaches HIT_FRACTION of the motif's best log-odds score on either strand, and the
    accessible bases are those of the DNase/ATAC track above its ACCESSIBLE_QUANTILE over
    RANK_WINDOWS evenly spaced training windows. Without an accessibility track, the file order."""
    capacity = motif_capacity(config)
    record: dict[str, Any] = {"source": source, "n_motifs": len(motifs), "capacity": capacity,
                              "rule": "all (they fit)" if len(motifs) <= capacity else None}
    if len(motifs) <= capacity:
        record["chosen"] = [m.name for m in motifs]
        return motifs, record
    track = access_track(list(dataset.signal_names))
    train = dataset.labelled(dataset.indices("train"))
    if track is None or len(train) == 0:
        log.warning("%s: no accessibility track to rank motifs by; the first %d motifs seed the stem", source, capacity)
        record.update(rule="file order (no accessibility track)", chosen=[m.name for m in motifs[:capacity]])
        return motifs[:capacity], record
    picks = train[np.linspace(0, len(train) - 1, min(RANK_WINDOWS, len(train))).astype(int)]
    seqs, signal = [], []
    for i in picks:
        item = dataset.load_gene(int(i))
        seqs.append(item["seq"])
        signal.append(np.asarray(item["signals"][:, track], dtype=np.float32))
    seq, signal = np.concatenate(seqs), np.concatenate(signal)
    cut = max(float(np.quantile(signal, ACCESSIBLE_QUANTILE)), 0.0)
    accessible = (signal > cut) & (seq < 4)
    other = ~accessible & (seq < 4)
    counts = _hit_counts(motifs, background, seq, accessible, config.stem_kernel)
    n_acc, n_other = max(int(accessible.sum()), 1), max(int(other.sum()), 1)
    enrichment = np.log2(((counts[:, 0] + 1) / n_acc) / ((counts[:, 1] + 1) / n_other))
    order = np.argsort(-enrichment, kind="stable")[:capacity]
    record.update(
        rule=(f"top {capacity} by log2 enrichment of hits (score >= {HIT_FRACTION} x best) in accessible bases "
              f"({dataset.signal_names[track]} > its {ACCESSIBLE_QUANTILE} quantile) vs the other bases"),
        windows=int(len(picks)), accessible_bases=int(accessible.sum()), other_bases=int(other.sum()),
        chosen=[{"name": motifs[k].name, "log2_enrichment": round(float(enrichment[k]), 3),
                 "hits_accessible": int(counts[k, 0]), "hits_other": int(counts[k, 1])} for k in order])
    log.info("%s: %d of %d motifs seed the stem, most enriched in accessible bases: %s", source, capacity,
             len(motifs), ", ".join(motifs[k].name for k in order[:5]))
    return [motifs[k] for k in order], record


def motif_seeding(spec: str, dataset: Any, config: Any
                  ) -> tuple[list[Motif], dict[str, Any], Callable[[Any], torch.nn.Module] | None]:
    """``--motifs``: the motifs that seed the stem, a record for run.json and a ``fit`` model
    factory (None when ``denovo`` finds nothing: the model is then built as without motifs).

    ``spec`` is ``denovo`` (motifs discovered in the training windows' accessible DNA,
    :mod:`seq2exp_cli.model.motif_discovery`), ``jaspar[:...]`` or a MEME file (the most enriched
    ones within the stem's capacity, :func:`choose_motifs`). Sets ``config.motif_channels`` for a
    k-mer stem. Raises InputError when a motif file or JASPAR cannot seed the stem."""
    from seq2exp_cli.io.motifs import load_motifs

    if spec == "denovo":
        check_stem_fits(config, 1, "--motifs denovo")
        chosen, background, record = discover_motifs(dataset, motif_capacity(config))
        if not chosen:  # nothing to seed: the k-mer stem learns the sequence alone
            log.warning("--motifs denovo: no k-mer is over-represented in the accessible bases of the training "
                        "windows (or there is no DNase/ATAC track); training without motif channels")
            return [], record, None
        source = "denovo"
    else:
        motifs, background, source = load_motifs(spec)
        check_stem_fits(config, 1, source)
        chosen, record = choose_motifs(motifs, background, dataset, config, source)
    fit_motif_channels(config, len(chosen))
    return chosen, record, seeded_model_factory(chosen, background, source)
