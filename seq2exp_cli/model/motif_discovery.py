"""De novo motifs from the data: k-mers over-represented in accessible DNA, grown into PWMs.

Why: without a motif database the k-mer stem learns the vocabulary from one number per gene and
stays well below the accuracy it reaches when the right PWMs sit among many useless ones
(benchmarks/results/bench_accuracy_medium.md). The sites of the factors that open chromatin are
over-represented in accessible DNA, which is how HOMER and STREME find motifs in DNase/ATAC
peaks; the same counts, taken on the training windows, give PWMs for the fixed motif channels.
Which of them matter for expression is still learned (the factorized readout's gate), so a motif
of a factor that opens chromatin without acting on the gene costs a channel, not a false element.

Method (deterministic, no randomness):

1. Up to ``SAMPLE_WINDOWS`` non-overlapping training windows are cut into ``CHUNK``-bp chunks; a
   chunk is accessible when its mean accessibility is above the ``ACCESSIBLE_QUANTILE`` of the
   chunks (and above 0).
2. Canonical k-mers (``k = DISCOVERY_K``) are counted on the accessible chunks (A) and on the
   others, weighted to the accessible chunks' GC distribution (``GC_STRATA`` strata), which gives
   the expected count E of every k-mer; z = (A - E) / sqrt(E + 1).
3. Greedily, the k-mer with the highest z (z >= MIN_Z, A >= MIN_SITES, A >= MIN_FOLD x E) seeds a
   motif. Its sites are the accessible occurrences of the seed and of its one-mismatch neighbours
   that are enriched too, oriented like the seed; the PWM is their base frequencies with
   ``FLANK`` bases each side, with low-information end columns trimmed. Every k-mer that occurs
   mostly inside these sites then retires, so the next seed is another motif.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from seq2exp_cli.io.motifs import ALPHABET, Motif
from seq2exp_cli.model.kmer_stem import kmer_ids

log = logging.getLogger(__name__)

DISCOVERY_K = 8
#: training windows sampled (non-overlapping, evenly spaced over the train genes)
SAMPLE_WINDOWS = 64
CHUNK = 100
#: accessible DNA: the accessibility track above this quantile (and above 0); motif ranking
#: (motif_init.choose_motifs) applies it to bases, discovery to 100-bp chunks
ACCESSIBLE_QUANTILE = 0.9
GC_STRATA = 10
MIN_Z = 8.0
MIN_FOLD = 2.0
MIN_SITES = 20
#: bases added on each side of a seed's sites before the PWM is trimmed
FLANK = 4
#: end columns below this information (bits) are trimmed (the seed's own columns always stay)
MIN_INFORMATION = 0.5
#: a k-mer retires when at least this share of its accessible occurrences lies in a motif's sites
RETIRE_SHARE = 0.5
_BASE_N = 4
_ACCESS_NAMES = ("dnase", "atac", "access")


def access_track(signal_names: list[str]) -> int | None:
    """Index of the accessibility track (DNase/ATAC by name, else the first track), or None."""
    for k, name in enumerate(signal_names):
        if any(key in name.lower() for key in _ACCESS_NAMES):
            return k
    return 0 if signal_names and signal_names[0].lower() != "hic" else None


def _disjoint_windows(dataset: Any, genes: np.ndarray, limit: int) -> np.ndarray:
    """Up to ``limit`` of ``genes`` whose windows do not overlap, evenly spaced along the genome."""
    spans = sorted((dataset.genomic_window(int(i))[:3], int(i)) for i in genes)
    kept, last = [], (None, -1)
    for (chrom, start, end), i in spans:
        if chrom != last[0] or start >= last[1]:
            kept.append(i)
            last = (chrom, end)
    kept = np.asarray(kept, dtype=np.int64)
    if len(kept) > limit:
        kept = kept[np.linspace(0, len(kept) - 1, limit).astype(int)]
    return kept


def sample_training_dna(dataset: Any, track: int, limit: int = SAMPLE_WINDOWS) -> tuple[np.ndarray, np.ndarray]:
    """Codes uint8[N] and accessibility float32[N] of disjoint training windows, each cut to whole
    chunks and followed by one chunk of N (no k-mer spans two windows)."""
    train = dataset.labelled(dataset.indices("train"))
    if len(train) == 0:
        train = dataset.indices("train")
    seqs, signals = [], []
    gap_seq = np.full(CHUNK, _BASE_N, dtype=np.uint8)
    gap_signal = np.zeros(CHUNK, dtype=np.float32)
    for i in _disjoint_windows(dataset, train, limit):
        item = dataset.load_gene(int(i))
        n = len(item["seq"]) // CHUNK * CHUNK
        seqs += [item["seq"][:n], gap_seq]
        signals += [np.asarray(item["signals"][:n, track], dtype=np.float32), gap_signal]
    if not seqs:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.float32)
    return np.concatenate(seqs), np.concatenate(signals)


def _chunk_classes(seq: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk: accessible (bool), and the weight of an inaccessible chunk (0 for accessible or
    unusable chunks) that matches the accessible chunks' GC distribution."""
    codes = seq.reshape(-1, CHUNK)
    valid = codes < _BASE_N
    usable = valid.mean(1) >= 0.9
    gc = ((codes == 1) | (codes == 2)).sum(1) / np.maximum(valid.sum(1), 1)
    level = signal.reshape(-1, CHUNK).mean(1)
    cut = max(float(np.quantile(level[usable], ACCESSIBLE_QUANTILE)), 0.0) if usable.any() else 0.0
    accessible = usable & (level > cut)
    other = usable & ~accessible
    strata = np.minimum((gc * GC_STRATA).astype(int), GC_STRATA - 1)
    n_acc = np.bincount(strata[accessible], minlength=GC_STRATA).astype(float)
    n_other = np.bincount(strata[other], minlength=GC_STRATA).astype(float)
    ratio = np.divide(n_acc, n_other, out=np.zeros(GC_STRATA), where=n_other > 0)
    return accessible, np.where(other, ratio[strata], 0.0)


