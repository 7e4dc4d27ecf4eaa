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

_BIGWIG_MAGIC = 0x888FFC26
_HEADER_BYTES = 64
_ZOOM_HEADER_BYTES = 24


def _check_bigwig_header(path: Path) -> None:
    """Raise InputError unless the fixed header and zoom headers fit in the file.

    pyBigWig crashes the interpreter (segfault) on some truncated files instead of raising,
    so the offsets it will follow are checked against the file size first.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_BYTES)
        if len(head) < _HEADER_BYTES or int.from_bytes(head[:4], "little") != _BIGWIG_MAGIC:
            raise InputError(
                f"{path}: not a bigWig file (bad magic number or too short); give a bigWig or BAM track"
            )
        n_zoom = int.from_bytes(head[6:8], "little")
        offsets = [int.from_bytes(head[i : i + 8], "little") for i in (8, 16, 24, 36, 44)]
        zooms = handle.read(n_zoom * _ZOOM_HEADER_BYTES)
    if len(zooms) < n_zoom * _ZOOM_HEADER_BYTES:
        offsets.append(size + 1)
    for z in range(n_zoom):
        base = z * _ZOOM_HEADER_BYTES
        offsets += [int.from_bytes(zooms[base + k : base + k + 8], "little") for k in (8, 16)]
    if any(off >= size for off in offsets):
        raise InputError(
            f"{path}: bigWig is truncated or corrupt ({size} bytes, header points past the end); "
            "download or convert it again"
        )


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


class BigWigTrack:
    """Per-bp values of a bigWig.

    Args:
        path: a bigWig file.

    Attributes:
        path: the file path.
        chrom_sizes: ``{chrom: length}`` from the bigWig header (its own names; map them onto
            the FASTA with ``io.chroms.build_alias_map``).

    Raises:
        InputError: missing, not a bigWig, or corrupt/truncated (also raised by ``read``).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import pyBigWig

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: bigWig file not found; check the track path")
        _check_bigwig_header(self.path)
        try:
            bw = pyBigWig.open(str(self.path))
        except RuntimeError as exc:
            bw = None
            log.debug("pyBigWig.open(%s) failed: %s", self.path, exc)
        if bw is None:
            raise InputError(f"{self.path}: not a readable bigWig file; give a bigWig (or BAM) track")
        try:
            ok = bw.isBigWig()
            chroms = bw.chroms() if ok else None
        except RuntimeError:
            ok, chroms = False, None
        if not ok or not chroms:
            bw.close()
            raise InputError(
                f"{self.path}: not a bigWig file or it has no chromosomes; give a bigWig (bigBed is not a track)"
            )
        self._bw = bw
        self.chrom_sizes: dict[str, int] = {str(c): int(s) for c, s in chroms.items()}

    def read(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Return per-bp values of ``[start, end)``.

        Args:
            chrom: a chromosome name of this file.
            start, end: 0-based half-open, may extend past the chromosome ends.

        Returns:
            float32[end - start]; NaN/absent bases and bases outside the chromosome are 0.
        """
        if end < start:
            raise ValueError(f"read: end {end} < start {start}")
        out = np.zeros(end - start, dtype=np.float32)
        size = self.chrom_sizes.get(chrom)
        if size is None:
            raise InputError(
                f"{self.path}: chromosome {chrom!r} is not in this bigWig "
                f"(it has {', '.join(list(self.chrom_sizes)[:4])}...); check chromosome aliases"
            )
        lo, hi = max(start, 0), min(end, size)
        if hi <= lo:
            return out
        try:
            vals = self._bw.values(chrom, lo, hi, numpy=True)
        except RuntimeError as exc:
            raise InputError(
                f"{self.path}: cannot read {chrom}:{lo}-{hi} ({exc}); the file looks truncated or "
                "corrupt, download or convert it again"
            ) from exc
        vals = np.asarray(vals, dtype=np.float32)
        out[lo - start : hi - start] = np.nan_to_num(vals, nan=0.0, posinf=0.0, neginf=0.0)
        return out

    def close(self) -> None:
        """Close the file."""
        self._bw.close()

    def __enter__(self) -> BigWigTrack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
