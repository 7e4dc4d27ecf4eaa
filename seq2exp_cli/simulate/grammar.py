"""The motif grammar of ``seq2exp simulate`` and the motif databases it writes.

Every seed draws its own grammar (how many activators and repressors, their consensus strings
and weights, and one CTCF-like insulator motif) from a random stream of its own, so a method
tuned to one grammar meets a different one on the next seed. The grammar is data: it is passed
to every function that plants, scans or scores motifs, and recorded in ``simulation.json`` and
``truth_grammar.tsv``.

Guarantees of a drawn grammar (checked by ``check_grammar``), with motif length 12:

- distinct motifs differ at >= 5 of 12 positions on both strands, and at >= 4 when one is
  shifted by 1-3 bp (each shifted-out base counted as a mismatch), so a copy planted with one
  substitution is never within one mismatch of another motif: a <= 1-mismatch scan never
  confuses two motifs;
- no motif is a near-palindrome (>= 5 mismatches against its own reverse complement) or
  periodic (>= 4 mismatches against itself shifted by 1-3 bp);
- no low complexity: every base at most 6 times, no run of 4 equal bases, no CG dinucleotide
  (the background is CpG-depleted, so a CpG would give a motif away by composition alone).

The databases (``motifs_exact.meme`` and ``motifs_noisy.meme``) hold the grammar's motifs as the
PWMs their planted copies imply, and for the noisy one also never-planted PWMs of lengths 8-20
whose information content is drawn like that of JASPAR's vertebrate matrices, all under neutral
names (MOTIF0001...) in a shuffled order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

MOTIF_LEN = 12
MIN_DISTANCE = 5  # distinct motifs (and a motif and its reverse complement), aligned
MIN_SHIFTED_DISTANCE = 4  # any two motifs (a motif with itself too) shifted by 1-3 bp, shift counted
MAX_SHIFT = 3
KINDS = ("activator", "repressor", "insulator")

# random stream ids, under the seed (chromosome streams use three-part keys, these two)
_STREAM_GRAMMAR = 1_000_001
_STREAM_DATABASE = 1_000_002


@dataclass(frozen=True)
class Motif:
    """A transcription-factor-like motif of a simulated grammar.

    Attributes:
        name: short identifier used in truth files (``act1``, ``rep1``, ``ins1``).
        kind: ``"activator"`` (adds ``weight`` to a region's motif content), ``"repressor"``
            (subtracts it) or ``"insulator"`` (CTCF-like: marks insulator elements, weight 0,
            no effect on expression).
        consensus: upper-case ACGT string of length 12.
        weight: contribution to motif content (0 for insulators).
    """

    name: str
    kind: str
    consensus: str
    weight: float

    @property
    def codes(self) -> np.ndarray:
        """uint8[12] base codes of the consensus (A=0, C=1, G=2, T=3)."""
        return encode_acgt(self.consensus)


@dataclass(frozen=True)
class Grammar:
    """The motifs of one simulation, in a fixed order (activators, repressors, insulators)."""

    motifs: tuple[Motif, ...]

    @cached_property
    def activators(self) -> tuple[int, ...]:
        return tuple(i for i, m in enumerate(self.motifs) if m.kind == "activator")

    @cached_property
    def repressors(self) -> tuple[int, ...]:
        return tuple(i for i, m in enumerate(self.motifs) if m.kind == "repressor")

    @cached_property
    def insulators(self) -> tuple[int, ...]:
        return tuple(i for i, m in enumerate(self.motifs) if m.kind == "insulator")

    @cached_property
    def patterns(self) -> np.ndarray:
        """uint8[2M, 12]: every motif's consensus, then its reverse complement, in motif order."""
        return np.stack([p for m in self.motifs for p in (m.codes, revcomp_acgt(m.codes))])

    @cached_property
    def half_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bool[5**6] over left-half codes, the same over right halves, int64[6] base-5 place
        values): a window within one mismatch of a motif matches its left or its right 6 bases
        exactly, so these tables find every candidate window (base 5 keeps N apart)."""
        half = MOTIF_LEN // 2
        place = 5 ** np.arange(half, dtype=np.int64)
        left = np.zeros(5**half, dtype=bool)
        right = np.zeros(5**half, dtype=bool)
        left[self.patterns[:, :half].astype(np.int64) @ place] = True
        right[self.patterns[:, half:].astype(np.int64) @ place] = True
        return left, right, place

    def content(self, motifs: list[int]) -> float:
        """max(0, sum of activator weights - sum of repressor weights) over planted motif indices."""
        sign = {"activator": 1.0, "repressor": -1.0, "insulator": 0.0}
        total = sum(self.motifs[m].weight * sign[self.motifs[m].kind] for m in motifs)
        return max(0.0, float(total))

    def count(self, motifs: list[int], kind: str) -> int:
        """How many of the planted motif indices are of ``kind``."""
        return sum(self.motifs[m].kind == kind for m in motifs)

    def to_records(self) -> list[dict]:
        """JSON-ready list: name, kind, consensus, weight per motif."""
        return [{"name": m.name, "kind": m.kind, "consensus": m.consensus, "weight": m.weight} for m in self.motifs]


def encode_acgt(seq: str) -> np.ndarray:
    """ACGT string -> uint8 codes."""
    return np.array(["ACGT".index(b) for b in seq], dtype=np.uint8)


def revcomp_acgt(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of ACGT codes (no N)."""
    return (3 - codes[::-1]).astype(np.uint8)


