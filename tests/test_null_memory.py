"""Memory of the sequence null: bounded by a stretch of sequence, not by the region or genome."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd

from seq2exp_cli import sequence_shuffle
from seq2exp_cli.elements import null as element_null
from seq2exp_cli.elements.null import ShuffledGenome
from seq2exp_cli.sequence_shuffle import _shuffle_rows, shuffle_blocks


def doublets(codes: np.ndarray) -> np.ndarray:
    counts = np.zeros((5, 5), np.int64)
    np.add.at(counts, (codes[:-1], codes[1:]), 1)
    return counts


def test_a_region_shorter_than_a_stretch_is_shuffled_as_one_walk() -> None:
    codes = np.random.default_rng(0).choice(4, size=50_000).astype(np.uint8)
    whole = _shuffle_rows(codes.reshape(100, 500), np.random.default_rng(5)).reshape(-1)
    assert np.array_equal(shuffle_blocks(codes, 500, np.random.default_rng(5)), whole)


def test_a_long_region_is_shuffled_in_stretches_in_bounded_memory(monkeypatch) -> None:
    codes = np.random.default_rng(1).choice(4, size=2_000_000).astype(np.uint8)
    monkeypatch.setattr(sequence_shuffle, "LOCKSTEP_BP", 100_000)
    tracemalloc.start()
    out = shuffle_blocks(codes, 500, np.random.default_rng(2))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # all 4,000 blocks at once hold ~70 bytes per base (~140 MB); a 100-kb stretch ~7 MB
    assert peak < 2 * codes.nbytes + 20e6
    for b in range(0, codes.shape[0], 500):
        x, y = codes[b : b + 500], out[b : b + 500]
        assert x[0] == y[0] and np.array_equal(doublets(x), doublets(y))
    again = shuffle_blocks(codes, 500, np.random.default_rng(2))
    assert np.array_equal(out, again)


class _Regions:
    """The part of a PreparedDataset that ShuffledGenome reads: regions, genes, region_track."""

    def __init__(self, n_regions: int, length: int) -> None:
        self.regions = pd.DataFrame({"region_id": np.arange(n_regions), "chrom": "chr1",
                                     "start": np.arange(n_regions) * 2 * length,
                                     "end": np.arange(n_regions) * 2 * length + length})
        self.genes = pd.DataFrame({"region": np.arange(n_regions)})
        rng = np.random.default_rng(3)
        self._codes = [rng.choice(4, size=length).astype(np.uint8) for _ in range(n_regions)]

    def region_track(self, region_id: int, name: str) -> np.ndarray:
        assert name == "seq"
        return self._codes[region_id]


def test_the_shuffled_genome_keeps_only_the_regions_in_use() -> None:
    data = _Regions(6, 5_000)
    view = ShuffledGenome(data, 500, (0, 1))
    first = [view.region_codes(r).copy() for r in range(6)]
    assert len(view._cache) <= element_null.CACHED_REGIONS
    # an evicted region comes back the same: each region has its own seeded stream
    assert np.array_equal(view.region_codes(0), first[0])
    fresh = ShuffledGenome(data, 500, (0, 1))
    assert all(np.array_equal(fresh.region_codes(r), first[r]) for r in range(6))
