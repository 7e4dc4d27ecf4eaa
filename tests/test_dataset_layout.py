"""Window geometry, interval merging and the strand convention of the store."""

import numpy as np
import pytest

from seq2exp_cli.dataset import (
    COMPLEMENT,
    hic_bins_for_window,
    merge_intervals,
    window_bounds,
    window_bounds_array,
)


@pytest.mark.parametrize("window", [10, 11, 20_000, 200_000])
@pytest.mark.parametrize("strand", ["+", "-"])
def test_tss_lands_at_centre_in_transcription_orientation(window, strand):
    tss = 123_457
    start, end = window_bounds(tss, strand, window)
    assert end - start == window
    index_of_tss = tss - start if strand == "+" else end - 1 - tss
    assert index_of_tss == window // 2


def test_vectorised_bounds_match_scalar():
    tss = np.array([100, 5_000, 7])
    minus = np.array([False, True, True])
    starts = window_bounds_array(tss, minus, 1_000)
    assert starts.tolist() == [window_bounds(t, "-" if m else "+", 1_000)[0] for t, m in zip(tss, minus)]


def test_complement_is_an_involution_and_keeps_n():
    codes = np.arange(5, dtype=np.uint8)
    assert COMPLEMENT[codes].tolist() == [3, 2, 1, 0, 4]
    assert np.array_equal(COMPLEMENT[COMPLEMENT[codes]], codes)


@pytest.mark.parametrize("window", [4_096, 20_000, 20_001, 7_500])
@pytest.mark.parametrize("start", [-12_345, 0, 4_999, 5_000, 77_777])
def test_hic_bins_cover_the_window(start, window):
    first, n_bins, offset = hic_bins_for_window(start, window, 5_000)
    assert first * 5_000 + offset == start and 0 <= offset < 5_000
    last_bin = (start + window - 1) // 5_000
    assert first + n_bins - 1 >= last_bin
    # the store's bin count does not depend on the start: check the worst offset too
    assert hic_bins_for_window(4_999, window, 5_000)[1] == n_bins
    assert (4_999 + window - 1) // 5_000 < n_bins


def test_merge_intervals():
    starts = np.array([50, 0, 10, 100, 200])
    ends = np.array([60, 20, 15, 150, 210])
    s, e = merge_intervals(starts, ends)
    assert s.tolist() == [0, 50, 100, 200] and e.tolist() == [20, 60, 150, 210]
    s, e = merge_intervals(np.array([0, 20]), np.array([10, 30]), gap=10)
    assert s.tolist() == [0] and e.tolist() == [30]
