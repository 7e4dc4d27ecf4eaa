"""The sequence null of called elements (model mode): p and q values that data can reject.

Null hypothesis for element e: **the model scores e's own bases no higher than
dinucleotide-preserving shuffles of them**, every other input (signal tracks, Hi-C, features,
the rest of each window) unchanged. A score that only follows the chromatin signal, or the
base composition, satisfies it; a score that reads motifs, or any other order of e's bases
beyond its dinucleotide counts, can reject it.

For each element the gene windows that cover it are scored three times (more with
``shuffles > 2``), with identical batches: with e's own bases (s_e), and with two independent
shuffles of them (s_e^1, s_e^2). The element's score is the one it was called on: the maximum,
over its bases, of the genes' scores combined as for calling (max or mean over the genes).
Then

* statistic t_e = log(s_e / s_e^1);
* null draws t0_e = log(s_e^k / s_e^1), k = 2..K. Under the null the element's own bases are
  one more draw from its dinucleotide class, so t_e and t0_e have the same distribution;
* p_e = (1 + #{t0 >= t_e}) / (1 + number of null draws), the draws pooled over all elements;
* q by Benjamini-Hochberg over the elements.

Scoring all three versions in the same batches makes a score that cannot read sequence give
bit-identical s_e = s_e^1 = s_e^2, hence t_e = t0 = 0 and p = 1 for every element. The
elements of one window are shuffled together (they are disjoint), so the cost is 3 forward
passes of the windows that cover an element, and an element's test also sees what shuffling
its neighbours in the same window does to its own score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seq2exp_cli.element_stats import bh_qscores, empirical_pscores
from seq2exp_cli.errors import InputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# keeps log(s) finite for a zero score; scores of called elements are far above it
SCORE_FLOOR = 1e-30


@dataclass(frozen=True)
class NullSettings:
    """How the sequence null is drawn: ``shuffles`` shuffles per element (>= 2), seeded by ``seed``."""

    shuffles: int = 2
    seed: int = 0

    def check(self) -> None:
        if self.shuffles < 2:
            raise InputError(f"sequence null: shuffles={self.shuffles}; need >= 2 (one reference, one null draw)")


@dataclass(frozen=True)
class SequenceNull:
    """Per-element results of :func:`sequence_null_pvalues` (n elements, K shuffles).

    scores float64[n, 1 + K]: the element's score with its own bases, then with each shuffle;
    statistic float64[n]: t_e; null float64[n (K - 1)]: the pooled draws t0;
    pscore, qscore float64[n]: -log10 p and -log10 q (BH).
    """

    scores: np.ndarray
    statistic: np.ndarray
    null: np.ndarray
    pscore: np.ndarray
    qscore: np.ndarray


# ---------------------------------------------------------------------------------------------
# the shuffle


def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform random sequence with the same dinucleotide counts and first base as ``codes``.

    Altschul-Erickson via a random Eulerian trail (Kandel et al. 1996): the last exit of every
    letter is drawn as a uniform random arborescence towards the final letter (Wilson's
    algorithm over the labelled edges), the other exits are permuted uniformly, and the trail is
    walked from the first letter. N (code 4) is a letter like the others.
    """
    s = np.asarray(codes, dtype=np.uint8)
    n = s.shape[0]
    if n < 3:
        return s.copy()
    src, dst = s[:-1], s[1:]
    last = int(s[-1])
    letters = [int(u) for u in np.unique(src)]
    exits = {u: np.flatnonzero(src == u) for u in letters}
    tree_exit: dict[int, int] = {}
    in_tree = {last}
    for u in letters:
        v = u
        while v not in in_tree:  # loop-erased random walk: later visits overwrite the exit
            edge = int(exits[v][rng.integers(exits[v].shape[0])])
            tree_exit[v] = edge
            v = int(dst[edge])
        v = u
        while v not in in_tree:
            in_tree.add(v)
            v = int(dst[tree_exit[v]])
    order: dict[int, list[int]] = {}
    for u in letters:
        edges = exits[u]
        if u in tree_exit:
            others = edges[edges != tree_exit[u]]
            order[u] = rng.permutation(others).tolist() + [tree_exit[u]]
        else:
            order[u] = rng.permutation(edges).tolist()
    used = dict.fromkeys(letters, 0)
    out = np.empty(n, np.uint8)
    out[0] = cur = int(s[0])
    for i in range(1, n):
        edge = order[cur][used[cur]]
        used[cur] += 1
        cur = int(dst[edge])
        out[i] = cur
    return out


