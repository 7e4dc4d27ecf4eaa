"""call-elements' bounded memory: masks combine into runs as they stream in, and the per-gene
spill stores runs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from seq2exp_cli.elements.combine import GeneScoreSpill, combine_gene_scores
from seq2exp_cli.elements import ScoreTrack, runs_from_array

WINDOW, BIN = 1000, 50


@dataclass
class Mask:
    index: int
    chrom: str
    start: int
    end: int
    scores: np.ndarray


def _masks(n_genes: int, seed: int = 0) -> list[Mask]:
    """Genes every 300 bp on one chromosome: all windows merge into one long region."""
    rng = np.random.default_rng(seed)
    return [Mask(i, "c1", 100 + 300 * i, 100 + 300 * i + WINDOW,
                 np.repeat(rng.random(WINDOW // BIN).astype(np.float32), BIN)) for i in range(n_genes)]


def _reference(masks: list[Mask], size: int, combine: str) -> np.ndarray:
    stack = np.full((len(masks), size), np.nan, np.float32)
    for k, m in enumerate(masks):
        stack[k, m.start : m.end] = m.scores
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: bases no window covers
        return np.nanmax(stack, axis=0) if combine == "max" else np.nanmean(stack, axis=0).astype(np.float32)


@pytest.mark.parametrize("combine", ["max", "mean"])
def test_streamed_track_equals_the_whole_array_and_stays_a_few_windows(combine, caplog):
    caplog.set_level("INFO", logger="seq2exp_cli")
    masks = _masks(400)
    size = masks[-1].end + 500
    regions = pd.DataFrame({"region_id": [0], "chrom": ["c1"], "start": [100], "end": [masks[-1].end]})
    track = combine_gene_scores(regions, masks, {"c1": size}, combine)
    expected = ScoreTrack({"c1": size})
    expected.add_segment("c1", 0, _reference(masks, size, combine))
    got, want = track.runs("c1"), expected.runs("c1")
    assert np.array_equal(got.starts, want.starts) and np.array_equal(got.ends, want.ends)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6)
    open_bp = int(caplog.text.split("at most ")[1].split(" bp")[0])
    assert open_bp <= 3 * WINDOW < size // 10  # not one array over the 120-kb region


def test_masks_out_of_dataset_order_are_refused():
    masks = _masks(10)
    regions = pd.DataFrame({"region_id": [0], "chrom": ["c1"], "start": [100], "end": [masks[-1].end]})
    with pytest.raises(ValueError, match="dataset order"):
        combine_gene_scores(regions, [masks[9], masks[0]], {"c1": 10_000})


def test_spill_stores_bin_constant_scores_as_runs(tmp_path):
    masks = _masks(20)
    with GeneScoreSpill(tmp_path) as spill:
        for m in masks:
            spill.add(m.index, m.chrom, m.start, m.scores)
        spill.add(99, "c1", 0, np.arange(7, dtype=np.float32))  # no runs to gain: stored per bp
        stored = list(spill.genes())
        size = spill._path.stat().st_size
    assert size < 20 * 2 * WINDOW / 5 + 14
    for m, (index, chrom, start, end, values) in zip(masks, stored):
        assert (index, chrom, start, end) == (m.index, m.chrom, m.start, m.end)
        assert np.array_equal(values, m.scores.astype(np.float16))
    assert np.array_equal(stored[-1][4], np.arange(7, dtype=np.float16))
    assert len(runs_from_array(0, stored[0][4])) == WINDOW // BIN
