"""The element pipeline (seq2exp_cli.elements): calling, summits, p/q, cutoff analysis, combining, links."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2exp_cli import elements as el
from seq2exp_cli.elements.combine import GeneScoreSpill, combine_gene_scores
from seq2exp_cli.elements.links import link_elements, links_bedpe
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.bed import Runs


def toy_track() -> el.ScoreTrack:
    """A fixed two-chromosome track used for golden outputs."""
    v = np.zeros(1000, np.float32)
    v[100:250] = 0.6
    v[260:400] = 0.8          # joined with the run before (gap 10 <= 30)
    v[300:310] = 0.95         # the summit run
    v[600:650] = 0.9          # too short alone (50 bp)
    v[800:1000] = 0.7         # touches the chromosome end
    t = el.ScoreTrack({"chrB": 1000, "chrA": 500})
    t.add_segment("chrB", 0, v)
    a = np.full(300, np.nan, np.float32)
    a[50:280] = 0.55
    t.add_segment("chrA", 100, a)
    return t


def test_golden_regions_and_narrowpeak_lines(tmp_path) -> None:
    from seq2exp_cli.io.bed import write_table

    regions = el.call_region_table(toy_track(), 0.5, min_length=200, max_gap=30)
    peaks = el.narrowpeak_table(regions, "toy", None)
    write_table(tmp_path / "toy.bed", peaks, "narrowPeak")
    # element 1: 150 bp at 0.6, 10 bp gap at 0, 130 at 0.8, 10 at 0.95 -> mean 203.5 / 300
    assert (tmp_path / "toy.bed").read_text().splitlines() == [
        "chrB\t100\t400\ttoy_element_1\t950\t.\t0.678333\t-1\t-1\t205",
        "chrB\t800\t1000\ttoy_element_2\t700\t.\t0.7\t-1\t-1\t100",
        "chrA\t150\t380\ttoy_element_3\t550\t.\t0.55\t-1\t-1\t115",
    ]
    summits = el.summits_table(peaks)
    assert summits["start"].tolist() == [305, 900, 265]
    assert (summits["end"] - summits["start"] == 1).all()
    # a DataFrame of the same regions gives the same rows (call_regions is the DataFrame form)
    frame_peaks = el.narrowpeak_table(el.call_regions(toy_track(), 0.5, min_length=200, max_gap=30), "toy", None)
    write_table(tmp_path / "frame.bed", frame_peaks, "narrowPeak")
    assert (tmp_path / "frame.bed").read_bytes() == (tmp_path / "toy.bed").read_bytes()


def el_cols():
    from seq2exp_cli.io.bed import NARROWPEAK_COLUMNS
    return NARROWPEAK_COLUMNS


def test_tied_summits_pick_the_middle_run_and_zero_max_picks_last() -> None:
    t = el.ScoreTrack({"c": 100})
    v = np.zeros(100, np.float32)
    v[10:20] = 1.0
    v[20:30] = 0.5
    v[30:40] = 1.0
    v[40:50] = 0.5
    v[50:60] = 1.0
    v[60:70] = 0.5
    v[70:80] = 1.0
    t.add_segment("c", 0, v)
    r = el.call_regions(t, 0.5, min_length=10, max_gap=0)
    assert r["summit"].tolist() == [35]      # runs at 15, 35, 55, 75 -> index (4+1)//2-1 = 1
    z = el.ScoreTrack({"c": 100})
    z.add_segment("c", 0, np.zeros(100, np.float32))
    r0 = el.call_regions(z, 0.0, min_length=10, max_gap=0)
    assert r0[["start", "end", "summit"]].values.tolist() == [[0, 100, 50]]


def test_names_use_the_basename_only() -> None:
    regions = el.call_regions(toy_track(), 0.5)
    names = el.element_names(regions, "k562_elements")
    assert names == ["k562_elements_element_1", "k562_elements_element_2", "k562_elements_element_3"]
    assert all("/" not in n for n in names)


def macs3_oracle(runs: Runs, cutoff: float, min_length: int, max_gap: int) -> list[tuple[int, int, int]]:
    """A literal, loop-based transcription of MACS3 bedGraphTrackI.call_peaks on runs."""
    out = []
    content: list[tuple[int, int, float]] = []

    def close():
        if content and content[-1][1] - content[0][0] >= min_length:
            best, value = [], 0.0
            for s, e, v in content:
                if not value or value < v:
                    best, value = [(s + e) // 2], v
                elif value == v:
                    best.append((s + e) // 2)
            out.append((content[0][0], content[-1][1], best[(len(best) + 1) // 2 - 1]))

    for s, e, v in zip(runs.starts.tolist(), runs.ends.tolist(), runs.values.tolist()):
        if v < np.float32(cutoff):
            continue
        if content and s - content[-1][1] <= max_gap:
            content.append((s, e, v))
        else:
            close()
            content = [(s, e, v)]
    close()
    return out


@st.composite
def score_arrays(draw):
    n = draw(st.integers(1, 400))
    levels = draw(st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.5, 0.7, 1.0]), min_size=1, max_size=40))
    lengths = draw(st.lists(st.integers(1, 40), min_size=len(levels), max_size=len(levels)))
    v = np.repeat(np.array(levels, np.float32), lengths)[:n]
    if v.shape[0] < n:
        v = np.concatenate([v, np.zeros(n - v.shape[0], np.float32)])
    return v


@settings(max_examples=100, deadline=None)
@given(v=score_arrays(), cutoff=st.sampled_from([0.1, 0.5, 0.6, 1.0]), min_length=st.integers(1, 60),
       max_gap=st.integers(0, 30))
def test_caller_properties_and_macs3_oracle(v, cutoff, min_length, max_gap) -> None:
    size = v.shape[0] + 5
    t = el.ScoreTrack({"c": size})
    t.add_segment("c", 0, v)
    r = el.call_regions(t, cutoff, min_length=min_length, max_gap=max_gap)
    starts, ends = r["start"].to_numpy(), r["end"].to_numpy()
    assert (np.diff(starts) > 0).all() and (starts[1:] >= ends[:-1]).all()       # sorted, disjoint
    assert (starts >= 0).all() and (ends <= size).all() and (ends - starts >= min_length).all()
    assert ((starts[1:] - ends[:-1]) > max_gap).all()                               # gaps not joined
    above = v >= np.float32(cutoff)
    inside = np.zeros(v.shape[0], bool)
    for s, e in zip(starts, ends):
        inside[s:e] = True
        assert above[s] and above[e - 1]                                         # trimmed to above bases
        assert (v[s:e][above[s:e]] >= cutoff).all()
        # every internal stretch below the cutoff is a gap of at most max_gap
        below = np.flatnonzero(~above[s:e])
        if below.size:
            runs = np.split(below, np.flatnonzero(np.diff(below) > 1) + 1)
            assert max(len(x) for x in runs) <= max_gap
    # above bases outside every region belong to a joined stretch shorter than min_length
    runs = el.runs_from_array(0, v)
    grouped = macs3_oracle(runs, cutoff, 1, max_gap)
    for s, e, _ in grouped:
        if e - s >= min_length:
            assert inside[s:e][above[s:e]].all()
    assert not (above & ~inside).any() or any(e - s < min_length for s, e, _ in grouped)
    assert list(zip(starts.tolist(), ends.tolist(), r["summit"].tolist())) == macs3_oracle(runs, cutoff, min_length,
                                                                                         max_gap)


def test_unscored_bases_are_never_above_and_segments_join() -> None:
    t = el.ScoreTrack({"c": 400})
    t.add_segment("c", 0, np.full(100, 0.9, np.float32))
    t.add_segment("c", 110, np.full(100, 0.9, np.float32))   # 10 bp unscored gap
    gap = el.call_regions(t, 0.5, min_length=150, max_gap=30)
    assert gap[["start", "end"]].values.tolist() == [[0, 210]]
    assert gap["mean_score"].iloc[0] == pytest.approx(0.9)      # mean over scored bases only
    t2 = el.ScoreTrack({"c": 400})
    t2.add_segment("c", 0, np.full(100, 0.9, np.float32))
    t2.add_segment("c", 110, np.full(100, 0.9, np.float32))
    assert el.call_regions(t2, 0.5, min_length=150, max_gap=5).empty
    assert el.call_regions(t2, 0.0, min_length=1, max_gap=5)[["start", "end"]].values.tolist() == [[0, 100], [110, 210]]


def test_empirical_p_counts_ties_against_the_statistic_and_q_is_bh() -> None:
    null = np.array([-1.0, 0.0, 0.0, 0.5, 2.0])
    p = 10.0 ** -el.empirical_pscores(np.array([3.0, 2.0, 0.0, -5.0]), null)
    # (1 + #{null >= t}) / (1 + 5): a draw equal to t counts against it
    np.testing.assert_allclose(p, [1 / 6, 2 / 6, 5 / 6, 1.0])
    assert el.empirical_pscores(np.zeros(3), np.zeros(6)).tolist() == [0.0, 0.0, 0.0]   # all ties: p = 1
    rng = np.random.default_rng(0)
    raw = rng.uniform(size=40) ** 3
    q = 10.0 ** -el.bh_qscores(-np.log10(raw))
    order = np.argsort(raw)
    brute = np.array([min(min(raw[order[j]] * 40 / (j + 1) for j in range(i, 40)), 1.0) for i in range(40)])
    np.testing.assert_allclose(q[order], brute, rtol=1e-12)
    assert el.bh_qscores(np.zeros(0)).shape == (0,)


def test_null_fdr_counts_null_calls_per_set_against_real_calls() -> None:
    from seq2exp_cli.elements.stats import null_fdr_qscores

    t = np.array([5.0, 4.0, 3.0, 0.0, 0.0])
    null = np.array([3.5, 0.0, 0.0, -1.0, 0.0, 0.0])               # two null sets of three calls
    q = 10.0 ** -null_fdr_qscores(t, null, 2)
    # t >= 5: (1 + 0) / 2 / 1 = 0.5; t >= 4: (1 + 0) / 2 / 2; t >= 3: (1 + 1) / 2 / 3; t >= 0: (1 + 5) / 2 / 5
    np.testing.assert_allclose(q, [0.25, 0.25, 1 / 3, 0.6, 0.6])    # monotone: min over lower thresholds
    same = 10.0 ** -null_fdr_qscores(np.zeros(4), np.zeros(8), 2)    # nothing differs from the null
    assert (same == 1.0).all()
    assert null_fdr_qscores(np.zeros(0), null, 2).shape == (0,)


def test_cutoff_selection_from_a_fraction() -> None:
    t = toy_track()
    hist = el.score_histogram(t)
    assert hist.total == 1000 + 230  # chrA: only its 230 non-NaN bases are scored
    # 10 bp at 0.95, 50 at 0.9: top 60/1230 bases
    assert el.cutoff_for_fraction(hist, 60 / 1230) == pytest.approx(0.9)
    assert el.cutoff_for_fraction(hist, 1 / 1230) == math.inf
    with pytest.raises(InputError):
        el.cutoff_for_fraction(hist, 0.0)


def test_cutoff_analysis_rows_equal_calling() -> None:
    t = toy_track()
    table = el.cutoff_analysis(t, min_length=100, max_gap=30, steps=20)
    assert list(table.columns) == ["cutoff", "n_elements", "total_bp", "mean_length"]
    assert (np.diff(table["cutoff"]) < 0).all()
    for row in table.to_frame().itertuples(index=False):
        r = el.call_regions(t, row.cutoff, min_length=100, max_gap=30)
        assert len(r) == row.n_elements and int((r["end"] - r["start"]).sum()) == row.total_bp


def test_call_summits_splits_two_humps() -> None:
    x = np.arange(600)
    v = (0.5 + 0.45 * np.exp(-((x - 150) / 40.0) ** 2) + 0.45 * np.exp(-((x - 450) / 40.0) ** 2)).astype(np.float32)
    v = np.round(v, 3)
    t = el.ScoreTrack({"c": 600})
    t.add_segment("c", 0, v)
    plain = el.call_regions(t, 0.5, min_length=50, max_gap=30)
    split = el.call_regions(t, 0.5, min_length=50, max_gap=30, call_summits=True)
    assert len(plain) == 1 and len(split) == 2
    assert split["start"].nunique() == 1 and split["end"].nunique() == 1
    assert sorted(abs(s - c) <= 3 for s, c in zip(split["summit"], [150, 450])) == [True, True]
    names = el.element_names(split, "s")
    assert names == ["s_element_1a", "s_element_1b"]


@dataclass
class FakeMask:
    index: int
    chrom: str
    start: int
    end: int
    scores: np.ndarray


def _genes() -> pd.DataFrame:
    return pd.DataFrame({"gene_id": ["G0", "G1", "G2"], "name": ["A", "B", ""], "chrom": ["c1", "c1", "c2"],
                         "tss": [150, 350, 60]})


def _masks() -> list[FakeMask]:
    a = np.zeros(200, np.float32)
    a[20:80] = 0.9                  # genome 120..180
    b = np.zeros(200, np.float32)
    b[0:60] = 0.4                   # genome 250..310 (below cutoff alone)
    b[100:160] = 0.7                # genome 350..410
    c = np.zeros(100, np.float32)
    c[10:70] = 0.8
    return [FakeMask(0, "c1", 100, 300, a), FakeMask(1, "c1", 250, 450, b), FakeMask(2, "c2", 0, 100, c)]


def _regions() -> pd.DataFrame:
    return pd.DataFrame({"region_id": [0, 1], "chrom": ["c1", "c2"], "start": [100, 0], "end": [450, 100]})


def test_combine_max_and_mean_with_blacklist() -> None:
    sizes = {"c1": 1000, "c2": 200}
    black = {0: np.zeros(350, bool), 1: np.zeros(100, bool)}
    black[0][300:310] = True        # genome 400..410
    t = combine_gene_scores(_regions(), _masks(), sizes, "max", blacklist=black.__getitem__)
    runs = t.runs("c1")
    arr = np.full(1000, np.nan, np.float32)
    for s, e, v in zip(runs.starts, runs.ends, runs.values):
        arr[s:e] = v
    assert arr[130] == pytest.approx(0.9) and arr[260] == pytest.approx(0.4) and arr[360] == pytest.approx(0.7)
    assert np.isnan(arr[405]) and np.isnan(arr[50]) and arr[200] == 0.0
    m = combine_gene_scores(_regions(), _masks(), sizes, "mean")
    runs = m.runs("c1")
    value_at = lambda pos: runs.values[np.searchsorted(runs.ends, pos, side="right")]
    assert value_at(260) == pytest.approx(0.2) and value_at(130) == pytest.approx(0.9)
    with pytest.raises(InputError, match="outside"):
        combine_gene_scores(_regions(), [FakeMask(0, "c1", 400, 500, np.zeros(100, np.float32))], sizes)
    with pytest.raises(InputError):
        combine_gene_scores(_regions(), [], sizes, "median")


def test_links_follow_each_genes_own_mask(tmp_path) -> None:
    sizes = {"c1": 1000, "c2": 200}
    with GeneScoreSpill(tmp_path) as spill:
        t = combine_gene_scores(_regions(), _masks(), sizes, "max", spill=spill)
        regions = el.call_regions(t, 0.5, min_length=50, max_gap=30)
        peaks = el.narrowpeak_table(regions, "x", None)
        links = link_elements(peaks, spill, _genes(), 0.5)
        assert link_elements(peaks.to_frame(), spill, _genes(), 0.5).equals(links)
        spill_dir = spill._dir
        assert spill_dir.exists()
    assert not spill_dir.exists()
    assert peaks.to_frame()[["chrom", "start", "end"]].values.tolist() == [
        ["c1", 120, 180], ["c1", 350, 410], ["c2", 10, 70]]
    assert links[["name", "TargetGene", "TargetGeneTSS", "distance"]].values.tolist() == [
        ["x_element_1", "A", 150, 0], ["x_element_2", "B", 350, 30], ["x_element_3", "G2", 60, 20]]
    assert links["score"].tolist() == pytest.approx([0.9, 0.7, 0.8], abs=1e-3)
    bedpe = links_bedpe(links)
    assert bedpe.iloc[1].tolist()[:7] == ["c1", 350, 410, "c1", 350, 351, "x_element_2|B"]


def test_bigwig_track_from_entries_equals_per_base_reading(tmp_path) -> None:
    import pyBigWig

    from seq2exp_cli.io.bigwig import BigWigTrack

    rng = np.random.default_rng(5)
    sizes = {"c1": 50_000, "c2": 3_000, "c3": 400}
    path = tmp_path / "s.bw"
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()), maxZooms=0)
    edges = np.unique(np.concatenate(([0], rng.integers(1, 50_000, 3_000), [50_000])))
    keep = rng.random(edges.size - 1) < 0.7  # gaps = absent = 0
    starts, ends = edges[:-1][keep], edges[1:][keep]
    values = rng.choice(np.array([0.0, 0.25, 0.5, 0.75, np.nan, np.inf]), size=starts.size)
    bw.addEntries(["c1"] * starts.size, starts.tolist(), ends=ends.tolist(), values=values.tolist())
    bw.addEntries(["c2"], [2_990], ends=[3_000], values=[0.5])  # touches the chromosome end
    bw.close()
    track = el.track_from_file(path, bigwig=True)
    assert track.chroms == ["c1", "c2", "c3"]
    with BigWigTrack(path) as source:
        for chrom, size in sizes.items():
            expected = el.runs_from_array(0, source.read(chrom, 0, size))
            got = track.runs(chrom)
            for field in ("starts", "ends", "values"):
                np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))


def test_bigwig_overlapping_entries_fall_back_to_per_base_reading() -> None:
    class Overlapping:
        path = "fake.bw"

        def intervals(self, chrom):
            return np.array([0, 5]), np.array([10, 8]), np.array([1.0, 2.0], np.float32)

        def read(self, chrom, start, end):
            out = np.zeros(end - start, np.float32)
            out[0:10] = 1.0
            out[5:8] = 2.0  # the later entry wins, as pyBigWig's values() resolves it
            return out

    from seq2exp_cli.elements.regions import _bigwig_runs

    runs = _bigwig_runs(Overlapping(), "c", 12)
    assert runs.starts.tolist() == [0, 5, 8, 10] and runs.ends.tolist() == [5, 8, 10, 12]
    assert runs.values.tolist() == [1.0, 2.0, 1.0, 0.0]


def test_element_names_number_regions_and_letter_subpeaks() -> None:
    regions = pd.DataFrame({
        "chrom": ["c1", "c1", "c1", "c2", "c2"], "start": [10, 10, 50, 10, 10], "end": [40, 40, 90, 40, 40],
        "subpeak": [0, 1, 0, 0, 1],
    })
    assert el.element_names(regions, "x") == [
        "x_element_1a", "x_element_1b", "x_element_2", "x_element_3a", "x_element_3b",
    ]
    assert el.element_names(regions.iloc[:0], "x") == []
