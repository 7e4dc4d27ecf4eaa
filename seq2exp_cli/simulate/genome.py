"""Synthetic DNA for ``seq2exp simulate``: background composition, repeats, motifs.

Everything works on uint8 base codes (A=0, C=1, G=2, T=3, N=4, as in the rest of the
package) plus a boolean soft-mask array (True = lower case, a repeat). The generative model
that uses these pieces, and the expression formula, are described in ``simulate.py`` and
``docs/simulator.md``.

Composition model (why each step exists):
- isochores: the GC fraction varies in blocks (human-like 36-48 %), so GC is not a constant;
- CpG depletion: a fraction of CG dinucleotides is deaminated (CG -> TG or CA), which is how
  the human genome lost its CpGs; the observed/expected CpG ratio ends near 0.25;
- CpG islands: some promoters get a GC-rich, non-depleted stretch, like real promoters;
- repeats: diverged copies of a small fixed repeat library, soft-masked (lower case);
- motifs: the consensus strings of the seed's grammar (``simulate.grammar``) planted with at
  most one substitution; the regions that carry motifs are cleaned of any accidental
  near-match (<= 1 mismatch) of any motif, so the planted instances are exactly the motif
  content the truth files report.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seq2exp_cli.simulate.grammar import MOTIF_LEN, Grammar

UPPER = np.frombuffer(b"ACGTN", dtype=np.uint8)
LOWER = np.frombuffer(b"acgtn", dtype=np.uint8)
N_CODE = 4
MOTIF_SLOT = 16  # motif length 12 + 4 bp spacer: planted instances never overlap


# The repeat library is part of the simulated "species", not of one run: built from a fixed
# seed so every simulation shares the same families.
_REPEAT_LIBRARY_SEED = 20250214
# name, consensus length, relative copy number, fragment length range of inserted copies
_REPEAT_FAMILIES = (
    ("AluSim", 300, 0.45, (280, 300)),
    ("L1Sim", 6000, 0.25, (300, 2500)),
    ("MIRSim", 260, 0.15, (120, 260)),
    ("ERVSim", 1200, 0.10, (400, 1200)),
    ("(CA)n", 2, 0.05, (40, 200)),
)


def encode(seq: str) -> np.ndarray:
    """ACGT string -> uint8 codes (anything else -> 4)."""
    table = np.full(256, N_CODE, dtype=np.uint8)
    for i, b in enumerate(b"ACGT"):
        table[b] = i
        table[b + 32] = i
    return table[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def revcomp(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of uint8 codes (N stays N)."""
    out = codes[::-1].copy()
    acgt = out < N_CODE
    out[acgt] = 3 - out[acgt]
    return out


def to_text(codes: np.ndarray, lower: np.ndarray) -> str:
    """uint8 codes[n] + soft-mask bool[n] -> FASTA text (lower case where masked)."""
    return np.where(lower, LOWER[codes], UPPER[codes]).astype(np.uint8).tobytes().decode("ascii")


def iid_bases(rng: np.random.Generator, gc: np.ndarray | float, n: int) -> np.ndarray:
    """n independent bases with P(G or C) = gc (scalar or float[n]); uint8[n]."""
    strong = rng.random(n) < gc
    second = rng.random(n) < 0.5
    # strong: C(1)/G(2); weak: A(0)/T(3)
    return np.where(strong, 1 + second, 3 * second).astype(np.uint8)


def deaminate_cpg(rng: np.random.Generator, codes: np.ndarray, prob: float) -> None:
    """In place: each CG becomes TG or CA with probability ``prob`` (half each)."""
    if codes.size < 2 or prob <= 0:
        return
    cg = np.flatnonzero((codes[:-1] == 1) & (codes[1:] == 2))
    hit = cg[rng.random(cg.size) < prob]
    on_c = rng.random(hit.size) < 0.5
    codes[hit[on_c]] = 3  # C -> T on this strand
    codes[hit[~on_c] + 1] = 0  # G -> A (C -> T on the other strand)


