"""FASTA writer, base encoding and FastaReader (plain, BGZF, plain-gzip refusal, real chr22)."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.fasta import BASE_CODE_N, FastaReader, encode_bases, write_fasta

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_inputs import N_RUN, SOFT_MASKED, SYNTHETIC_CHROM_SIZES, write_synthetic_inputs  # noqa: E402

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"


def _records(seed: int = 3) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("ACGTacgtNRY"))
    return {"a": "".join(rng.choice(alphabet, 437)), "b": "".join(rng.choice(alphabet, 60)), "c": "ACGT"}


def _truth(seq: str) -> np.ndarray:
    table = {"A": 0, "C": 1, "G": 2, "T": 3}
    return np.array([table.get(ch.upper(), 4) for ch in seq], dtype=np.uint8)


def test_encode_bases_str_bytes_and_case() -> None:
    codes = encode_bases("ACGTacgtNnRYK-")
    assert codes.dtype == np.uint8
    assert codes.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 4, 4, 4, 4]
    assert encode_bases(b"GATTACA").tolist() == [2, 0, 3, 3, 0, 1, 0]
    assert BASE_CODE_N == 4
    assert encode_bases("").shape == (0,)


def test_write_fasta_and_fai_match_samtools_layout(tmp_path: Path) -> None:
    records = _records()
    path = tmp_path / "g.fa"
    write_fasta(path, records, line_width=50)
    fai = [line.split("\t") for line in (tmp_path / "g.fa.fai").read_text().splitlines()]
    raw = path.read_bytes()
    for (name, seq), row in zip(records.items(), fai):
        assert row[0] == name and int(row[1]) == len(seq)
        offset = int(row[2])
        assert raw[offset : offset + min(50, len(seq))].decode() == seq[:50]
        width = min(50, len(seq))
        assert int(row[3]) == width and int(row[4]) == width + 1


def test_reader_values_and_padding(tmp_path: Path) -> None:
    records = _records()
    path = tmp_path / "g.fa"
    write_fasta(path, records, line_width=61)
    (tmp_path / "g.fa.fai").unlink()  # the reader must rebuild it
    with FastaReader(path) as reader:
        assert reader.chrom_sizes == {k: len(v) for k, v in records.items()}
        assert list(reader.chrom_sizes) == ["a", "b", "c"]
        np.testing.assert_array_equal(reader.fetch_codes("a", 0, 437), _truth(records["a"]))
        np.testing.assert_array_equal(reader.fetch_codes("a", 100, 163), _truth(records["a"][100:163]))
        out = reader.fetch_codes("c", -3, 6)
        assert out.tolist() == [4, 4, 4, 0, 1, 2, 3, 4, 4]
        assert reader.fetch_codes("b", 70, 75).tolist() == [4] * 5
        with pytest.raises(InputError, match="not in the FASTA"):
            reader.fetch_codes("chrZ", 0, 5)
    assert (tmp_path / "g.fa.fai").exists()


def test_bgzf_reads_and_plain_gzip_is_refused(tmp_path: Path) -> None:
    import pysam

    records = _records()
    plain = tmp_path / "g.fa"
    write_fasta(plain, records)
    pysam.tabix_compress(str(plain), str(tmp_path / "g.fa.gz"))
    with FastaReader(tmp_path / "g.fa.gz") as reader:
        np.testing.assert_array_equal(reader.fetch_codes("a", 5, 400), _truth(records["a"][5:400]))
    with open(plain, "rb") as src, gzip.open(tmp_path / "p.fa.gz", "wb") as dst:
        dst.write(src.read())
    with pytest.raises(InputError, match="bgzip"):
        FastaReader(tmp_path / "p.fa.gz")
    with pytest.raises(InputError, match="not found"):
        FastaReader(tmp_path / "missing.fa")


def test_synthetic_genome_soft_mask_and_n_run(tmp_path: Path) -> None:
    paths = write_synthetic_inputs(tmp_path)
    with FastaReader(paths["fasta"]) as reader:
        assert reader.chrom_sizes == SYNTHETIC_CHROM_SIZES
        chrom, start, end = N_RUN
        assert (reader.fetch_codes(chrom, start, end) == 4).all()
        chrom, start, end = SOFT_MASKED[0]
        masked = reader.fetch_codes(chrom, start, end)
        assert (masked < 4).all()  # lower case is an ordinary base
    text = paths["fasta"].read_text()
    assert any(c.islower() for c in text)


def test_real_chr22_20mer() -> None:
    fasta = KIT / "hg38.chr22.fa.gz"
    if not fasta.exists():
        pytest.skip("k562_chr22 kit not present")
    with FastaReader(fasta) as reader:
        assert reader.chrom_sizes == {"chr22": 50_818_468}
        codes = reader.fetch_codes("chr22", 20_000_000, 20_000_020)
    np.testing.assert_array_equal(codes, encode_bases("AGCCTCAGGAAGGAGGCAGT"))
