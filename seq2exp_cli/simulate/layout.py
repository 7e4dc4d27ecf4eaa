"""Layout of ``seq2exp simulate``: where TSSs, N runs, blacklist regions and candidate elements
go, which class each candidate has and which motifs it carries.

Candidate classes (``CLASSES``), each with what it carries and whether it has signal:

============  ==================================  ===========  ==========================
class         motifs                              chromatin    effect on expression
============  ==================================  ===========  ==========================
functional    1+ activators (maybe a repressor)   yes          activity * contact * M > 0
decoy         no activator (maybe a repressor)    yes          0 (M = 0)
orphan        like functional                     yes          0 (no gene in reach)
closed        like functional                     no           0 (activity 0)
insulator     1-3 insulator motifs                yes          0 (M = 0)
inert         none                                no           0
============  ==================================  ===========  ==========================

All functions are vectorised numpy over one chromosome (loops only over intervals) and take
their randomness from the generator they are given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from seq2exp_cli.simulate.grammar import Grammar

if TYPE_CHECKING:
    from seq2exp_cli.simulate.params import SimParams

CLASSES = ("functional", "decoy", "orphan", "closed", "insulator", "inert")
#: classes whose candidates are accessible (draw an activity like functional elements)
ACCESSIBLE = frozenset({"functional", "decoy", "orphan", "insulator"})
#: classes that carry the functional elements' activator motifs
ACTIVATED = frozenset({"functional", "orphan", "closed"})


def place_tss(rng: np.random.Generator, n: int, lo: int, hi: int, min_gap: int) -> np.ndarray:
    """n sorted TSS positions in [lo, hi) at least ``min_gap`` apart (uniform order statistics)."""
    span = hi - lo - (n - 1) * min_gap
    if span <= 0:
        raise ValueError(f"{n} genes with gap {min_gap} do not fit in {hi - lo} bp")
    u = np.sort(rng.random(n)) * span
    return (lo + u + np.arange(n) * min_gap).astype(np.int64)


def place_intervals(
    rng: np.random.Generator, count: int, width: tuple[int, int], lo: int, hi: int, free: np.ndarray
) -> list[tuple[int, int]]:
    """Up to ``count`` disjoint intervals in [lo, hi) lying where ``free`` (bool[size]) is True."""
    cum = np.concatenate(([0], np.cumsum(~free, dtype=np.int64)))
    out: list[tuple[int, int]] = []
    for _ in range(count * 50):
        if len(out) == count:
            break
        w = int(rng.integers(width[0], width[1] + 1))
        if hi - lo - w <= 0:
            break
        s = int(rng.integers(lo, hi - w))
        if cum[s + w] - cum[s] == 0 and all(e <= s or s + w <= b for b, e in out):
            out.append((s, s + w))
    return sorted(out)


def promoter_zone(tss: np.ndarray, strand: np.ndarray, up: int, down: int) -> tuple[np.ndarray, np.ndarray]:
    """Genomic [start, end) of transcription-oriented [-up, +down) around each TSS."""
    start = np.where(strand > 0, tss - up, tss - down + 1)
    return start, start + up + down


def reach(starts: np.ndarray, ends: np.ndarray, tss_sorted: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """All (region index, gene index) pairs with the region inside the gene's window.

    ``tss_sorted`` must be ascending; returned gene indices refer to it.
    """
    half = window // 2
    lo = np.searchsorted(tss_sorted, ends - half, side="left")
    hi = np.searchsorted(tss_sorted, starts + half - 1, side="right")
    counts = np.maximum(hi - lo, 0)
    region = np.repeat(np.arange(starts.size), counts)
    first = np.repeat(lo, counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return region, first + offset


def dilate(mask: np.ndarray, by: int) -> np.ndarray:
    """bool mask grown by ``by`` bp on both sides."""
    if by <= 0:
        return mask.copy()
    cum = np.concatenate((np.zeros(by + 1, np.int64), np.cumsum(mask, dtype=np.int64)))
    cum = np.concatenate((cum, np.full(by, cum[-1])))
    # cum[k] = number of True in mask[: k - by - 1]; window [i - by, i + by] -> cum[i+2by+1] - cum[i]
    return (cum[2 * by + 1 :] - cum[: -2 * by - 1]) > 0


def window_union(size: int, tss: np.ndarray, window: int) -> np.ndarray:
    """bool[size]: True inside some gene's window [tss - window // 2 + 1, tss + window // 2)."""
    half = window // 2
    delta = np.zeros(size + 1, dtype=np.int64)
    np.add.at(delta, np.clip(tss - half + 1, 0, size), 1)
    np.add.at(delta, np.clip(tss + half, 0, size), -1)
    return np.cumsum(delta[:-1]) > 0


