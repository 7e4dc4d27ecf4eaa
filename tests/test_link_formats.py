"""Element -> gene links in the ENCODE-rE2G predictions format and as a UCSC interact track."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seq2exp_cli.elements.tables import encode_links_table, interact_table
from seq2exp_cli.io.bed import INTERACT_COLUMNS, LINKS_COLUMNS


def _inputs():
    genes = pd.DataFrame({"gene_id": ["ENSG00000100030.15", "g2", "g3"], "name": ["MAPK1", "", "C"],
                          "chrom": ["chr1", "chr1", "chr2"], "tss": [10_000, 50_000, 700],
                          "strand": ["+", "-", "+"], "target": [1.2, 0.0, np.nan]})
    links = pd.DataFrame({"chr": ["chr1", "chr1", "chr2"], "start": [9_800, 30_000, 100],
                          "end": [10_300, 30_400, 400], "name": ["e_1", "e_2", "e_3"],
                          "TargetGene": ["MAPK1", "g2", "C"], "TargetGeneTSS": [10_000, 50_000, 700],
                          "distance": [50, 19_800, 450], "score": [0.9, 0.25, 0.5]})
    return links, genes


def test_encode_links_columns_classes_and_flags():
    links, genes = _inputs()
    table = encode_links_table(links, genes, "K562")
    assert tuple(table.columns) == LINKS_COLUMNS
    assert table["class"].tolist() == ["promoter", "distal", "promoter"]  # e_3 ends 300 bp before C's TSS
    assert table["isSelfPromoter"].tolist() == [True, False, True]
    assert table["TargetGeneIsExpressed"].tolist() == [True, False, pd.NA]
    assert table["TargetGeneEnsembl_ID"][0] == "ENSG00000100030.15" and table["TargetGeneEnsembl_ID"][1:].isna().all()
    assert table["distanceToTSS"].tolist() == [50, 19_800, 450] and table["Score"].tolist() == [0.9, 0.25, 0.5]
    assert (table["CellType"] == "K562").all()
    assert tuple(encode_links_table(links.iloc[:0], genes, "K562").columns) == LINKS_COLUMNS


def test_interact_rows_span_element_and_tss():
    links, genes = _inputs()
    table = interact_table(links, genes, "K562")
    assert tuple(table.columns) == INTERACT_COLUMNS
    row = table.iloc[1]
    assert (row["chromStart"], row["chromEnd"]) == (30_000, 50_001) and row["score"] == 250
    assert (row["targetStart"], row["targetEnd"], row["targetName"], row["targetStrand"]) == (50_000, 50_001, "g2", "-")
    assert table["chromStart"].tolist()[0] == 9_800 and table["exp"].eq("K562").all()