# ----------------------------------------------------------------------------- checks


def _shifted_distance(a: np.ndarray, b: np.ndarray, shift: int) -> int:
    """Mismatches between ``a`` and ``b`` moved right by ``shift`` bp, plus the shifted-out bases."""
    if shift == 0:
        return int((a != b).sum())
    return int((a[shift:] != b[:-shift]).sum()) + shift


def low_complexity(codes: np.ndarray) -> bool:
    """A base more than 6 times, a run of 4 equal bases, or a CG dinucleotide."""
    if np.bincount(codes, minlength=4).max() > 6:
        return True
    if any((codes[i:i + 4] == codes[i]).all() for i in range(codes.size - 3)):
        return True
    return bool(((codes[:-1] == 1) & (codes[1:] == 2)).any())


def self_conflict(codes: np.ndarray) -> bool:
    """A near-palindrome or a periodic motif (see the module docstring)."""
    rc = revcomp_acgt(codes)
    if _shifted_distance(codes, rc, 0) < MIN_DISTANCE:
        return True
    for s in range(1, MAX_SHIFT + 1):
        for other in (codes, rc):
            if min(_shifted_distance(codes, other, s), _shifted_distance(other, codes, s)) - s < MIN_SHIFTED_DISTANCE:
                return True
    return False


def pair_conflict(a: np.ndarray, b: np.ndarray) -> bool:
    """Two motifs too close on either strand at any shift of 0-3 bp."""
    for other in (b, revcomp_acgt(b)):
        if _shifted_distance(a, other, 0) < MIN_DISTANCE:
            return True
        for s in range(1, MAX_SHIFT + 1):
            if min(_shifted_distance(a, other, s), _shifted_distance(other, a, s)) < MIN_SHIFTED_DISTANCE:
                return True
    return False


def check_grammar(grammar: Grammar) -> None:
    """Raise ValueError when ``grammar`` breaks a guarantee of the module docstring."""
    codes = [m.codes for m in grammar.motifs]
    for i, c in enumerate(codes):
        name = grammar.motifs[i].name
        if c.size != MOTIF_LEN or low_complexity(c) or self_conflict(c):
            raise ValueError(f"motif {name} ({grammar.motifs[i].consensus}) is low-complexity or self-similar")
        for j in range(i):
            if pair_conflict(c, codes[j]):
                raise ValueError(f"motifs {name} and {grammar.motifs[j].name} are too similar")


# ----------------------------------------------------------------------------- drawing


def _draw_consensus(rng: np.random.Generator, gc: float, accepted: list[np.ndarray], max_tries: int = 10_000) -> str:
    """A 12-mer with GC probability ``gc`` per base that passes every check against ``accepted``."""
    for _ in range(max_tries):
        strong = rng.random(MOTIF_LEN) < gc
        second = rng.random(MOTIF_LEN) < 0.5
        codes = np.where(strong, 1 + second, 3 * second).astype(np.uint8)
        if low_complexity(codes) or self_conflict(codes):
            continue
        if any(pair_conflict(codes, other) for other in accepted):
            continue
        return "".join("ACGT"[c] for c in codes)
    raise ValueError("could not draw a motif that passes the grammar's checks")


def draw_grammar(
    seed: int, n_activators: tuple[int, int], n_repressors: tuple[int, int],
    activator_weight: tuple[float, float], repressor_weight: tuple[float, float],
) -> Grammar:
    """The grammar of seed ``seed`` (its own random stream: other draws never shift it).

    Args:
        n_activators, n_repressors: inclusive ranges of how many motifs of each kind.
        activator_weight, repressor_weight: uniform ranges of the weights (rounded to 0.05).
    """
    rng = np.random.default_rng([seed, _STREAM_GRAMMAR])
    n_act = int(rng.integers(n_activators[0], n_activators[1] + 1))
    n_rep = int(rng.integers(n_repressors[0], n_repressors[1] + 1))
    accepted: list[np.ndarray] = []
    motifs = []
    plan = [("activator", f"act{i + 1}", 0.45) for i in range(n_act)]
    plan += [("repressor", f"rep{i + 1}", 0.45) for i in range(n_rep)]
    plan += [("insulator", "ins1", 0.65)]  # CTCF-like sites are GC-rich
    for kind, name, gc in plan:
        consensus = _draw_consensus(rng, gc, accepted)
        accepted.append(encode_acgt(consensus))
        lo, hi = {"activator": activator_weight, "repressor": repressor_weight}.get(kind, (0.0, 0.0))
        weight = round(float(rng.uniform(lo, hi)) * 20) / 20 if hi > 0 else 0.0
        motifs.append(Motif(name, kind, consensus, weight))
    grammar = Grammar(tuple(motifs))
    check_grammar(grammar)
    return grammar


