"""bigWig: per-bp signal tracks via pyBigWig (read and write)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.atomic import atomic_path

log = logging.getLogger(__name__)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a per-bp array into runs of equal value.

    Args:
        values: float[n].

    Returns:
        (starts int64[r], ends int64[r], values float64[r]) of maximal constant runs, zero
        and NaN runs dropped.
    """
    n = values.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    v = np.nan_to_num(values.astype(np.float64), nan=0.0)
    change = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    ends = np.concatenate((change, [n])).astype(np.int64)
    vals = v[starts]
    keep = vals != 0.0
    return starts[keep], ends[keep], vals[keep]


def write_bigwig(
    path: str | os.PathLike, chrom_sizes: Mapping[str, int], values: Mapping[str, np.ndarray]
) -> None:
    """Write per-bp values as a bigWig of constant runs (zeros and NaN skipped).

    Args:
        path: output file (written atomically).
        chrom_sizes: ``{chrom: length}``; the header and entries follow this order
            (pyBigWig needs entries sorted in header order).
        values: ``{chrom: float[n]}`` with n <= chrom length (shorter arrays cover the start
            of the chromosome); chromosomes absent here get no entries.
    """
    import pyBigWig

    for chrom in values:
        if chrom not in chrom_sizes:
            raise ValueError(f"write_bigwig: chromosome {chrom!r} is not in chrom_sizes")
        if len(values[chrom]) > chrom_sizes[chrom]:
            raise ValueError(
                f"write_bigwig: {chrom} has {len(values[chrom])} values but length {chrom_sizes[chrom]}"
            )
    path = Path(path)
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(str(c), int(s)) for c, s in chrom_sizes.items()], maxZooms=10)
            for chrom in chrom_sizes:
                if chrom not in values:
                    continue
                starts, ends, vals = _runs(np.asarray(values[chrom]))
                if starts.size == 0:
                    continue
                bw.addEntries(
                    [chrom] * int(starts.size),
                    starts.tolist(),
                    ends=ends.tolist(),
                    values=vals.tolist(),
                )
        finally:
            bw.close()
