"""Dinucleotide-preserving shuffles of base codes (A0 C1 G2 T3 N4), one sequence or many blocks.

Altschul-Erickson via random Eulerian trails (Kandel et al. 1996): every sequence with the same
dinucleotide counts and the same first base is equally likely. ``shuffle_blocks`` shuffles each
consecutive block of a long sequence independently, walking all blocks in lockstep with numpy.
"""

from __future__ import annotations

import numpy as np


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
    src = s[:-1]
    dst = s[1:].tolist()
    last = int(s[-1])
    by_letter = np.argsort(src, kind="stable")
    bounds = np.searchsorted(src[by_letter], np.arange(6))
    exits = {u: by_letter[bounds[u] : bounds[u + 1]] for u in range(5) if bounds[u + 1] > bounds[u]}
    tree_exit: dict[int, int] = {}
    in_tree = {last}
    for u in exits:
        v = u
        while v not in in_tree:  # loop-erased random walk: later visits overwrite the exit
            edge = int(exits[v][rng.integers(exits[v].shape[0])])
            tree_exit[v] = edge
            v = dst[edge]
        v = u
        while v not in in_tree:
            in_tree.add(v)
            v = dst[tree_exit[v]]
    # the trail leaves letter u through next_letter[u] in order; the tree exit goes last
    next_letter: dict[int, list[int]] = {}
    for u, edges in exits.items():
        if u in tree_exit:
            edges = np.concatenate([rng.permutation(edges[edges != tree_exit[u]]), [tree_exit[u]]])
        else:
            edges = rng.permutation(edges)
        next_letter[u] = s[1:][edges].tolist()[::-1]  # reversed: pop() takes the next one
    out = [int(s[0])]
    cur = out[0]
    pops = {u: lst.pop for u, lst in next_letter.items()}
    for _ in range(n - 1):
        cur = pops[cur]()
        out.append(cur)
    return np.array(out, np.uint8)


def _tree_exits(src: np.ndarray, dst: np.ndarray, last: np.ndarray, rng: np.random.Generator,
                tries: int = 30) -> np.ndarray:
    """Last exits per block and letter, int64[nb, 5] (edge index; -1 for the final letter and
    letters without exits): a uniform random arborescence towards the final letter, drawn by
    rejection (independent uniform exits, redrawn until they lead every letter to the end);
    blocks still rejected after ``tries`` rounds get Wilson's walk."""
    nb, m = src.shape
    rows = np.arange(nb)
    exits = np.full((nb, 5), -1, np.int64)
    pending = rows
    for _ in range(tries):
        if pending.size == 0:
            break
        keys = rng.random((pending.size, m))
        s, d, fin = src[pending], dst[pending], last[pending]
        pick = np.full((pending.size, 5), -1, np.int64)
        target = np.full((pending.size, 5), -1, np.int64)
        for u in range(5):
            has = (s == u).any(axis=1) & (fin != u)
            j = np.argmax(np.where(s == u, keys, -1.0), axis=1)
            pick[has, u] = j[has]
            target[has, u] = d[np.flatnonzero(has), j[has]]
        # follow the exits from every letter: all must reach the final letter within 5 steps
        ok = np.ones(pending.size, bool)
        local = np.arange(pending.size)
        for u in range(5):
            cur = np.full(pending.size, u, np.int64)
            for _ in range(5):
                nxt = target[local, cur]
                cur = np.where(nxt >= 0, nxt, cur)
            start_has = pick[:, u] >= 0
            ok &= ~start_has | (cur == fin)
        exits[pending[ok]] = pick[ok]
        pending = pending[~ok]
    for b in pending.tolist():  # rare: a letter whose only way on is one exit among many
        exits[b] = _wilson_exits(src[b], dst[b], int(last[b]), rng)
    return exits


def _wilson_exits(src: np.ndarray, dst: np.ndarray, last: int, rng: np.random.Generator) -> np.ndarray:
    """One block's last exits (int64[5], -1 where none) by Wilson's loop-erased random walks."""
    out = np.full(5, -1, np.int64)
    exits = {u: np.flatnonzero(src == u) for u in range(5) if (src == u).any()}
    in_tree = {last}
    for u in exits:
        v = u
        while v not in in_tree:
            edge = int(exits[v][rng.integers(exits[v].shape[0])])
            out[v] = edge
            v = int(dst[edge])
        v = u
        while v not in in_tree:
            in_tree.add(v)
            v = int(dst[out[v]])
    return out


#: bases whose blocks are walked in lockstep at once: the walk holds ~70 bytes per base, so a
#: stored region (tens of Mb on a real genome) is shuffled in pieces of this size
LOCKSTEP_BP = 4_000_000


def shuffle_blocks(codes: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """Each consecutive ``block``-bp piece of ``codes`` (the last, shorter one too) replaced by a
    uniform dinucleotide shuffle of itself (as :func:`dinucleotide_shuffle`), the blocks of each
    :data:`LOCKSTEP_BP` stretch at once (one stretch: the same draws as all blocks at once)."""
    s = np.asarray(codes, np.uint8)
    nb = s.shape[0] // block
    out = s.copy()
    if nb and block >= 3:
        rows = s[: nb * block].reshape(nb, block)
        out_rows = out[: nb * block].reshape(nb, block)
        step = max(1, LOCKSTEP_BP // block)
        for lo in range(0, nb, step):
            out_rows[lo : lo + step] = _shuffle_rows(rows[lo : lo + step], rng)
    if s.shape[0] > nb * block:
        out[nb * block :] = dinucleotide_shuffle(s[nb * block :], rng)
    return out


def _shuffle_rows(rows_codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dinucleotide shuffle of every row of uint8[nb, L] (L >= 3), walked in lockstep."""
    nb, length = rows_codes.shape
    src = rows_codes[:, :-1].astype(np.int64)
    dst = rows_codes[:, 1:].astype(np.int64)
    rows = np.arange(nb)
    tree = _tree_exits(src, dst, rows_codes[:, -1].astype(np.int64), rng)
    # exits grouped by letter, in random order, each letter's tree exit last
    key = rng.random(src.shape)
    for u in range(5):
        has = tree[:, u] >= 0
        key[rows[has], tree[has, u]] = 2.0
    order = np.argsort(src * 3.0 + key, axis=1, kind="stable")
    succ = np.take_along_axis(dst, order, axis=1)
    counts = np.stack([(src == u).sum(axis=1) for u in range(5)], axis=1)
    offsets = np.concatenate([np.zeros((nb, 1), np.int64), np.cumsum(counts, axis=1)[:, :-1]], axis=1)
    used = np.zeros((nb, 5), np.int64)
    out = np.empty((nb, length), np.uint8)
    cur = rows_codes[:, 0].astype(np.int64)
    out[:, 0] = cur
    for i in range(1, length):
        at = offsets[rows, cur] + used[rows, cur]
        used[rows, cur] += 1
        cur = succ[rows, at]
        out[:, i] = cur
    return out
