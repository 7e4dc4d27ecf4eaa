"""bigWig writer/reader, BAM fragment coverage, track sniffing and name=path specs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.bam import BamCoverageTrack
from seq2exp_cli.io.bigwig import BigWigTrack, write_bigwig
from seq2exp_cli.io.tracks import open_track, parse_track_spec, sniff_track_format

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_inputs import SYNTHETIC_CHROM_SIZES, synthetic_peaks, write_synthetic_inputs  # noqa: E402

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"


def test_bigwig_roundtrip_runs_nan_and_edges(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    a = np.repeat(rng.integers(0, 4, 300).astype(np.float32), 7)  # 2,100 bp of runs incl. zeros
    a[50:60] = np.nan
    sizes = {"c1": 3000, "c2": 500}
    path = tmp_path / "x.bw"
    write_bigwig(path, sizes, {"c1": a, "c2": np.full(500, 0.5, np.float32)})
    with BigWigTrack(path) as track:
        assert track.chrom_sizes == sizes
        expected = np.nan_to_num(a, nan=0.0)
        np.testing.assert_array_equal(track.read("c1", 0, 2100), expected)
        np.testing.assert_array_equal(track.read("c1", 2100, 3000), np.zeros(900, np.float32))
        edge = track.read("c2", -5, 505)
        assert edge.dtype == np.float32 and edge.shape == (510,)
        assert (edge[:5] == 0).all() and (edge[-5:] == 0).all() and (edge[5:505] == 0.5).all()
        with pytest.raises(InputError, match="not in this bigWig"):
            track.read("chr9", 0, 10)


def test_bigwig_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        BigWigTrack(tmp_path / "missing.bw")
    text = tmp_path / "t.bw"
    text.write_text("chr1\t0\t10\t1.0\n")
    with pytest.raises(InputError, match="not a bigWig"):
        BigWigTrack(text)
    paths = write_synthetic_inputs(tmp_path / "kit")
    data = paths["dnase"].read_bytes()
    for n in (100, 1000, len(data) // 2):
        cut = tmp_path / f"cut{n}.bw"
        cut.write_bytes(data[:n])
        with pytest.raises(InputError, match=str(cut)):
            BigWigTrack(cut).read("chr1", 0, 300_000)


def test_truncated_real_bigwig(tmp_path: Path) -> None:
    src = KIT / "k562.dnase.chr22.bw"
    if not src.exists():
        pytest.skip("k562_chr22 kit not present")
    data = src.read_bytes()
    cut = tmp_path / "cut.bw"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        BigWigTrack(cut)


def test_real_bigwig_element_means() -> None:
    if not (KIT / "k562.dnase.chr22.bw").exists():
        pytest.skip("k562_chr22 kit not present")
    counts = pd.read_csv(
        KIT / "Enhancers.DHS.ENCFF860XAE.chr22.CountReads.bedgraph", sep="\t", header=None,
        names=["chrom", "start", "end", "n"],
    )
    with BigWigTrack(KIT / "k562.dnase.chr22.bw") as track:
        values = track.read("chr22", 0, 50_818_468)
    for row in counts.iloc[[0, 100, 5000, 17_731]].itertuples():
        mean = values[row.start : row.end].mean(dtype=np.float64)
        assert mean == pytest.approx(row.n * 1000 / (row.end - row.start), rel=1e-4, abs=1e-4)


def _write_bam(path: Path, reads: list[tuple[int, int, int, int, int]], tlens: dict[int, tuple[int, int]] | None = None) -> None:
    """reads: (start, length, flag, mapq, next_start) on one 10-kb contig 'c1'."""
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "c1", "LN": 10_000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for k, (start, length, flag, mapq, tlen) in enumerate(sorted(reads)):
            seg = pysam.AlignedSegment(out.header)
            seg.query_name = f"q{k}"
            seg.reference_id = 0
            seg.reference_start = start
            seg.cigarstring = f"{length}M"
            seg.query_sequence = "A" * length
            seg.mapping_quality = mapq
            seg.flag = flag
            if flag & 1:
                seg.next_reference_id = 0
                seg.next_reference_start = start + tlen - length if tlen > 0 else start + tlen + length
                seg.template_length = tlen
            out.write(seg)


def _coverage(intervals: list[tuple[int, int]], size: int = 10_000) -> np.ndarray:
    out = np.zeros(size, np.float32)
    for s, e in intervals:
        out[max(s, 0) : min(e, size)] += 1
    return out


def test_bam_single_end_shift_extsize_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "r.bam"
    reads = [
        (1000, 50, 0, 60, 0),  # + read
        (2000, 50, 16, 60, 0),  # - read: 5' end at 2050
        (3000, 50, 1024, 60, 0),  # duplicate
        (3100, 50, 256, 60, 0),  # secondary
        (3200, 50, 2048, 60, 0),  # supplementary
        (3300, 50, 512, 60, 0),  # QC fail
        (3400, 50, 0, 3, 0),  # low MAPQ
        (9980, 50 - 30, 0, 60, 0),  # near the end: extension clipped
    ]
    _write_bam(path, reads)
    assert not Path(str(path) + ".bai").exists()
    plain = BamCoverageTrack(path, min_mapq=10)
    assert Path(str(path) + ".bai").exists()  # index built on demand
    np.testing.assert_array_equal(plain.read("c1", 0, 10_000), _coverage([(1000, 1050), (2000, 2050), (9980, 10_000)]))
    ext = BamCoverageTrack(path, extsize=200, shift=-20, min_mapq=10)
    expected = _coverage([(980, 1180), (2070 - 200, 2070), (9960, 10_160)])
    np.testing.assert_array_equal(ext.read("c1", 0, 10_000), expected)
    # a window is the slice of the whole chromosome, padded with zeros outside
    np.testing.assert_array_equal(ext.read("c1", 950, 1100), expected[950:1100])
    tail = ext.read("c1", 9990, 10_010)
    assert (tail[:10] == 1).all() and (tail[10:] == 0).all()
    keep = BamCoverageTrack(path, keep_duplicates=True)
    assert keep.read("c1", 3000, 3050).sum() == 50
    assert keep.read("c1", 3400, 3450).sum() == 50  # min_mapq 0 keeps the MAPQ-3 read
    with pytest.raises(InputError, match="not in the BAM"):
        plain.read("chr1", 0, 5)


def test_bam_proper_pairs_give_fragments(tmp_path: Path) -> None:
    path = tmp_path / "p.bam"
    # a proper pair spanning [500, 800): read1 forward at 500, read2 reverse ending at 800
    reads = [(500, 50, 1 | 2 | 64 | 32, 60, 300), (750, 50, 1 | 2 | 128 | 16, 60, -300)]
    _write_bam(path, reads)
    pysam.index(str(path))
    track = BamCoverageTrack(path)
    np.testing.assert_array_equal(track.read("c1", 0, 10_000), _coverage([(500, 800)]))
    single = BamCoverageTrack(path, extsize=100)  # extsize: mates become single reads
    np.testing.assert_array_equal(single.read("c1", 0, 10_000), _coverage([(500, 600), (700, 800)]))


def test_bam_synthetic_reads_pile_at_peaks(tmp_path: Path) -> None:
    paths = write_synthetic_inputs(tmp_path)
    track = open_track(paths["bam"], min_mapq=30)
    assert isinstance(track, BamCoverageTrack)
    assert track.chrom_sizes == SYNTHETIC_CHROM_SIZES
    cov = track.read("chr1", 0, SYNTHETIC_CHROM_SIZES["chr1"])
    for chrom, centre in synthetic_peaks():
        if chrom == "chr1":
            assert cov[centre - 50 : centre + 50].mean() > 20
    assert cov[65_000:75_000].sum() == 0


def test_sniff_and_specs(tmp_path: Path) -> None:
    paths = write_synthetic_inputs(tmp_path, track_chrom_prefix="")
    assert sniff_track_format(paths["dnase"]) == "bigwig"
    assert sniff_track_format(paths["bam"]) == "bam"
    track = open_track(paths["dnase"])
    assert isinstance(track, BigWigTrack) and set(track.chrom_sizes) == {"1", "2", "MT"}
    for bad in (paths["gtf"], paths["juicer"], paths["fasta"]):
        with pytest.raises(InputError, match="bigWig .* or coordinate-sorted BAM"):
            open_track(bad)
    assert parse_track_spec("dnase=a/b.bw") == ("dnase", Path("a/b.bw"))
    assert parse_track_spec("H3K27ac_rep-1.v2=x=y.bw") == ("H3K27ac_rep-1.v2", Path("x=y.bw"))
    for bad in ("dnase", "=x.bw", "dnase=", "dn ase=x.bw", "dn/ase=x.bw"):
        with pytest.raises(InputError):
            parse_track_spec(bad)


def _bigwig_with_all_section_types(path: Path) -> dict[str, int]:
    """bedGraph, varStep and fixedStep sections (pyBigWig writes one kind per addEntries call)."""
    import pyBigWig

    sizes = {"c1": 100_000, "c2": 5_000, "c3": 800}
    rng = np.random.default_rng(11)
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()), maxZooms=2)
    edges = np.unique(rng.integers(0, 60_000, 4_000))  # > one block of 1,024 items
    keep = rng.random(edges.size - 1) < 0.8  # leave gaps
    starts, ends = edges[:-1][keep], edges[1:][keep]
    values = rng.normal(size=starts.size).round(3)
    values[5] = np.nan
    bw.addEntries(["c1"] * starts.size, starts.tolist(), ends=ends.tolist(), values=values.tolist())
    bw.addEntries("c1", [70_000, 70_050, 70_300], values=[1.5, 2.5, 3.5], span=20)  # varStep
    bw.addEntries("c2", 1_000, values=[0.25, 0.5, 0.75, 1.0], span=10, step=30)  # fixedStep
    bw.close()
    return sizes


def test_bigwig_intervals_native_reader_matches_pybigwig(tmp_path: Path, monkeypatch) -> None:
    import pyBigWig

    path = tmp_path / "sections.bw"
    sizes = _bigwig_with_all_section_types(path)
    reference = pyBigWig.open(str(path))
    with BigWigTrack(path) as track:
        for chrom in sizes:
            starts, ends, values = track.intervals(chrom)
            expected = np.array(reference.intervals(chrom) or np.zeros((0, 3)), dtype=np.float64)
            assert starts.dtype == np.int64 and values.dtype == np.float32
            np.testing.assert_array_equal(starts, expected[:, 0])
            np.testing.assert_array_equal(ends, expected[:, 1])
            np.testing.assert_array_equal(values, expected[:, 2].astype(np.float32))
        assert track._native not in (None, False)  # the numpy reader, not the fallback, answered
        assert track.intervals("c3")[0].size == 0
        with pytest.raises(InputError, match="not in this bigWig"):
            track.intervals("chrX")
    # a layout the numpy reader refuses falls back to pyBigWig with the same answer
    from seq2exp_cli.io import bigwig as bigwig_module

    def refuse(self, handle):
        raise bigwig_module._LayoutError("test")

    monkeypatch.setattr(bigwig_module._NativeIndex, "__init__", refuse)
    with BigWigTrack(path) as track:
        starts, ends, values = track.intervals("c2")
        assert track._native is False
        assert starts.tolist() == [1_000, 1_030, 1_060, 1_090] and ends.tolist() == [1_010, 1_040, 1_070, 1_100]
        assert values.tolist() == [0.25, 0.5, 0.75, 1.0]


def test_bigwig_intervals_of_real_track_match_pybigwig() -> None:
    import pyBigWig

    path = KIT / "k562.dnase.chr22.bw"
    if not path.exists():
        pytest.skip("k562_chr22 kit not present")
    with BigWigTrack(path) as track:
        starts, ends, values = track.intervals("chr22")
    expected = np.array(pyBigWig.open(str(path)).intervals("chr22"), dtype=np.float64)
    assert starts.size == expected.shape[0] > 10_000
    np.testing.assert_array_equal(starts, expected[:, 0])
    np.testing.assert_array_equal(ends, expected[:, 1])
    np.testing.assert_array_equal(values, expected[:, 2].astype(np.float32))