# ----------------------------------------------------------------------------- databases


def planted_pwm(motif: Motif, mutation_prob: float) -> np.ndarray:
    """float[12, 4]: the PWM a motif's planted copies imply (one substitution with probability
    ``mutation_prob`` at a uniform position, to a uniform other base)."""
    other = mutation_prob / MOTIF_LEN / 3
    probs = np.full((MOTIF_LEN, 4), other)
    probs[np.arange(MOTIF_LEN), motif.codes] = 1.0 - 3 * other
    return probs


def information_content(probs: np.ndarray) -> np.ndarray:
    """float[w]: bits per column against a uniform background."""
    p = np.clip(probs, 1e-12, 1.0)
    return 2.0 + (p * np.log2(p)).sum(axis=1)


def random_pwm(rng: np.random.Generator, length: int) -> np.ndarray:
    """A PWM shaped like a vertebrate JASPAR matrix: an informative core and weak flanks.

    Core columns (>= 60 % of the width) are Dirichlet draws with a small concentration
    (log-uniform in 0.01-0.3: one or two dominant bases), flank columns with a large one
    (0.5-3); counts from 20-500 sites with a 0.25 pseudocount per base, the way a PFM becomes a
    PWM. Across motifs the mean information content per column has median ~1.3 bits (5-95 %:
    0.8-1.75) and ~15 % are as sharp as the planted motifs' PWMs, so sharpness does not single
    those out.
    """
    core = int(rng.integers(max(4, int(0.6 * length)), length + 1))
    core_start = int(rng.integers(0, length - core + 1))
    sharpness = float(np.exp(rng.uniform(np.log(0.01), np.log(0.3))))
    alpha = np.array([sharpness if core_start <= j < core_start + core else rng.uniform(0.5, 3.0)
                      for j in range(length)])
    probs = np.stack([rng.dirichlet(np.full(4, a)) for a in alpha])
    sites = int(rng.integers(20, 501))
    counts = np.stack([rng.multinomial(sites, p) for p in probs]) + 0.25
    return counts / counts.sum(axis=1, keepdims=True)


def resembles_grammar(probs: np.ndarray, grammar: Grammar, min_overlap: int = 8) -> bool:
    """Does the PWM's consensus align with a grammar motif (either strand, overlap >= 8) with
    mismatches on fewer than a quarter of the overlapping columns (at most 1 of 8, 2 of 12)?"""
    cons = probs.argmax(axis=1)
    patterns = grammar.patterns
    k = patterns.shape[1]
    for off in range(-(k - min_overlap), cons.size - min_overlap + 1):
        lo, hi = max(0, off), min(cons.size, off + k)
        if hi - lo < min_overlap:
            continue
        mism = (cons[None, lo:hi] != patterns[:, lo - off:hi - off]).sum(axis=1)
        if (mism < 0.25 * (hi - lo)).any():
            return True
    return False


def distractor_pwms(seed: int, grammar: Grammar, count: int, lengths: tuple[int, int] = (8, 20)) -> list[np.ndarray]:
    """``count`` never-planted PWMs (float[w, 4]) of lengths in ``lengths``, none resembling the grammar."""
    rng = np.random.default_rng([seed, _STREAM_DATABASE])
    out: list[np.ndarray] = []
    while len(out) < count:
        probs = random_pwm(rng, int(rng.integers(lengths[0], lengths[1] + 1)))
        if not resembles_grammar(probs, grammar):
            out.append(probs)
    return out


@dataclass(frozen=True)
class DatabaseEntry:
    """One motif of a written database: its neutral id, matrix and what it is."""

    motif_id: str
    probs: np.ndarray
    source: str  # a grammar motif's name, or "distractor"


def motif_databases(
    seed: int, grammar: Grammar, mutation_prob: float, n_distractors: int,
) -> dict[str, list[DatabaseEntry]]:
    """The ``exact`` (grammar only) and ``noisy`` (grammar among ``n_distractors`` never-planted
    PWMs) databases, each under neutral ids MOTIF0001... in its own shuffled order."""
    rng = np.random.default_rng([seed, _STREAM_DATABASE, 1])
    planted = [(planted_pwm(m, mutation_prob), m.name) for m in grammar.motifs]
    distractors = [(p, "distractor") for p in distractor_pwms(seed, grammar, n_distractors)]
    out = {}
    for condition, items in (("exact", planted), ("noisy", planted + distractors)):
        order = rng.permutation(len(items))
        out[condition] = [DatabaseEntry(f"MOTIF{k + 1:04d}", items[i][0], items[i][1]) for k, i in enumerate(order)]
    return out
