"""Element -> target-gene links: a gene is linked to an element when its own mask (kept by
:class:`~seq2exp_cli.elements.combine.GeneScoreSpill`) reaches the calling threshold inside it.

pandas is imported only where a DataFrame is built (links).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from seq2exp_cli.column_table import ColumnTable
from seq2exp_cli.elements.combine import GeneScoreSpill
from seq2exp_cli.elements.tables import first_region_rows

if TYPE_CHECKING:
    import pandas as pd


def link_elements(
    elements: ColumnTable | pd.DataFrame, spill: GeneScoreSpill, genes: pd.DataFrame, threshold: float,
) -> pd.DataFrame:
    """One row per (element, gene) where the gene's own scores reach ``threshold`` in the element.

    Args:
        elements: narrowPeak-like table with chrom, start, end, name (one row per element;
            duplicate sub-peak rows are collapsed to the first).
        spill: the per-gene scores stored while combining.
        genes: the dataset's gene table (row i = gene index i) with name, gene_id, tss.
        threshold: the score cutoff used for calling.

    Returns:
        DataFrame with LINKS_COLUMNS (chr, start, end, name, TargetGene, TargetGeneTSS,
        distance = |element midpoint - TSS|, score = the gene's max score over the element),
        ordered as the elements, then by TSS.
    """
    import pandas as pd

    columns = ["chr", "start", "end", "name", "TargetGene", "TargetGeneTSS", "distance", "score"]
    first = first_region_rows(elements)
    if first.size == 0 or len(spill) == 0:
        return pd.DataFrame({c: [] for c in columns})
    elem_chrom = np.asarray(elements["chrom"]).astype(str).astype(object)[first]
    elem_start = np.asarray(elements["start"], np.int64)[first]
    elem_end = np.asarray(elements["end"], np.int64)[first]
    elem_name = np.asarray(elements["name"], dtype=object)[first]
    t16 = np.float16(threshold)
    per_chrom = {}
    for chrom in dict.fromkeys(elem_chrom.tolist()):  # first-seen order, as the elements come
        at = np.flatnonzero(elem_chrom == chrom)
        per_chrom[str(chrom)] = (elem_start[at], elem_end[at], at)
    names = genes["name"].astype(str).where(genes["name"].astype(str).str.len() > 0, genes["gene_id"].astype(str))
    names = names.to_numpy()
    tss = genes["tss"].to_numpy(np.int64)
    hits_elem, hits_gene, hits_score = [], [], []
    for index, chrom, g_start, g_end, scores in spill.genes():
        entry = per_chrom.get(chrom)
        if entry is None:
            continue
        starts, ends, rows = entry
        lo = int(np.searchsorted(ends, g_start, side="right"))
        hi = int(np.searchsorted(starts, g_end, side="left"))
        if hi <= lo:
            continue
        a = np.maximum(starts[lo:hi], g_start) - g_start
        b = np.minimum(ends[lo:hi], g_end) - g_start
        data = np.asarray(scores)
        best = np.array([data[x:y].max() for x, y in zip(a.tolist(), b.tolist())], dtype=np.float16)
        ok = best >= t16
        hits_elem.append(rows[lo:hi][ok])
        hits_gene.append(np.full(int(ok.sum()), index, np.int64))
        hits_score.append(best[ok].astype(np.float32))
    if not hits_elem or sum(len(h) for h in hits_elem) == 0:
        return pd.DataFrame({c: [] for c in columns})
    e = np.concatenate(hits_elem)
    g = np.concatenate(hits_gene)
    out = pd.DataFrame({
        "chr": elem_chrom[e],
        "start": elem_start[e],
        "end": elem_end[e],
        "name": elem_name[e],
        "TargetGene": names[g],
        "TargetGeneTSS": tss[g],
        "score": np.concatenate(hits_score),
        "_elem": e,
    })
    midpoint = (out["start"] + out["end"]) // 2
    out["distance"] = (midpoint - out["TargetGeneTSS"]).abs()
    out = out.sort_values(["_elem", "TargetGeneTSS", "TargetGene"], kind="stable").reset_index(drop=True)
    return out.loc[:, columns]


def links_bedpe(links: pd.DataFrame) -> pd.DataFrame:
    """BEDPE rows: the element, the 1-bp TSS, name ``ELEMENT|GENE`` and the link score."""
    import pandas as pd

    return pd.DataFrame({
        "chrom1": links["chr"], "start1": links["start"], "end1": links["end"],
        "chrom2": links["chr"], "start2": links["TargetGeneTSS"], "end2": links["TargetGeneTSS"] + 1,
        "name": links["name"].astype(str) + "|" + links["TargetGene"].astype(str),
        "score": links["score"],
    })
