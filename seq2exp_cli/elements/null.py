"""The sequence null of called elements (model mode): p and q values that data can reject.

Null hypothesis: **the model's score does not depend on the order of the bases beyond the
dinucleotide counts of each ``block``-bp stretch**, everything else (signal tracks, Hi-C,
features) as it is. A score that only follows the chromatin signal, or local base composition,
satisfies it; a score that reads motifs can reject it where the motifs are.

The test runs the calling pipeline on shuffled genomes: every stored base is replaced by a
dinucleotide shuffle of its block (seeded), the genes' scores are recomputed with the same
windows and batches, combined into a track, and called with the same cutoff. With K shuffled
genomes (``shuffles``, default 2), genome K is the reference and genomes 1..K-1 give null
elements:

* statistic of a called element e: t_e = log(s_e / r_e), s_e its score (the maximum of the
  called track over it), r_e the maximum of the reference genome's track over it;
* null draws: t0_j = log(s_j / r_j) for every element j called on a null genome (s_j its score
  there), pooled;
* p_e = (1 + #{t0 >= t_e}) / (1 + number of null elements);
* q_e = the false discovery rate of keeping every element with t >= t_e: the null elements
  per null genome with t0 >= t_e (plus one, for caution) over the called elements with
  t >= t_e, capped at 1 and made monotone. Benjamini-Hochberg over p would assume that the
  genome makes as many calls as a null genome does, which a score that reads motifs breaks
  (its motif elements are called on the genome, hardly on a shuffle).

Under the null the real genome is one more draw of the shuffled genomes, so elements called on
it and on a null genome are alike, selection included: an element's score regresses towards
its shuffles' as much after either calling (the winner's curse is in both). A score that cannot
read sequence gives bit-identical tracks, so t_e = t0 = 0 and p = 1 everywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seq2exp_cli.elements.stats import empirical_pscores, null_fdr_qscores
from seq2exp_cli.errors import InputError
from seq2exp_cli.sequence_shuffle import shuffle_blocks

if TYPE_CHECKING:
    import torch

    from seq2exp_cli.elements.track import ScoreTrack

log = logging.getLogger(__name__)

# keeps log(s) finite for a zero score; scores of called elements are far above it
SCORE_FLOOR = 1e-30
#: shuffled regions a ShuffledGenome keeps (genes arrive in region order; a batch may straddle two)
CACHED_REGIONS = 2


@dataclass(frozen=True)
class NullSettings:
    """``shuffles`` shuffled genomes (>= 2: the last is the reference), each base shuffled
    within its ``block``-bp stretch of a stored region, seeded by ``seed``."""

    shuffles: int = 2
    block: int = 500
    seed: int = 0

    def check(self) -> None:
        if self.shuffles < 2:
            raise InputError(f"sequence null: shuffles={self.shuffles}; need >= 2 (a null genome and a reference)")
        if self.block < 3:
            raise InputError(f"sequence null: block={self.block} bp; need >= 3 for a dinucleotide shuffle")


@dataclass(frozen=True)
class SequenceNull:
    """Results of :func:`sequence_null_pvalues` for n called elements.

    score, reference float64[n]: s_e and r_e; statistic float64[n]: t_e; null float64[m]: the
    t0 of the m null elements; null_elements int64[K - 1]: elements called on each null
    genome; pscore, qscore float64[n]: -log10 p and -log10 q.
    """

    score: np.ndarray
    reference: np.ndarray
    statistic: np.ndarray
    null: np.ndarray
    null_elements: np.ndarray
    pscore: np.ndarray
    qscore: np.ndarray
    null_score: np.ndarray | None = None


class ShuffledGenome:
    """A view of a dataset whose windows read a shuffled genome: each stored region's bases,
    block by block, replaced by a dinucleotide shuffle (drawn on first use, seeded per region).

    Everything but ``load_gene``'s ``seq`` comes from the dataset unchanged; minus-strand
    windows get the reverse complement, as the dataset orients them.
    """

    def __init__(self, dataset: Any, block: int, seed: tuple[int, ...]) -> None:
        self._dataset = dataset
        self._block = block
        self._seed = seed
        regions = dataset.regions
        self._bounds = {int(r): (int(a), int(b)) for r, a, b in
                        zip(regions["region_id"], regions["start"], regions["end"])}
        self._region_of = dataset.genes["region"].to_numpy(np.int64)
        self._cache: dict[int, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def region_codes(self, region_id: int) -> np.ndarray:
        """The shuffled bases of one stored region (genomic orientation).

        Genes come in dataset order, so their regions do too: the cache keeps the last
        :data:`CACHED_REGIONS` regions (a batch may straddle two), not the whole genome."""
        if region_id not in self._cache:
            rng = np.random.default_rng([*self._seed, region_id])
            own = np.asarray(self._dataset.region_track(region_id, "seq"))
            while len(self._cache) >= CACHED_REGIONS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[region_id] = shuffle_blocks(own, self._block, rng)
        return self._cache[region_id]

    def load_gene(self, i: int) -> dict[str, Any]:
        from seq2exp_cli.dataset import COMPLEMENT

        item = self._dataset.load_gene(i)
        _, w_start, w_end, strand = self._dataset.genomic_window(i)
        rid = int(self._region_of[i])
        r_start, r_end = self._bounds[rid]
        lo, hi = max(w_start, r_start), min(w_end, r_end)
        piece = self.region_codes(rid)[lo - r_start : hi - r_start]
        seq = item["seq"].copy()
        if strand == "-":  # window index i is genomic w_end - 1 - i
            seq[w_end - hi : w_end - lo] = COMPLEMENT[piece][::-1]
        else:
            seq[lo - w_start : hi - w_start] = piece
        item["seq"] = seq
        return item


def span_max(track: ScoreTrack, chrom: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """float64[n]: the highest score of ``track`` over each interval (0 where nothing is scored)."""
    out = np.zeros(len(start))
    runs_of: dict[str, Any] = {}
    for k, (c, a, b) in enumerate(zip(np.asarray(chrom).astype(str).tolist(), np.asarray(start).tolist(),
                                      np.asarray(end).tolist())):
        if c not in runs_of:
            runs_of[c] = track.runs(c) if c in track.chrom_sizes else None
        runs = runs_of[c]
        if runs is None:
            continue
        lo = int(np.searchsorted(runs.ends, a, side="right"))
        hi = int(np.searchsorted(runs.starts, b, side="left"))
        if hi > lo:
            out[k] = float(runs.values[lo:hi].max())
    return out


def shuffled_track(model: torch.nn.Module, dataset: Any, view: ShuffledGenome, indices: np.ndarray, score: str,
                   combine: str, device: Any, batch_size: int, totals: dict[int, float] | None = None) -> ScoreTrack:
    """The combined score track of ``indices`` on a shuffled genome (the calling pass's steps);
    ``totals`` (contribution scores) divides each gene's evidence by its total on the real genome."""
    from seq2exp_cli.elements.combine import combine_gene_scores
    from seq2exp_cli.inference import extract_masks

    masks = extract_masks(model, view, indices, device=device, batch_size=batch_size, score=score,
                          shard_indices=False, totals=totals)
    # per stretch, as the calling pass does: a per-region mask is as long as the region
    return combine_gene_scores(dataset.regions, masks, dataset.chrom_sizes, combine,
                               blacklist=dataset.region_blacklist,
                               blacklist_bases=getattr(dataset, "blacklist_mask", None))


def sequence_null_pvalues(
    model: torch.nn.Module,
    dataset: Any,
    track: ScoreTrack,
    elements: Any,
    cutoff: float,
    min_length: int = 200,
    max_gap: int = 30,
    score: str = "mask",
    indices: np.ndarray | None = None,
    combine: str = "max",
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    settings: NullSettings = NullSettings(),
) -> SequenceNull:
    """-log10 p and q of each called element under the sequence null (module docstring).

    Args:
        model: the trained Seq2Exp (``inference.load_model``).
        dataset: the PreparedDataset the elements were called on.
        track: the combined score track they were called on.
        elements: a table with chrom, start, end, one row per element.
        cutoff, min_length, max_gap: the calling settings, applied to the null genomes.
        score: the per-gene score used for calling (``mask``, ``contribution``, ...).
        indices: the genes whose scores made ``track`` (default: every gene), in the same order
            and with the same ``batch_size``, so that a score blind to sequence reproduces
            ``track`` bit for bit.
        combine, device, batch_size: as for calling.
        settings: shuffled genomes, block size, seed.

    Returns:
        A :class:`SequenceNull`, rows in the order of ``elements``.
    """
    from seq2exp_cli.elements.regions import call_region_table
    from seq2exp_cli.inference import contribution_totals

    settings.check()
    indices = np.arange(len(dataset.genes)) if indices is None else np.asarray(indices, np.int64)
    chrom = np.asarray(elements["chrom"]).astype(str)
    start = np.asarray(elements["start"], np.int64)
    end = np.asarray(elements["end"], np.int64)
    score_e = span_max(track, chrom, start, end)
    # A contribution score is a share of its gene's evidence, which would hide the evidence a
    # shuffle destroys (the shares of a shuffled gene sum to 1 again): the null genomes' evidence
    # is divided by the real genome's totals instead.
    totals = contribution_totals(model, dataset, indices, device=device, batch_size=batch_size) \
        if score == "contribution" else None
    tracks = [shuffled_track(model, dataset, ShuffledGenome(dataset, settings.block, (settings.seed, k)), indices,
                             score, combine, device, batch_size, totals) for k in range(1, settings.shuffles + 1)]
    reference = tracks[-1]
    ref_e = span_max(reference, chrom, start, end)
    null, null_scores, counts = [], [], []
    for null_track in tracks[:-1]:
        called = call_region_table(null_track, cutoff, min_length, max_gap)
        s_j = np.asarray(called["summit_score"], np.float64)
        r_j = span_max(reference, called["chrom"], called["start"], called["end"])
        null.append(_log_ratio(s_j, r_j))
        null_scores.append(s_j)
        counts.append(len(called))
    null_t = np.concatenate(null) if null else np.zeros(0)
    statistic = _log_ratio(score_e, ref_e)
    pscore = empirical_pscores(statistic, null_t)
    qscore = null_fdr_qscores(statistic, null_t, len(counts))
    log.info("sequence null: %d elements called, %s on %d null genome(s) (one more shuffle is the reference); "
             "%d with q <= 0.05", len(start), "/".join(str(c) for c in counts), len(counts),
             int((qscore >= -np.log10(0.05)).sum()))
    return SequenceNull(score_e, ref_e, statistic, null_t, np.array(counts, np.int64), pscore, qscore,
                        np.concatenate(null_scores) if null_scores else np.zeros(0))


def _log_ratio(score: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(score, SCORE_FLOOR)) - np.log(np.maximum(reference, SCORE_FLOOR))
