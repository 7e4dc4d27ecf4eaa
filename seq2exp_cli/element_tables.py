"""Output tables of called elements: names, narrowPeak rows and summits, as column arrays.

Every function takes and returns :class:`~seq2exp_cli.io.bed.ColumnTable` (a DataFrame with the
same columns is accepted as input too), so the model-free ``call-elements`` path never needs
pandas. One row per summit: a region split by ``--call-summits`` appears once per sub-peak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from seq2exp_cli.io.bed import ColumnTable

if TYPE_CHECKING:
    import pandas as pd


def _strings(values) -> np.ndarray:
    """object[n] of ``str`` (what the writers format without quoting checks per type)."""
    return np.asarray(values).astype(str).astype(object)


def region_keys(table: ColumnTable | pd.DataFrame) -> np.ndarray:
    """int64[n, 3]: (chromosome code, start, end) per row; equal rows = the same region."""
    codes = np.unique(np.asarray(table["chrom"]).astype(str), return_inverse=True)[1].reshape(-1)
    return np.stack([codes.astype(np.int64), np.asarray(table["start"], np.int64),
                     np.asarray(table["end"], np.int64)], axis=1)


def first_region_rows(table: ColumnTable | pd.DataFrame) -> np.ndarray:
    """int64[k]: the first row of each distinct region (chrom, start, end), in row order.

    Collapses the sub-peak rows of a split region to one, like
    ``drop_duplicates(subset=["chrom", "start", "end"])``.
    """
    if len(table) == 0:
        return np.zeros(0, np.int64)
    _, first = np.unique(region_keys(table), axis=0, return_index=True)
    return np.sort(first).astype(np.int64)


def _letters(k: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa: MACS3-style sub-peak suffixes."""
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(97 + r) + out
    return out


def element_names(regions: ColumnTable | pd.DataFrame, stem: str) -> list[str]:
    """``STEM_element_N`` (N from 1 per region); sub-peaks of a split region get a, b, c..."""
    if len(regions) == 0:
        return []
    # integer keys instead of "chrom:start-end" strings (string building dominated for ~10^4 rows)
    key = region_keys(regions)
    new_region = np.ones(len(regions), bool)
    new_region[1:] = (key[1:] != key[:-1]).any(axis=1)
    number = np.cumsum(new_region)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    multi = counts[inverse.reshape(-1)] > 1  # a key seen more than once anywhere in the table
    sub = np.asarray(regions["subpeak"]) if "subpeak" in regions else np.zeros(len(regions), int)
    return [f"{stem}_element_{n}" + (_letters(int(s)) if m else "") for n, s, m in zip(number, sub, multi)]


def narrowpeak_table(regions: ColumnTable | pd.DataFrame, stem: str,
                     pq: tuple[np.ndarray, np.ndarray] | None) -> ColumnTable:
    """narrowPeak rows: score = round(1000 x summit score) clipped to 0..1000, signalValue = mean score,
    pValue/qValue = the element's -log10 p/q per row of ``regions`` (-1 when ``pq`` is None),
    peak = summit offset.

    Returns:
        NARROWPEAK_COLUMNS + ``summit_score`` (float64, for the summits file), one row per
        row of ``regions``.
    """
    n = len(regions)
    start = np.asarray(regions["start"], np.int64)
    summit_score = np.asarray(regions["summit_score"], np.float64)
    if pq is not None:
        pvalue, qvalue = pq
    else:
        pvalue, qvalue = np.full(n, -1.0), np.full(n, -1.0)
    return ColumnTable({
        "chrom": _strings(regions["chrom"]),
        "start": start,
        "end": np.asarray(regions["end"], np.int64),
        "name": np.array(element_names(regions, stem), dtype=object).reshape(n),
        # round, not floor: float32(0.7) is 0.69999999 and should still score 700
        "score": np.clip(np.rint(1000.0 * np.nan_to_num(summit_score)), 0, 1000).astype(np.int64),
        "strand": np.full(n, ".", dtype=object),
        "signalValue": np.asarray(regions["mean_score"], np.float64),
        "pValue": np.asarray(pvalue, np.float64),
        "qValue": np.asarray(qvalue, np.float64),
        "peak": np.asarray(regions["summit"], np.int64) - start,
        "summit_score": summit_score,
    })


def summits_table(peaks: ColumnTable | pd.DataFrame) -> ColumnTable:
    """BED5 summits (1 bp at each summit; score column = the score at the summit, float64)."""
    start = np.asarray(peaks["start"], np.int64) + np.asarray(peaks["peak"], np.int64)
    return ColumnTable({
        "chrom": _strings(peaks["chrom"]), "start": start, "end": start + 1, "name": _strings(peaks["name"]),
        "score": np.asarray(peaks["summit_score"], np.float64),
    })