def background(
    rng: np.random.Generator, n: int, gc_mean: float, gc_sd: float, block: int, deamination: float
) -> np.ndarray:
    """Background sequence with isochore GC blocks and CpG depletion; uint8[n]."""
    n_blocks = -(-n // block)
    gc_block = np.clip(rng.normal(gc_mean, gc_sd, n_blocks), 0.3, 0.6)
    codes = iid_bases(rng, np.repeat(gc_block, block)[:n], n)
    deaminate_cpg(rng, codes, deamination)
    return codes


def repeat_library() -> list[tuple[str, np.ndarray, float, tuple[int, int]]]:
    """The fixed repeat families: (name, consensus codes, copy weight, fragment range)."""
    rng = np.random.default_rng(_REPEAT_LIBRARY_SEED)
    out = []
    for name, length, weight, frag in _REPEAT_FAMILIES:
        if name == "(CA)n":
            cons = np.array([1, 0], dtype=np.uint8)
        else:
            cons = iid_bases(rng, 0.5 if name == "AluSim" else 0.4, length)
            if name == "AluSim":  # Alu ends in an A-rich tail
                cons[-30:] = 0
        out.append((name, cons, weight, frag))
    return out


def insert_repeats(
    rng: np.random.Generator,
    codes: np.ndarray,
    lower: np.ndarray,
    protected: np.ndarray,
    fraction: float,
    divergence: tuple[float, float] = (0.02, 0.2),
) -> None:
    """In place: paste diverged, soft-masked repeat copies until ~``fraction`` is masked.

    Args:
        codes: uint8[n] chromosome codes.
        lower: bool[n] soft mask, set True under each copy.
        protected: bool[n]; copies overlapping a protected base are skipped (elements,
            promoters, N runs keep their own sequence).
        fraction: target fraction of the chromosome covered (copies may nest).
        divergence: range of per-copy substitution rates.
    """
    n = codes.size
    lib = repeat_library()
    weights = np.array([w for _, _, w, _ in lib])
    mean_len = float(sum(w * (lo + hi) / 2 for (_, _, w, (lo, hi)) in lib) / weights.sum())
    # nesting and skipped copies lose coverage; 1.25x copies lands near the target
    n_copies = int(1.25 * fraction * n / mean_len)
    if n_copies == 0:
        return
    prot_cum = np.concatenate(([0], np.cumsum(protected, dtype=np.int64)))
    fam = rng.choice(len(lib), size=n_copies, p=weights / weights.sum())
    starts = rng.integers(0, n, size=n_copies)
    u_len = rng.random(n_copies)
    u_off = rng.random(n_copies)
    flip = rng.random(n_copies) < 0.5
    div = rng.uniform(*divergence, size=n_copies)
    for i in range(n_copies):
        _, cons, _, (lo, hi) = lib[fam[i]]
        length = int(lo + u_len[i] * (hi - lo))
        s = int(starts[i])
        e = min(n, s + length)
        if e - s < 20 or prot_cum[e] - prot_cum[s] > 0:
            continue
        if cons.size == 2:  # simple repeat: tile the unit
            copy = np.resize(cons, e - s)
        else:
            off = int(u_off[i] * (cons.size - length + 1)) if cons.size > length else 0
            copy = cons[off : off + (e - s)]
            copy = revcomp(copy) if flip[i] else copy.copy()
        mut = rng.random(copy.size) < div[i]
        copy[mut] = (copy[mut] + rng.integers(1, 4, size=int(mut.sum()))) % 4
        codes[s : s + copy.size] = copy
        lower[s : s + copy.size] = True


def motif_instance(
    rng: np.random.Generator, grammar: Grammar, motif: int, mutation_prob: float
) -> tuple[np.ndarray, int, int]:
    """One planted copy of ``grammar.motifs[motif]``: (codes[k] as on the + strand, strand +1/-1,
    mismatches). With probability ``mutation_prob`` one random position is substituted."""
    codes = grammar.motifs[motif].codes.copy()
    mism = 0
    if rng.random() < mutation_prob:
        pos = int(rng.integers(codes.size))
        codes[pos] = (codes[pos] + int(rng.integers(1, 4))) % 4
        mism = 1
    strand = 1 if rng.random() < 0.5 else -1
    return (codes if strand == 1 else revcomp(codes)), strand, mism


def near_hits(codes: np.ndarray, grammar: Grammar, max_mismatch: int = 1) -> np.ndarray:
    """Start offsets (int64[h]) of windows within ``max_mismatch`` of any grammar motif, either strand."""
    if codes.size < MOTIF_LEN:
        return np.zeros(0, dtype=np.int64)
    win = sliding_window_view(codes, MOTIF_LEN)  # (n-k+1, k)
    if max_mismatch <= 1:  # pigeonhole pre-filter: one half of the window matches exactly
        left, right, place = grammar.half_tables
        half = place.size
        cand = np.flatnonzero(left[win[:, :half].astype(np.int64) @ place] | right[win[:, half:].astype(np.int64) @ place])
    else:
        cand = np.arange(win.shape[0])
    mism = (win[cand][:, None, :] != grammar.patterns[None, :, :]).sum(axis=2)  # (candidates, 2M)
    return cand[(mism <= max_mismatch).any(axis=1)].astype(np.int64)


def plant_region(
    rng: np.random.Generator,
    grammar: Grammar,
    codes: np.ndarray,
    lower: np.ndarray,
    start: int,
    end: int,
    motifs: list[int],
    mutation_prob: float,
    refill: tuple[float, float],
    max_tries: int = 50,
) -> list[tuple[int, int, int, int]]:
    """Plant ``motifs`` (indices into ``grammar.motifs``) in ``codes[start:end]`` (in place) and
    clean accidental near-matches.

    Each motif goes to its own 16-bp slot (random slots, random 0-3 bp offset). When the
    region also holds a <= 1-mismatch match of any motif that was not planted, its
    background is redrawn (iid with GC ``refill[0]``, CpG deamination ``refill[1]``) and the
    motifs are planted again, so planted instances are the region's whole motif content.

    Returns:
        One ``(motif index, genomic start, strand, mismatches)`` per planted motif.

    Raises:
        ValueError: the region is too short for its motifs or stays dirty after max_tries.
    """
    length = end - start
    n_slots = length // MOTIF_SLOT
    if len(motifs) > n_slots:
        raise ValueError(f"region of {length} bp cannot hold {len(motifs)} motifs")
    lower[start:end] = False
    for attempt in range(max_tries):
        region = codes[start:end]
        if attempt > 0:
            region[:] = iid_bases(rng, refill[0], length)
            deaminate_cpg(rng, region, refill[1])
        slots = rng.choice(n_slots, size=len(motifs), replace=False)
        planted = []
        for m, slot in zip(motifs, slots):
            off = int(slot) * MOTIF_SLOT + int(rng.integers(0, MOTIF_SLOT - MOTIF_LEN + 1))
            inst, strand, mism = motif_instance(rng, grammar, m, mutation_prob)
            region[off : off + MOTIF_LEN] = inst
            planted.append((m, start + off, strand, mism))
        hits = set(near_hits(region, grammar).tolist())
        if hits <= {p[1] - start for p in planted}:
            return planted
    raise ValueError(f"could not clean motif near-matches from region {start}-{end}")


def composition(codes: np.ndarray) -> dict[str, float]:
    """GC fraction, CpG observed/expected ratio and N fraction of uint8 codes."""
    acgt = codes[codes < N_CODE]
    n = max(acgt.size, 1)
    c = float((acgt == 1).sum()) / n
    g = float((acgt == 2).sum()) / n
    cg = float(((codes[:-1] == 1) & (codes[1:] == 2)).sum()) / max(n - 1, 1)
    return {
        "gc": c + g,
        "cpg_obs_exp": cg / (c * g) if c * g > 0 else 0.0,
        "n_fraction": 1.0 - acgt.size / max(codes.size, 1),
    }
