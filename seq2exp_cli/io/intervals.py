"""BED intervals (blacklists): BED3+, gz allowed, validated with line numbers."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pandas as pd

from seq2exp_cli.errors import InputError

SKIP_PREFIXES = ("#", "track", "browser")


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file, gunzipping it when it starts with the gzip magic bytes.

    A UTF-8 byte-order mark (spreadsheet exports write one) is dropped.
    """
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def read_bed_intervals(path: str | os.PathLike) -> pd.DataFrame:
    """Read the first three columns of a BED file.

    Lines starting with ``#``, ``track`` or ``browser`` and blank lines are skipped, and so is
    a first data line whose start/end are not integers (a column header).

    Args:
        path: BED3+ file, plain or gzip.

    Returns:
        DataFrame[chrom (str), start (int64), end (int64)], 0-based half-open, file order.

    Raises:
        InputError: missing file, fewer than 3 columns, non-integer or negative coordinates,
            or end < start, naming the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: BED file not found; check the path")
    chroms: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    seen_data = False
    try:
        with open_text(path) as handle:
            for lineno, line in enumerate(handle, start=1):
                text = line.strip()
                if not text or text.startswith(SKIP_PREFIXES):
                    continue
                fields = text.split("\t") if "\t" in text else text.split()
                if len(fields) < 3:
                    raise InputError(
                        f"{path}: line {lineno} has {len(fields)} column(s), BED needs chrom, start, end; fix that line"
                    )
                try:
                    start, end = int(fields[1]), int(fields[2])
                except ValueError:
                    if not seen_data:
                        seen_data = True  # a header line such as "chrom start end"
                        continue
                    raise InputError(
                        f"{path}: line {lineno}: start/end {fields[1]!r}/{fields[2]!r} are not integers; fix that line"
                    ) from None
                seen_data = True
                if start < 0 or end < start:
                    raise InputError(
                        f"{path}: line {lineno}: interval {fields[0]}:{start}-{end} is invalid "
                        "(need 0 <= start <= end, 0-based half-open); fix that line"
                    )
                chroms.append(fields[0])
                starts.append(start)
                ends.append(end)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read the BED file ({exc}); check that it is complete") from exc
    return pd.DataFrame(
        {
            "chrom": pd.Series(chroms, dtype=object),
            "start": pd.Series(starts, dtype="int64"),
            "end": pd.Series(ends, dtype="int64"),
        }
    )