def _encode(codes: np.ndarray) -> int:
    value = 0
    for c in codes:
        value = value * 4 + int(c)
    return value


def _decode(kmer: int, k: int) -> np.ndarray:
    return np.array([(kmer >> (2 * (k - 1 - j))) & 3 for j in range(k)], dtype=np.int64)


def _revcomp(kmer: int, k: int) -> int:
    return _encode(3 - _decode(kmer, k)[::-1])


def revcomp_table(k: int) -> np.ndarray:
    """int64[4**k]: the reverse complement of every k-mer id."""
    ids = np.arange(4 ** k, dtype=np.int64)
    out = np.zeros_like(ids)
    for j in range(k):
        out = out * 4 + (3 - ((ids >> (2 * j)) & 3))
    return out


def _canonical(kmer: int, k: int) -> int:
    return min(kmer, _revcomp(kmer, k))


def _neighbours(kmer: int, k: int) -> list[int]:
    """The 3k forward k-mers one mismatch from ``kmer``."""
    codes = _decode(kmer, k)
    out = []
    for j in range(k):
        for b in range(4):
            if b != codes[j]:
                other = codes.copy()
                other[j] = b
                out.append(_encode(other))
    return out


def _site_windows(seq: np.ndarray, starts: np.ndarray, reverse: np.ndarray, k: int) -> np.ndarray:
    """Codes [n_sites, k + 2 FLANK] around each site, reverse-complemented where ``reverse``."""
    offsets = np.arange(-FLANK, k + FLANK)
    pos = np.clip(starts[:, None] + offsets[None, :], 0, len(seq) - 1)
    windows = seq[pos].astype(np.int64)
    flipped = np.where(windows < _BASE_N, 3 - windows, _BASE_N)[:, ::-1]
    return np.where(reverse[:, None], flipped, windows)


def _pwm(windows: np.ndarray, k: int) -> np.ndarray:
    """Base frequencies [w, 4] of the site windows, end columns under MIN_INFORMATION trimmed."""
    counts = np.stack([(windows == b).sum(0) for b in range(4)], 1).astype(float) + 0.5
    probs = counts / counts.sum(1, keepdims=True)
    info = 2.0 + (probs * np.log2(probs)).sum(1)
    lo, hi = 0, probs.shape[0]
    while lo < FLANK and info[lo] < MIN_INFORMATION:
        lo += 1
    while hi > FLANK + k and info[hi - 1] < MIN_INFORMATION:
        hi -= 1
    return probs[lo:hi]


def _consensus(probs: np.ndarray) -> str:
    return "".join(ALPHABET[int(j)] for j in probs.argmax(1))