def genomic_codes(dataset: Any, chrom: str, start: int, end: int) -> np.ndarray:
    """Base codes uint8[end - start] of ``chrom:start-end`` from the dataset's stored regions
    (N where no region stores the base)."""
    from seq2exp_cli.dataset import BASE_N

    out = np.full(end - start, BASE_N, np.uint8)
    regions = dataset.regions
    hit = regions[(regions["chrom"] == chrom) & (regions["end"] > start) & (regions["start"] < end)]
    for rid, r_start, r_end in zip(hit["region_id"].tolist(), hit["start"].tolist(), hit["end"].tolist()):
        seq = dataset.region_track(int(rid), "seq")
        a, b = max(start, int(r_start)), min(end, int(r_end))
        out[a - start : b - start] = seq[a - int(r_start) : b - int(r_start)]
    return out


# ---------------------------------------------------------------------------------------------
# windows with replaced bases


class _Elements:
    """Element intervals per chromosome (sorted by start): positions in the caller's order."""

    def __init__(self, chrom: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        self.by_chrom: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for c in dict.fromkeys(chrom.tolist()):
            at = np.flatnonzero(chrom == c)
            at = at[np.argsort(start[at], kind="stable")]
            self.by_chrom[str(c)] = (start[at], end[at], at)

    def overlapping(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Positions of the elements that overlap ``[start, end)`` (elements are disjoint)."""
        entry = self.by_chrom.get(chrom)
        if entry is None:
            return np.zeros(0, np.int64)
        starts, ends, at = entry
        lo = int(np.searchsorted(ends, start, side="right"))
        hi = int(np.searchsorted(starts, end, side="left"))
        return at[lo:hi]


class ReplacedBases:
    """A view of a dataset whose windows read ``codes[j]`` over element j (genomic orientation).

    Everything but ``load_gene``'s ``seq`` comes from the dataset unchanged; minus-strand
    windows get the reverse complement, as the dataset orients them.
    """

    def __init__(self, dataset: Any, elements: _Elements, start: np.ndarray, codes: list[np.ndarray]) -> None:
        self._dataset = dataset
        self._elements = elements
        self._start = start
        self._codes = codes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def load_gene(self, i: int) -> dict[str, Any]:
        from seq2exp_cli.dataset import COMPLEMENT

        item = self._dataset.load_gene(i)
        chrom, w_start, w_end, strand = self._dataset.genomic_window(i)
        seq = item["seq"].copy()
        for j in self._elements.overlapping(chrom, w_start, w_end).tolist():
            e_start = int(self._start[j])
            bases = self._codes[j]
            a, b = max(e_start, w_start), min(e_start + bases.shape[0], w_end)
            piece = bases[a - e_start : b - e_start]
            if strand == "-":  # window index i is genomic w_end - 1 - i
                seq[w_end - b : w_end - a] = COMPLEMENT[piece][::-1]
            else:
                seq[a - w_start : b - w_start] = piece
        item["seq"] = seq
        return item


# ---------------------------------------------------------------------------------------------
# scoring


def _element_scores(masks: Any, elements: _Elements, start: np.ndarray, end: np.ndarray, combine: str) -> np.ndarray:
    """float64[n]: max over each element's bases of the genes' per-bp scores combined by ``combine``."""
    n = start.shape[0]
    acc = [np.full(int(end[j] - start[j]), np.nan) if combine == "max" else np.zeros(int(end[j] - start[j]))
           for j in range(n)]
    count = [np.zeros(int(end[j] - start[j])) for j in range(n)] if combine == "mean" else None
    for mask in masks:
        for j in elements.overlapping(mask.chrom, mask.start, mask.end).tolist():
            a, b = max(int(start[j]), mask.start), min(int(end[j]), mask.end)
            piece = np.asarray(mask.scores[a - mask.start : b - mask.start], np.float64)
            sl = slice(a - int(start[j]), b - int(start[j]))
            if combine == "max":
                np.fmax(acc[j][sl], piece, out=acc[j][sl])
            else:
                acc[j][sl] += piece
                count[j][sl] += 1
    out = np.zeros(n)
    for j in range(n):
        values = acc[j] if combine == "max" else np.where(count[j] > 0, acc[j] / np.maximum(count[j], 1), np.nan)
        out[j] = np.nanmax(values) if np.isfinite(values).any() else 0.0
    return out


def covering_genes(dataset: Any, indices: np.ndarray, elements: _Elements) -> np.ndarray:
    """The genes of ``indices`` whose window overlaps at least one element, in ``indices`` order."""
    keep = [int(i) for i in np.asarray(indices, np.int64).tolist()
            if elements.overlapping(*dataset.genomic_window(int(i))[:3]).size]
    return np.array(keep, np.int64)


def sequence_null_pvalues(
    model: torch.nn.Module,
    dataset: Any,
    elements: Any,
    score: str = "mask",
    indices: np.ndarray | None = None,
    combine: str = "max",
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    settings: NullSettings = NullSettings(),
) -> SequenceNull:
    """-log10 p and q of each element under the sequence null (see the module docstring).

    Args:
        model: a trained Seq2Exp (``inference.load_model``).
        dataset: the PreparedDataset the elements were called on.
        elements: a table with chrom, start, end, one row per element, disjoint (a narrowPeak
            table with sub-peak rows collapsed, e.g. by ``first_region_rows``).
        score: the per-gene score used for calling (``mask``, ``contribution``).
        indices: the genes whose scores made the track (default: every gene).
        combine: ``max`` or ``mean``, as for calling.
        device, batch_size: as for ``inference.extract_masks``.
        settings: number of shuffles and the seed.

    Returns:
        A :class:`SequenceNull`, rows in the order of ``elements``.
    """
    from seq2exp_cli.inference import extract_masks

    settings.check()
    chrom = np.asarray(elements["chrom"]).astype(str)
    start = np.asarray(elements["start"], np.int64)
    end = np.asarray(elements["end"], np.int64)
    n = start.shape[0]
    if n == 0:
        empty = np.zeros(0)
        return SequenceNull(np.zeros((0, 1 + settings.shuffles)), empty, empty, empty, empty)
    index = _Elements(chrom, start, end)
    genes = covering_genes(dataset, np.arange(len(dataset.genes)) if indices is None else indices, index)
    own = [genomic_codes(dataset, c, int(a), int(b)) for c, a, b in zip(chrom.tolist(), start, end)]
    scores = np.zeros((n, 1 + settings.shuffles))
    for k in range(1 + settings.shuffles):
        if k == 0:
            codes = own
        else:
            codes = [dinucleotide_shuffle(bases, np.random.default_rng([settings.seed, j, k]))
                     for j, bases in enumerate(own)]
        view = ReplacedBases(dataset, index, start, codes)
        masks = extract_masks(model, view, genes, device=device, batch_size=batch_size, score=score,
                              shard_indices=False)
        scores[:, k] = _element_scores(masks, index, start, end, combine)
    logs = np.log(np.maximum(scores, SCORE_FLOOR))
    statistic = logs[:, 0] - logs[:, 1]
    null = (logs[:, 2:] - logs[:, 1:2]).reshape(-1)
    pscore = empirical_pscores(statistic, null)
    qscore = bh_qscores(pscore)
    log.info("sequence null: %d elements, %d genes scored %d times; %d of them with q < 0.05",
             n, genes.shape[0], 1 + settings.shuffles, int((qscore > -np.log10(0.05)).sum()))
    return SequenceNull(scores, statistic, null, pscore, qscore)
