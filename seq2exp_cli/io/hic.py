"""Hi-C contacts: .hic/.cool/.mcool (hictkpy), juicer dumps, binned bedpe, power law."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.atomic import atomic_path

log = logging.getLogger(__name__)

PIXEL_COLUMNS = ("chrom1", "start1", "chrom2", "start2", "count")


def write_cool(
    path: str | os.PathLike, chrom_sizes: Mapping[str, int], resolution: int, pixels: pd.DataFrame
) -> None:
    """Write a single-resolution .cool file with hictkpy's ``cooler.FileWriter``.

    Args:
        path: output file (written atomically).
        chrom_sizes: ``{chrom: length}`` in file order.
        resolution: bin size in bp.
        pixels: DataFrame with columns ``chrom1, start1, chrom2, start2, count`` (bin starts in
            bp, upper triangle: (chrom1, start1) <= (chrom2, start2) in file order).
    """
    import hictkpy

    missing = [c for c in PIXEL_COLUMNS if c not in pixels.columns]
    if missing:
        raise ValueError(f"write_cool: pixels lack columns {missing}")
    sizes = {str(c): int(s) for c, s in chrom_sizes.items()}
    bg2 = pd.DataFrame(
        {
            "chrom1": pixels["chrom1"].astype(str),
            "start1": pixels["start1"].astype(np.int64),
            "end1": np.minimum(
                pixels["start1"].to_numpy(np.int64) + resolution,
                pixels["chrom1"].astype(str).map(sizes).to_numpy(np.int64),
            ),
            "chrom2": pixels["chrom2"].astype(str),
            "start2": pixels["start2"].astype(np.int64),
            "end2": np.minimum(
                pixels["start2"].to_numpy(np.int64) + resolution,
                pixels["chrom2"].astype(str).map(sizes).to_numpy(np.int64),
            ),
            "count": pixels["count"].to_numpy(),
        }
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.unlink()  # hictkpy refuses to overwrite an existing file
        writer = hictkpy.cooler.FileWriter(str(tmp), sizes, int(resolution), tmpdir=str(path.parent))
        if len(bg2):
            # the dict entry point avoids hictkpy's optional pyarrow dependency
            writer.add_pixels_from_dict({c: bg2[c].tolist() for c in bg2.columns})
        writer.finalize()


def write_juicer_dump(path: str | os.PathLike, pixels: pd.DataFrame) -> None:
    """Write one chromosome's contacts as a Juicer dump: ``start1 start2 count`` per line.

    Args:
        path: output file; gzip-compressed when it ends in ``.gz`` (written atomically).
        pixels: DataFrame with ``start1, start2, count`` (other columns ignored).
    """
    path = Path(path)
    lines = "".join(
        f"{a}\t{b}\t{c:g}\n"
        for a, b, c in zip(
            pixels["start1"].to_numpy(np.int64),
            pixels["start2"].to_numpy(np.int64),
            pixels["count"].to_numpy(np.float64),
        )
    )
    with atomic_path(path) as tmp:
        if path.name.endswith(".gz"):
            with gzip.open(tmp, "wt", encoding="ascii", compresslevel=6) as out:
                out.write(lines)
        else:
            tmp.write_text(lines, encoding="ascii")
