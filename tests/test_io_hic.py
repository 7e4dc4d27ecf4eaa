"""Contact readers: .cool/.hic/.mcool, juicer dumps, bedpe, power law; anchor profiles."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.hic import PowerLawContacts, open_contacts, write_cool, write_juicer_dump

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_inputs import SYNTHETIC_CHROM_SIZES, SYNTHETIC_RESOLUTION, write_synthetic_inputs  # noqa: E402

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"
RES = 1000
SIZES = {"c1": 20_500, "c2": 8_000}  # c1: 21 bins, the last one partial


def _pixels(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for chrom, size in SIZES.items():
        n = -(-size // RES)
        i, j = np.triu_indices(n)
        counts = rng.poisson(100.0 / (j - i + 1.0))
        keep = counts > 0
        rows.append(pd.DataFrame({"chrom1": chrom, "start1": i[keep] * RES, "chrom2": chrom,
                                  "start2": j[keep] * RES, "count": counts[keep]}))
    return pd.concat(rows, ignore_index=True)


def _dense(pixels: pd.DataFrame, chrom: str) -> np.ndarray:
    n = -(-SIZES[chrom] // RES)
    mat = np.zeros((n, n))
    sub = pixels[pixels["chrom1"] == chrom]
    i, j = sub["start1"].to_numpy() // RES, sub["start2"].to_numpy() // RES
    mat[i, j] = sub["count"].to_numpy()
    mat[j, i] = sub["count"].to_numpy()
    return mat


def _truth(mat: np.ndarray, anchors: np.ndarray, firsts: np.ndarray, n_bins: int) -> np.ndarray:
    out = np.zeros((len(anchors), n_bins), np.float32)
    for k, (a, f) in enumerate(zip(anchors, firsts)):
        for j in range(n_bins):
            b = f + j
            if 0 <= a < len(mat) and 0 <= b < len(mat):
                out[k, j] = mat[a, b]
    return out


ANCHORS = np.array([0, 3, 10, 20, 20])
FIRSTS = np.array([-4, -1, 6, 16, 18])


@pytest.mark.parametrize("fmt", ["cool", "juicer", "juicer_override", "bedpe"])
def test_anchor_profiles_match_dense_truth(tmp_path: Path, fmt: str) -> None:
    pixels = _pixels()
    c1 = pixels[pixels["chrom1"] == "c1"]
    if fmt == "cool":
        path = tmp_path / "x.cool"
        write_cool(path, SIZES, RES, pixels)
    elif fmt == "juicer":
        path = tmp_path / "sample.chr1.RAWobserved.gz"
        write_juicer_dump(path, c1)
        with gzip.open(path, "rt") as handle:
            assert handle.readline().count("\t") == 2
    elif fmt == "juicer_override":
        path = tmp_path / "dump.txt"
        write_juicer_dump(path, c1)
    else:
        path = tmp_path / "x.bedpe"
        bed = pd.DataFrame({"a": pixels.chrom1, "b": pixels.start1, "c": pixels.start1 + RES,
                            "d": pixels.chrom2, "e": pixels.start2, "f": pixels.start2 + RES, "g": pixels["count"]})
        bed.to_csv(path, sep="\t", header=False, index=False)
    if fmt == "juicer":
        assert list(open_contacts(path, resolution=RES).chrom_sizes) == ["chr1"]  # from the file name
    kwargs = {"chrom": "c1", "chrom_sizes": SIZES} if fmt.startswith("juicer") else {}
    reader = open_contacts(path, resolution=RES, **kwargs)
    assert reader.resolution == RES and reader.normalization == "NONE"
    assert "c1" in reader.chrom_sizes
    got = reader.anchor_profiles("c1", ANCHORS, FIRSTS, 9)
    assert got.dtype == np.float32 and got.shape == (5, 9)
    np.testing.assert_array_equal(got, _truth(_dense(pixels, "c1"), ANCHORS, FIRSTS, 9))
    if fmt in ("cool", "bedpe"):
        got2 = reader.anchor_profiles("c2", np.array([2]), np.array([-2]), 12)
        np.testing.assert_array_equal(got2, _truth(_dense(pixels, "c2"), np.array([2]), np.array([-2]), 12))
    with pytest.raises(InputError, match="not in the contact map"):
        reader.anchor_profiles("c9", ANCHORS, FIRSTS, 3)


def test_cool_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.cool"
    write_cool(path, SIZES, RES, _pixels())
    with pytest.raises(InputError, match="resolution 5000 is not in the file .*1000"):
        open_contacts(path, resolution=5000)
    with pytest.raises(InputError, match="normalization 'KR' .* NONE"):
        open_contacts(path, resolution=RES, normalization="KR")
    with pytest.raises(InputError, match="not found"):
        open_contacts(tmp_path / "none.hic")
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    with pytest.raises(InputError, match="unrecognised contact format"):
        open_contacts(junk)
    dump = tmp_path / "c1.dump.txt"
    dump.write_text("0\t1500\t3\n")
    with pytest.raises(InputError, match="not a multiple of the resolution"):
        open_contacts(dump, resolution=RES)
    with pytest.raises(InputError, match="normalization 'VC'"):
        open_contacts(dump, resolution=500, normalization="VC")


def test_power_law_profile() -> None:
    reader = PowerLawContacts({"c1": 50_000}, resolution=5000)
    got = reader.anchor_profiles("c1", np.array([4, 0]), np.array([0, -2]), 7)
    d = np.abs(np.arange(7) - 4) * 5000.0
    expected = np.exp(5.9594510043736655 - 1.024238616787792 * np.log(np.maximum(d, 5000) + 1))
    np.testing.assert_allclose(got[0], expected, rtol=1e-6)
    assert (got[1, :2] == 0).all() and got[1, 2] == pytest.approx(expected[3], rel=1e-6)
    assert reader.normalization == "powerlaw"


def test_synthetic_cool_and_juicer_agree(tmp_path: Path) -> None:
    paths = write_synthetic_inputs(tmp_path)
    cool = open_contacts(paths["cool"], resolution=SYNTHETIC_RESOLUTION)
    dump = open_contacts(paths["juicer"], resolution=SYNTHETIC_RESOLUTION)
    assert cool.chrom_sizes["chr1"] == SYNTHETIC_CHROM_SIZES["chr1"]
    assert list(dump.chrom_sizes) == ["chr1"]
    anchors = np.arange(60)
    a = cool.anchor_profiles("chr1", anchors, anchors - 10, 21)
    b = dump.anchor_profiles("chr1", anchors, anchors - 10, 21)
    np.testing.assert_array_equal(a, b)
    # contacts fall with distance
    assert a[30, 10] > a[30, 12] > a[30, 20]


def _real(name: str) -> Path:
    path = KIT / name
    if not path.exists():
        pytest.skip("k562_chr22 kit not present")
    return path


def test_real_hic_cool_and_dump_agree() -> None:
    hic = open_contacts(_real("K562.chr22.hg38.hic"), resolution=5000)
    cool = open_contacts(_real("K562.chr22.hg38.5kb.cool"), resolution=5000)
    dump = open_contacts(_real("K562.chr22.5kb.RAWobserved.gz"), resolution=5000)
    assert hic.normalization == "NONE" and cool.normalization == "NONE"  # no VC in either
    assert dump.chrom_sizes.keys() == {"chr22"}
    tss = 20_000_000 // 5000
    anchors, firsts = np.array([tss]), np.array([tss - 20])
    a = hic.anchor_profiles("chr22", anchors, firsts, 41)
    np.testing.assert_array_equal(a, cool.anchor_profiles("chr22", anchors, firsts, 41))
    np.testing.assert_array_equal(a, dump.anchor_profiles("chr22", anchors, firsts, 41))
    profile = a[0]
    assert profile[20] > profile[15] > profile[0] and profile[20] > profile[25] > profile[40]
    with pytest.raises(InputError, match="5000, 10000, 25000, 100000"):
        open_contacts(_real("K562.chr22.hg38.hic"), resolution=7000)
    balanced = open_contacts(_real("K562.chr22.hg38.5kb.cool"), normalization="weight")
    w = balanced.anchor_profiles("chr22", anchors, firsts, 41)
    assert np.isfinite(w).all() and 0 < w.max() < 10
