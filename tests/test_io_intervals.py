"""BED interval reader (blacklists)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.intervals import read_bed_intervals

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"


def test_reads_bed3_plus_skipping_headers(tmp_path: Path) -> None:
    path = tmp_path / "b.bed.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("browser position chr1\ntrack name=bl\n#comment\nchrom\tstart\tend\n\n"
                     "chr1\t10\t20\tname\t0\t+\nchr2 5 5\n")
    table = read_bed_intervals(path)
    assert table.to_dict("list") == {"chrom": ["chr1", "chr2"], "start": [10, 5], "end": [20, 5]}
    assert str(table["start"].dtype) == "int64"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chr1\t10\t20\nchr1\tx\t5\n", "line 2: start/end 'x'/'5' are not integers"),
        ("chr1\t10\n", "line 1 has 2 column"),
        ("chr1\t30\t20\n", "line 1: interval chr1:30-20 is invalid"),
        ("chr1\t-1\t20\n", "line 1: interval"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "b.bed"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_bed_intervals(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_bed_intervals(tmp_path / "none.bed")


def test_real_blacklist() -> None:
    path = KIT / "GRCh38_unified_blacklist.bed"
    if not path.exists():
        pytest.skip("k562_chr22 kit not present")
    table = read_bed_intervals(path)
    chr22 = table[table["chrom"] == "chr22"]
    assert len(table) == 910 and len(chr22) == 19
    assert int((chr22["end"] - chr22["start"]).sum()) == 2_319_426
