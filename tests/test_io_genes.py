"""Gene annotations (GTF/GFF3/BED/TSV), expression tables and attach_targets."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.genes import attach_targets, read_expression, read_genes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_inputs import SYNTHETIC_GENES, UNLABELLED_GENES, gene_tss, write_synthetic_inputs  # noqa: E402

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_synthetic_inputs(tmp_path_factory.mktemp("kit"))


@pytest.mark.parametrize("key", ["gtf", "bed", "genes_tsv"])
def test_formats_give_the_same_tss(kit: dict[str, Path], key: str) -> None:
    genes = read_genes(kit[key])
    assert list(genes.columns) == ["gene_id", "name", "chrom", "tss", "strand", "gene_type", "length"]
    assert genes["gene_id"].tolist() == [g[0] for g in SYNTHETIC_GENES]
    assert genes["tss"].tolist() == [gene_tss(g) for g in SYNTHETIC_GENES]
    assert genes["tss"].dtype == np.int64
    assert genes["strand"].tolist() == [g[5] for g in SYNTHETIC_GENES]
    # a TSV gives only the TSS, so no gene length; GTF and BED give the bounds
    lengths = [0] * len(SYNTHETIC_GENES) if key == "genes_tsv" else [g[4] - g[3] for g in SYNTHETIC_GENES]
    assert genes["length"].tolist() == lengths


def test_gtf_one_based_conversion_gz_gff3_and_transcripts(tmp_path: Path) -> None:
    lines = [
        'c1\tx\tgene\t101\t200\t.\t+\t.\tgene_id "G1"; gene_name "A";\n',
        'c1\tx\tgene\t301\t400\t.\t-\t.\tgene_id "G2"; gene_name "B"; gene_type "lncRNA";\n',
        'c1\tx\ttranscript\t101\t150\t.\t+\t.\tgene_id "G1"; transcript_id "t1";\n',
        'c1\tx\ttranscript\t121\t200\t.\t+\t.\tgene_id "G1"; transcript_id "t2";\n',
        'c1\tx\ttranscript\t301\t380\t.\t-\t.\tgene_id "G2"; transcript_id "t3";\n',
    ]
    path = tmp_path / "a.gtf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("#!comment\n" + "".join(lines))
    genes = read_genes(path)
    assert genes["tss"].tolist() == [100, 399]  # 1-based 101 -> 0-based 100; '-' end 400 -> 399
    assert genes["name"].tolist() == ["A", "B"]
    assert genes["gene_type"].tolist() == ["", "lncRNA"]
    assert genes["length"].tolist() == [100, 100]
    tx = read_genes(path, gtf_feature="transcript")
    assert tx["tss"].tolist() == [120, 379]  # longest transcript t2 (121..200); t3 ends at 380
    assert tx["length"].tolist() == [80, 80]
    assert read_genes(path, gene_types=["lncRNA"])["gene_id"].tolist() == ["G2"]
    gff = tmp_path / "a.gff3"
    gff.write_text("##gff-version 3\nc1\tx\tgene\t11\t20\t.\t-\t.\tID=gene:X;gene_id=X;Name=XN\n")
    g = read_genes(gff, name_attribute="Name")
    assert g.iloc[0].to_dict() == {"gene_id": "X", "name": "XN", "chrom": "c1", "tss": 19, "strand": "-", "gene_type": "",
                                 "length": 10}
    with pytest.raises(InputError, match="no 'exon' lines"):
        read_genes(path, gtf_feature="exon")


def test_bed_header_and_tsv_aliases(tmp_path: Path) -> None:
    bed = tmp_path / "g.bed"
    bed.write_text("track name=x\n#chr\tstart\tend\tname\tscore\tstrand\tEnsembl_ID\tgene_type\n"
                   "c1\t10\t50\tAAA\t0\t-\tENSG1\tprotein_coding\n")
    g = read_genes(bed)
    assert g.iloc[0][["gene_id", "name", "tss", "gene_type"]].tolist() == ["AAA", "AAA", 49, "protein_coding"]
    tsv = tmp_path / "g.txt"
    tsv.write_text("ensembl_id\tsymbol\tchromosome\ttss\tstrand\nE1\tS1\tc2\t77\t+\n")
    g = read_genes(tsv)
    assert g.iloc[0][["gene_id", "name", "chrom", "tss"]].tolist() == ["E1", "S1", "c2", 77]


def test_gene_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_genes(tmp_path / "none.gtf")
    odd = tmp_path / "odd.dat"
    odd.write_text("hello\tworld\n")
    with pytest.raises(InputError, match="unknown gene annotation format"):
        read_genes(odd)
    cases = {
        "strand.bed": ("c1\t1\t5\tA\t0\t.\n", "strand '.'"),
        "cols.tsv": ("gene_id\tchrom\ttss\nA\tc1\t5\n", "no strand column"),
        "tss.tsv": ("gene_id\tchrom\ttss\tstrand\nA\tc1\t5.5\t+\n", "tss '5.5' is not an integer"),
        "dup.bed": ("c1\t1\t5\tA\t0\t+\nc1\t9\t15\tB\t0\t+\nc1\t20\t25\tA\t0\t-\n", "'A' appears more than once \\(rows 1, 3\\).*name"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            read_genes(path)


def test_expression_reading(tmp_path: Path, kit: dict[str, Path]) -> None:
    expr = read_expression(kit["expression"])
    assert len(expr) == len(SYNTHETIC_GENES) - 2 and expr.dtype == np.float64
    headerless = tmp_path / "h.txt"
    headerless.write_text("A\t1.5\nB\tNA\nC\t\n")
    s = read_expression(headerless)
    assert s.index.tolist() == ["A", "B", "C"] and s["A"] == 1.5 and s[["B", "C"]].isna().all()
    multi = tmp_path / "m.tsv"
    multi.write_text("gene\tx\ty\tnote\nA\t1\t2\tok\n")
    with pytest.raises(InputError, match="x, y"):
        read_expression(multi)
    assert read_expression(multi, value_column="y")["A"] == 2.0
    bad = tmp_path / "b.tsv"
    bad.write_text("gene_id\tvalue\nA\t1\nB\thigh\n")
    with pytest.raises(InputError, match="line 3 \\(B\\): value 'high'"):
        read_expression(bad)


def test_attach_targets_matching_and_errors(kit: dict[str, Path]) -> None:
    genes = read_genes(kit["gtf"])
    out = attach_targets(genes, read_expression(kit["expression"]), source="e")
    unlabelled = out["gene_id"].isin(UNLABELLED_GENES)
    assert out.loc[unlabelled, "target"].isna().all() and out.loc[~unlabelled, "target"].notna().all()
    g = pd.DataFrame({"gene_id": ["ENSG01.2", "X"], "name": ["N1", "SYM"]})
    by_name = attach_targets(g, pd.Series([9.0], index=["SYM"]), transform="none", source="e")
    assert by_name["target"].tolist()[1] == 9.0 and np.isnan(by_name["target"][0])
    by_version = attach_targets(g, pd.Series([99.0], index=["ENSG01.7"]), source="e")
    assert by_version["target"][0] == pytest.approx(2.0)
    with pytest.raises(InputError, match="'SYM' appears 2 times"):
        attach_targets(g, pd.Series([1.0, 2.0], index=["SYM", "SYM"]), source="e")
    with pytest.raises(InputError, match="no gene matched"):
        attach_targets(g, pd.Series([1.0], index=["other"]), source="e")
    with pytest.raises(InputError, match="< 0"):
        attach_targets(g, pd.Series([-1.0], index=["X"]), source="e")
    assert attach_targets(g, pd.Series([-1.0], index=["X"]), transform="none", source="e")["target"][1] == -1.0


def test_real_refseq_bed_and_tpm() -> None:
    bed = KIT / "RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed"
    if not bed.exists():
        pytest.skip("k562_chr22 kit not present")
    genes = read_genes(bed)
    assert len(genes) == 517
    out = attach_targets(genes, read_expression(KIT / "K562.ENCFF934YBO.TPM.txt"), source="tpm")
    assert int(out["target"].notna().sum()) == 462
    ref = pd.read_csv(KIT / "k562_chr22_genes_rnaseq_tpm.tsv", sep="\t")
    merged = out.merge(ref, left_on="name", right_on="symbol", suffixes=("", "_ref"))
    assert len(merged) == 517 and (merged["tss"] == merged["tss_ref"]).all()
    np.testing.assert_allclose(merged["target"], merged["K562_log10_1p_TPM"], rtol=1e-5, atol=1e-5)  # file rounds to 6 digits


def test_expression_join_tries_every_id_column_and_reports_the_match(tmp_path: Path, caplog) -> None:
    from seq2exp_cli.io.genes import read_expression_candidates

    table = tmp_path / "expr.tsv"
    table.write_text("ensembl_id\tsymbol\tchrom\tvalue\n"
                     "ENSG0000001.4\tAAA\tchr1\t10\nENSG0000002\tBBB\tchr1\t20\nENSG0000003\tCCC\tchr1\t30\n")
    candidates = read_expression_candidates(table, value_column="value")
    assert [c.name for c in candidates] == ["ensembl_id", "symbol"]  # chrom repeats: not an id
    by_symbol = pd.DataFrame({"gene_id": ["g1", "g2", "g3"], "name": ["AAA", "BBB", "ZZZ"]})
    with caplog.at_level("INFO", logger="seq2exp_cli"):
        out = attach_targets(by_symbol, candidates, transform="none", source="expr.tsv")
    assert out["target"].tolist()[:2] == [10.0, 20.0] and np.isnan(out["target"][2])
    assert "column 'symbol' matched 2 of 3 genes (2 by name" in caplog.text
    by_ensembl = pd.DataFrame({"gene_id": ["ENSG0000001.9", "ENSG0000003"], "name": ["x", "y"]})
    out = attach_targets(by_ensembl, candidates, transform="none", source="expr.tsv")
    assert out["target"].tolist() == [10.0, 30.0]


def test_log_looking_values_warn_naming_the_option(caplog) -> None:
    genes = pd.DataFrame({"gene_id": [f"g{k}" for k in range(20)], "name": [""] * 20})
    logged = pd.Series(np.linspace(0.0, 3.7, 20), index=genes["gene_id"])
    with caplog.at_level("WARNING", logger="seq2exp_cli"):
        attach_targets(genes, logged, source="log.tsv")
    assert "look log-transformed already" in caplog.text and "--target-transform none" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="seq2exp_cli"):
        attach_targets(genes, logged * 1000, source="tpm.tsv")  # TPM-like range: no warning
        attach_targets(genes, logged, transform="none", source="log.tsv")
    assert caplog.text == ""


def test_kit_tpm_table_as_it_is_labels_462_genes() -> None:
    from seq2exp_cli.io.genes import read_expression_candidates

    bed = KIT / "RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed"
    if not bed.exists():
        pytest.skip("k562_chr22 kit not present")
    genes = read_genes(bed)
    candidates = read_expression_candidates(KIT / "k562_chr22_genes_rnaseq_tpm.tsv", value_column="K562_TPM")
    out = attach_targets(genes, candidates, source="tpm")
    assert len(out) == 517 and int(out["target"].notna().sum()) == 462
