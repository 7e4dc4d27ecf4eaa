"""One simulated chromosome: the record the pipeline builds and the writers read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class ChromSim:
    """Everything simulated for one chromosome (arrays in genomic orientation)."""

    name: str
    size: int
    text: str
    genes: pd.DataFrame  # gene_id, name, chrom, tss, strand (+1/-1), gene_end, cpg_island, ...
    elements: pd.DataFrame  # every candidate: truth candidate columns + dnase_height, h3k27ac_height
    promoters: pd.DataFrame
    links: pd.DataFrame  # element, gene_id, effect, contact, distance, kind
    motifs: pd.DataFrame
    blacklist: list[tuple[int, int]]
    dnase: np.ndarray  # float32[size], observed
    h3k27ac: np.ndarray  # float32[size], observed
    reads: pd.DataFrame  # start, end, strand
    pixels: pd.DataFrame  # start1, start2, count
    composition: dict
