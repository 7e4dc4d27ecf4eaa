"""Base-pair edges and summits of model-mode elements (elements.edges) on constructed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from seq2exp_cli import elements as el
from seq2exp_cli.elements.edges import EDGE_FRACTION, normalised_evidence, refine_edges

R = 200


def three_bin_track() -> el.ScoreTrack:
    track = el.ScoreTrack({"c": 5000})
    values = np.full(5000, 0.1, np.float32)
    values[1000:1200] = 0.6
    values[1200:1400] = 0.9
    values[1400:1600] = 0.6
    track.add_segment("c", 0, values)
    return track


def evidence_from(values: dict[str, np.ndarray]):
    def evidence(chrom, start, end):
        return normalised_evidence(np.stack([v[start:end] for v in values.values()]))
    return evidence


def test_normalised_evidence_sums_tracks_scaled_to_their_peak() -> None:
    tracks = np.array([[0.0, 2.0, 4.0], [0.0, 0.0, 0.0], [1.0, np.nan, -3.0]])
    np.testing.assert_allclose(normalised_evidence(tracks), [1.0, 0.5, 1.0])
    assert normalised_evidence(np.zeros((2, 4))).tolist() == [0.0] * 4


def test_edges_trim_to_the_signal_inside_the_edge_bins_and_the_summit_moves_to_its_peak() -> None:
    track = three_bin_track()
    regions = el.call_region_table(track, 0.5, min_length=R, max_gap=0)
    assert regions["start"].tolist() == [1000] and regions["end"].tolist() == [1600]
    assert regions["summit"].tolist() == [1300]
    dnase = np.zeros(5000)
    dnase[1130:1480] = 1.0
    dnase[1340] = 3.0                                     # the per-bp peak, inside the summit bin
    dnase[1101] = 0.5                                     # below EDGE_FRACTION of the peak: ignored
    assert 0.5 / 3.0 < EDGE_FRACTION
    out = refine_edges(regions, track.runs, evidence_from({"dnase": dnase}), R)
    assert out["start"].tolist() == [1130] and out["end"].tolist() == [1480]
    assert out["summit"].tolist() == [1340]
    assert out["summit_score"].tolist() == pytest.approx([0.9])   # the summit stays in its run
    assert out["mean_score"][0] == pytest.approx((70 * 0.6 + 200 * 0.9 + 80 * 0.6) / 350)
    peaks = el.narrowpeak_table(out, "x", None)
    assert peaks["peak"].tolist() == [210] and 0 <= peaks["peak"][0] < peaks["end"][0] - peaks["start"][0]
    assert peaks["score"].tolist() == [900]


def test_edges_stay_without_evidence_or_at_resolution_1_and_never_pass_a_summit() -> None:
    track = three_bin_track()
    regions = el.call_region_table(track, 0.5, min_length=R, max_gap=0)
    zero = {"dnase": np.zeros(5000)}
    same = refine_edges(regions, track.runs, evidence_from(zero), R)
    assert same["start"].tolist() == [1000] and same["end"].tolist() == [1600] and same["summit"].tolist() == [1300]
    assert refine_edges(regions, track.runs, evidence_from(zero), 1) is regions
    # the signal sits at the far left only: the end moves in by at most one bin
    left = np.zeros(5000)
    left[1000:1050] = 1.0
    out = refine_edges(regions, track.runs, evidence_from({"dnase": left}), R)
    assert out["start"].tolist() == [1000] and out["end"].tolist() == [1400]
    assert out["summit"][0] == 1300                                # no evidence in the summit window: kept
    # a one-bin element: both edges and the summit follow the signal inside the bin
    one = el.ScoreTrack({"c": 1000})
    one.add_segment("c", 0, np.concatenate([np.zeros(400), np.full(200, 0.8), np.zeros(400)]).astype(np.float32))
    single = el.call_region_table(one, 0.5, min_length=R, max_gap=0)
    right = np.zeros(1000)
    right[560:600] = 1.0
    out = refine_edges(single, one.runs, evidence_from({"dnase": right}), R)
    assert out["summit"].tolist() == [579] and out["start"].tolist() == [560] and out["end"].tolist() == [600]
    assert out["start"][0] < out["end"][0] and out["start"][0] <= out["summit"][0] < out["end"][0]


def test_sub_peak_rows_share_their_refined_edges() -> None:
    track = el.ScoreTrack({"c": 3000})
    values = np.zeros(3000, np.float32)
    hump = np.concatenate([np.linspace(0.5, 0.9, 100), np.linspace(0.9, 0.5, 100)]).astype(np.float32)
    values[400:600] = hump
    values[600:800] = 0.5
    values[800:1000] = hump
    track.add_segment("c", 0, values)
    regions = el.call_region_table(track, 0.5, min_length=50, max_gap=0, call_summits=True)
    assert len(regions) == 2 and len(set(regions["start"].tolist())) == 1
    dnase = np.zeros(3000)
    dnase[450:950] = 1.0
    out = refine_edges(regions, track.runs, evidence_from({"dnase": dnase}), R)
    assert out["start"].tolist() == [450, 450] and out["end"].tolist() == [950, 950]
    assert out["subpeak"].tolist() == [0, 1]
    names = el.narrowpeak_table(out, "s", None)["name"].tolist()
    assert names == ["s_element_1a", "s_element_1b"]


def test_edges_stay_inside_the_chromosome() -> None:
    track = el.ScoreTrack({"c": 700})
    track.add_segment("c", 0, np.full(700, 0.8, np.float32))
    regions = el.call_region_table(track, 0.5, min_length=R, max_gap=0)
    dnase = np.ones(700)
    out = refine_edges(regions, track.runs, evidence_from({"dnase": dnase}), R)
    assert out["start"].tolist() == [0] and out["end"].tolist() == [700]
