"""Integration: `seq2exp prepare` on the real K562 chr22 kit (skipped when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seq2exp_cli.cli import cli
from seq2exp_cli.dataset import COMPLEMENT, PreparedDataset

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"
pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason=f"real K562 chr22 kit not present at {KIT}")


@pytest.fixture(scope="module")
def k562(tmp_path_factory) -> PreparedDataset:
    out = tmp_path_factory.mktemp("k562") / "k562_chr22"
    args = [
        "prepare", "--fasta", str(KIT / "hg38.chr22.fa.gz"),
        "--genes", str(KIT / "RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed"),
        "--expression", str(KIT / "K562.ENCFF934YBO.TPM.txt"),
        "--track", f"dnase={KIT / 'k562.dnase.chr22.bw'}", "--track", f"h3k27ac={KIT / 'k562.h3k27ac.chr22.bw'}",
        "--hic", str(KIT / "K562.chr22.hg38.hic"), "--blacklist", str(KIT / "GRCh38_unified_blacklist.bed"),
        "--split-mode", "blocks", "-o", str(out),
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return PreparedDataset(out)


def test_all_genes_kept_with_labels(k562):
    assert len(k562) == 517
    assert int(k562.genes["target"].notna().sum()) == 462  # README: 462/517 genes have a TPM
    assert set(k562.genes["split"]) == {"train", "valid", "test"}
    assert k562.signal_names == ["dnase", "h3k27ac", "hic"]


def test_known_tss_window(k562):
    genes = k562.genes.set_index("name")
    # MYH9: minus strand, TSS 36,388,066 (0-based first transcribed base, kit TSV)
    i = int(np.flatnonzero((k562.genes["name"] == "MYH9").to_numpy())[0])
    assert genes.at["MYH9", "tss"] == 36_388_066 and genes.at["MYH9", "strand"] == "-"
    chrom, start, end, strand = k562.genomic_window(i)
    assert (chrom, end - 1 - 36_388_066) == ("chr22", 100_000)
    import pysam

    fasta = pysam.FastaFile(str(KIT / "hg38.chr22.fa.gz"))
    genomic = fasta.fetch("chr22", start, end).upper()
    codes = np.frombuffer(genomic.encode(), dtype=np.uint8)
    lut = np.full(256, 4, np.uint8)
    for k, base in enumerate(b"ACGT"):
        lut[base] = k
    np.testing.assert_array_equal(k562.load_gene(i)["seq"], COMPLEMENT[lut[codes][::-1]])
    # MYH9 is highly expressed in K562 with an active promoter
    assert genes.at["MYH9", "target"] > 1.0
    assert genes.at["MYH9", "promoter_dnase"] > np.median(k562.genes["promoter_dnase"])


def test_hic_contact_falls_with_distance(k562):
    near, far = [], []
    centre = k562.window // 2
    for i in range(0, len(k562), 10):
        hic = k562.load_gene(i)["signals"][:, 2]
        near.append(hic[centre])
        far.append(0.5 * (hic[5_000] + hic[-5_000]))
    near, far = np.array(near), np.array(far)
    assert np.mean(near > far) > 0.9
    assert near.mean() > 1.5 * far.mean()


def test_dnase_track_values(k562):
    # an ABC element: reads per kb stored as log1p
    i = int(np.flatnonzero((k562.genes["name"] == "MYH9").to_numpy())[0])
    signals = k562.load_gene(i)["signals"]
    assert signals[:, 0].max() > np.log1p(100)  # strong DNase elements near MYH9
    assert (signals[:, 0] == 0).mean() > 0.3  # zero between elements