def enrichment(canonical_ids: np.ndarray, accessible: np.ndarray, weight: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Accessible counts A and GC-matched expected counts E per k-mer id (float arrays [4**k])."""
    size = 4 ** k + 1
    observed = np.bincount(canonical_ids[accessible], minlength=size)[: size - 1].astype(float)
    background = np.bincount(canonical_ids, weights=weight, minlength=size)[: size - 1]
    total = background.sum()
    expected = background * (observed.sum() / total) if total > 0 else np.zeros_like(observed)
    return observed, expected


def discover_motifs(dataset: Any, max_motifs: int, k: int = DISCOVERY_K) -> tuple[list[Motif], np.ndarray, dict]:
    """Up to ``max_motifs`` de novo motifs of the training windows (see the module docstring).

    Returns (motifs, background base frequencies [4], a JSON-safe record for run.json); the list is
    empty when the data has no accessibility track or no k-mer passes the thresholds."""
    record: dict[str, Any] = {"source": "denovo", "rule": (
        f"canonical {k}-mers over-represented in accessible {CHUNK}-bp chunks (mean accessibility above its "
        f"{ACCESSIBLE_QUANTILE} quantile) against GC-matched other chunks, z >= {MIN_Z}, fold >= {MIN_FOLD}, "
        f">= {MIN_SITES} sites, grown greedily into PWMs")}
    track = access_track(list(dataset.signal_names))
    if track is None:
        record["chosen"] = []
        return [], np.full(4, 0.25), record
    seq, signal = sample_training_dna(dataset, track)
    if len(seq) == 0:
        record["chosen"] = []
        return [], np.full(4, 0.25), record
    valid = seq[seq < _BASE_N]
    background = (np.bincount(valid, minlength=4) + 1.0) / (len(valid) + 4.0)
    accessible_chunks, chunk_weight = _chunk_classes(seq, signal)
    with torch.no_grad():
        forward = kmer_ids(torch.from_numpy(seq[None]), k, canonical=False)[0].numpy().astype(np.int32)
    invalid = forward == 4 ** k
    rc_table = np.append(revcomp_table(k), 4 ** k).astype(np.int32)
    canonical = np.minimum(forward, rc_table[forward])
    per_pos_chunk = np.arange(len(seq)) // CHUNK
    accessible = accessible_chunks[per_pos_chunk] & ~invalid
    weight = np.where(invalid, 0.0, chunk_weight[per_pos_chunk])
    observed, expected = enrichment(canonical, accessible, weight, k)
    z = (observed - expected) / np.sqrt(expected + 1.0)
    eligible = (z >= MIN_Z) & (observed >= MIN_SITES) & (observed >= MIN_FOLD * expected)
    record.update(k=k, sampled_bases=int(len(seq)), accessible_bases=int(accessible.sum()),
                  enriched_kmers=int(eligible.sum()))
    access_pos = np.flatnonzero(accessible)
    access_fwd = forward[access_pos]
    motifs, chosen = [], []
    while len(motifs) < max_motifs and eligible.any():
        seed = int(np.argmax(np.where(eligible, z, -np.inf)))
        members = [seed] + [n for n in _neighbours(seed, k) if eligible[_canonical(n, k)]]
        forward_set = np.array(sorted(set(members)), dtype=np.int32)
        reverse_set = np.array(sorted({_revcomp(m, k) for m in members} - set(members)), dtype=np.int32)
        is_forward = np.isin(access_fwd, forward_set)
        is_reverse = ~is_forward & np.isin(access_fwd, reverse_set)
        starts = access_pos[is_forward | is_reverse]
        windows = _site_windows(seq, starts, is_reverse[is_forward | is_reverse], k)
        probs = _pwm(windows, k)
        name = f"denovo{len(motifs) + 1}_{_consensus(probs)}"
        motifs.append(Motif(name, probs))
        chosen.append({"name": name, "seed": _consensus(np.eye(4)[_decode(seed, k)]), "z": round(float(z[seed]), 1),
                       "fold": round(float(observed[seed] / max(expected[seed], 1e-9)), 2),
                       "sites": int(len(starts)), "width": int(probs.shape[0])})
        in_sites = (starts[:, None] + np.arange(-FLANK, FLANK + 1)[None, :]).reshape(-1)
        in_sites = in_sites[(in_sites >= 0) & (in_sites < len(seq))]
        site_counts = np.bincount(canonical[in_sites], minlength=4 ** k + 1)[: 4 ** k]
        retired = site_counts >= RETIRE_SHARE * np.maximum(observed, 1.0)
        retired[[_canonical(m, k) for m in members]] = True
        eligible &= ~retired
    record["chosen"] = chosen
    if motifs:
        log.info("de novo: %d motifs from %d enriched %d-mers in %d accessible bases: %s", len(motifs),
                 record["enriched_kmers"], k, record["accessible_bases"], ", ".join(m["name"] for m in chosen[:5]))
    return motifs, background, record
