"""Chromosome aliasing (io/chroms.py)."""

from __future__ import annotations

import logging

import pytest

from seq2exp_cli.errors import ChromosomeNameError, InputError
from seq2exp_cli.io.chroms import build_alias_map, canonical_chrom_key, rename_required

FASTA = ["chr1", "chr2", "chrX", "chrM"]


def test_canonical_keys() -> None:
    assert {canonical_chrom_key(n) for n in ("chr1", "Chr1", "1", " 1 ")} == {"1"}
    assert {canonical_chrom_key(n) for n in ("chrM", "MT", "M", "chrMT")} == {"m"}
    assert canonical_chrom_key("chrX") == "x"


def test_alias_map_renames_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        mapping = build_alias_map(FASTA, ["1", "2", "X", "MT", "GL000220.1"], "t.bw")
    assert mapping == {"1": "chr1", "2": "chr2", "X": "chrX", "MT": "chrM"}
    assert "1->chr1" in caplog.text
    assert build_alias_map(FASTA, ["chr1", "chr2"], "a") == {"chr1": "chr1", "chr2": "chr2"}


def test_exact_name_wins_and_no_double_mapping() -> None:
    mapping = build_alias_map(FASTA, ["chr1", "1"], "t.bw")
    assert mapping == {"chr1": "chr1"}


def test_errors() -> None:
    with pytest.raises(ChromosomeNameError, match="no chromosome name matches"):
        build_alias_map(FASTA, ["scaffold_1"], "t.bw")
    with pytest.raises(ChromosomeNameError, match="'chr2' of the FASTA is missing"):
        build_alias_map(FASTA, ["1"], "t.bw", required=["chr1", "chr2"])
    assert issubclass(ChromosomeNameError, InputError)
    assert build_alias_map(FASTA, [], "empty") == {}


def test_rename_required() -> None:
    mapping = {"1": "chr1"}
    assert rename_required(mapping, "1", "g.gtf", FASTA) == "chr1"
    with pytest.raises(ChromosomeNameError, match="'7' is not in the FASTA"):
        rename_required(mapping, "7", "g.gtf", FASTA)