def _sweep(rng: np.random.Generator, p: SimParams, allowed: np.ndarray, n_cand: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint intervals (sorted) from ``n_cand`` random starts, kept where they lie in ``allowed``."""
    size = allowed.size
    pos = np.flatnonzero(allowed)
    if n_cand == 0 or pos.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.sort(rng.choice(pos, size=n_cand))
    widths = np.clip(
        rng.lognormal(np.log(p.element_width_median), 0.4, n_cand), p.element_width[0], p.element_width[1]
    ).astype(np.int64)
    bad = np.concatenate(([0], np.cumsum(~allowed, dtype=np.int64)))
    keep_s, keep_e = [], []
    last_end = -p.element_gap
    for s, w in zip(starts.tolist(), widths.tolist()):
        e = s + w
        if s < last_end + p.element_gap or e > size or bad[e] - bad[s] > 0:
            continue
        keep_s.append(s)
        keep_e.append(e)
        last_end = e
    return np.array(keep_s, dtype=np.int64), np.array(keep_e, dtype=np.int64)


def _thin(rng: np.random.Generator, s: np.ndarray, e: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``target`` of the intervals, chosen at random (the greedy sweep packs from the left)."""
    if s.size > target:
        pick = np.sort(rng.choice(s.size, size=target, replace=False))
        return s[pick], e[pick]
    return s, e


def place_candidates(
    rng: np.random.Generator, p: SimParams, size: int, tss: np.ndarray, blocked: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate intervals (int64 starts, ends, sorted, disjoint) and whether each is an orphan.

    The total is one candidate per ``element_spacing`` bp of window-covered sequence (away from
    promoters and ``blocked``). Orphans take ``orphan_fraction`` of it where gene-free sequence
    (outside every window) has room, the rest lies in reach of at least one gene.
    """
    windows = window_union(size, tss, p.window)
    allowed = windows.copy()
    for t in tss:
        allowed[max(0, t - p.promoter_exclusion) : t + p.promoter_exclusion] = False
    allowed &= ~blocked
    target = round(allowed.sum() / p.element_spacing)
    free = ~windows & ~blocked
    free[: p.telomere_bp] = False
    free[size - p.telomere_bp :] = False
    n_orphan_target = round(p.orphan_fraction * target)
    o_s, o_e = _sweep(rng, p, free, 3 * n_orphan_target)
    o_s, o_e = _thin(rng, o_s, o_e, n_orphan_target)
    s_arr, e_arr = _sweep(rng, p, allowed, 3 * target)
    region, _ = reach(s_arr, e_arr, tss, p.window)
    reached = np.unique(region)
    s_arr, e_arr = _thin(rng, s_arr[reached], e_arr[reached], target - o_s.size)
    starts = np.concatenate((s_arr, o_s))
    ends = np.concatenate((e_arr, o_e))
    orphan = np.concatenate((np.zeros(s_arr.size, bool), np.ones(o_s.size, bool)))
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order], orphan[order]


def assign_classes(rng: np.random.Generator, p: SimParams, orphan: np.ndarray) -> np.ndarray:
    """object[n] class names: orphans as given; the in-reach candidates get functional, decoy,
    closed and insulator in the fractions of ``p`` (of all candidates), inert the rest.

    With ``p.null_distal`` the would-be functional candidates become decoys (the same draws
    otherwise, so the null genome differs from the ordinary one only there): no distal element acts."""
    n = orphan.size
    fractions = p.class_fractions(apply_null=False)
    out = np.full(n, "inert", dtype=object)
    out[orphan] = "orphan"
    free = rng.permutation(np.flatnonzero(~orphan))
    k = 0
    for name in ("functional", "decoy", "closed", "insulator"):
        count = min(round(fractions[name] * n), free.size - k)
        out[free[k : k + count]] = "decoy" if name == "functional" and p.null_distal else name
        k += count
    return out


def motif_lists(
    rng: np.random.Generator, grammar: Grammar, n: int, n_act_mean: float, rep_prob: float, min_act: int,
    max_act: int, min_content: float | None,
) -> list[list[int]]:
    """Per region: planted motif indices (activators: min_act + Poisson, maybe one repressor)."""
    out = []
    for _ in range(n):
        n_act = min(max_act, min_act + int(rng.poisson(n_act_mean))) if max_act > 0 else 0
        motifs = [int(m) for m in rng.choice(grammar.activators, size=n_act)] if n_act else []
        if rng.random() < rep_prob:
            motifs.append(int(rng.choice(grammar.repressors)))
        if min_content is not None and grammar.content(motifs) < min_content:
            motifs = [m for m in motifs if m in grammar.activators]  # functional stays functional
        out.append(motifs)
    return out


def candidate_motifs(rng: np.random.Generator, grammar: Grammar, p: SimParams, classes: np.ndarray) -> list[list[int]]:
    """Planted motif indices of every candidate, by class (see the module docstring)."""
    out: list[list[int]] = [[] for _ in range(classes.size)]
    for cls in CLASSES:
        idx = np.flatnonzero(classes == cls)
        if cls in ACTIVATED:
            lists = motif_lists(rng, grammar, idx.size, p.element_activators_mean, p.element_repressor_prob,
                                1, 5, p.min_motif_content)
        elif cls == "decoy":
            lists = motif_lists(rng, grammar, idx.size, 0.0, p.decoy_repressor_prob, 0, 0, None)
        elif cls == "insulator":
            counts = np.minimum(3, 1 + rng.poisson(p.insulator_motifs_mean, idx.size))
            lists = [[grammar.insulators[0]] * int(c) for c in counts]
        else:
            lists = [[] for _ in idx]
        for i, m in zip(idx, lists):
            out[i] = m
    return out
