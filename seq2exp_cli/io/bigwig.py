"""bigWig: per-bp signal tracks via pyBigWig (read and write), and a numpy reader of raw intervals.

``BigWigTrack.read`` (per-bp values of a window) goes through pyBigWig. ``BigWigTrack.intervals``
(every entry of one chromosome, for model-free element calling over whole genomes) decodes the
file's data blocks itself: the R-tree index gives the blocks, zlib inflates them and numpy views
the fixed-size records, which is ~10x faster than pyBigWig's per-interval Python tuples.
Layout: Kent et al. 2010 (bigWig/bigBed), UCSC ``bbiFile.h``/``bwgInternal.h``.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.atomic import atomic_path

log = logging.getLogger(__name__)

_BIGWIG_MAGIC = 0x888FFC26
_HEADER_BYTES = 64
_ZOOM_HEADER_BYTES = 24
_CHROM_TREE_MAGIC = 0x78CA8C91
_RTREE_MAGIC = 0x2468ACE0
_SECTION_HEAD = struct.Struct("<IIIIIBBH")  # chromId start end itemStep itemSpan type reserved itemCount
# section item layouts: 1 = bedGraph, 2 = varStep, 3 = fixedStep
_ITEM_DTYPES = {
    1: np.dtype([("start", "<u4"), ("end", "<u4"), ("value", "<f4")]),
    2: np.dtype([("start", "<u4"), ("value", "<f4")]),
    3: np.dtype([("value", "<f4")]),
}


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


class _LayoutError(Exception):
    """The native reader met something it does not handle; pyBigWig is used instead."""


class _NativeIndex:
    """Chromosome ids and data blocks of a little-endian bigWig, read from its B+ and R trees.

    Attributes:
        chrom_ids: ``{chrom: id}`` from the chromosome B+ tree.
        compressed: whether data blocks are zlib streams (``uncompressBufSize > 0``).
        blocks: int64[k, 4] rows (chrom id, start base, file offset, byte size), sorted by
            (chrom id, start base).
    """

    def __init__(self, handle) -> None:
        handle.seek(0)
        head = handle.read(_HEADER_BYTES)
        magic, _version, _zooms, chrom_tree, _data, index = struct.unpack_from("<IHHQQQ", head, 0)
        if magic != _BIGWIG_MAGIC:
            raise _LayoutError("big-endian or not a bigWig")
        self.compressed = struct.unpack_from("<I", head, 52)[0] > 0
        self.chrom_ids = self._chrom_tree(handle, chrom_tree)
        self.blocks = self._rtree(handle, index)

    @staticmethod
    def _read(handle, offset: int, size: int) -> bytes:
        handle.seek(offset)
        data = handle.read(size)
        if len(data) != size:
            raise _LayoutError(f"short read at {offset}")
        return data

    def _chrom_tree(self, handle, offset: int) -> dict[str, int]:
        magic, _block, key_size, val_size, _count = struct.unpack("<IIIIQ", self._read(handle, offset, 24))
        if magic != _CHROM_TREE_MAGIC or val_size != 8:
            raise _LayoutError("unexpected chromosome tree")
        ids: dict[str, int] = {}
        pending = [offset + 32]
        while pending:
            node = pending.pop()
            is_leaf, _reserved, count = struct.unpack("<BBH", self._read(handle, node, 4))
            item = key_size + 8
            body = self._read(handle, node + 4, count * item)
            for k in range(count):
                key = body[k * item : k * item + key_size].rstrip(b"\0").decode()
                if is_leaf:
                    ids[key] = struct.unpack_from("<I", body, k * item + key_size)[0]
                else:
                    pending.append(struct.unpack_from("<Q", body, k * item + key_size)[0])
        return ids

    def _rtree(self, handle, offset: int) -> np.ndarray:
        if struct.unpack("<I", self._read(handle, offset, 4))[0] != _RTREE_MAGIC:
            raise _LayoutError("unexpected R-tree")
        leaf = np.dtype([("c0", "<u4"), ("b0", "<u4"), ("c1", "<u4"), ("b1", "<u4"), ("off", "<u8"), ("size", "<u8")])
        rows = []
        pending = [offset + 48]
        while pending:
            node = pending.pop()
            is_leaf, _reserved, count = struct.unpack("<BBH", self._read(handle, node, 4))
            if is_leaf:
                items = np.frombuffer(self._read(handle, node + 4, count * 32), dtype=leaf)
                if (items["c0"] != items["c1"]).any():  # a block spanning chromosomes: not handled here
                    raise _LayoutError("a data block spans two chromosomes")
                rows.append(np.stack([items["c0"].astype(np.int64), items["b0"].astype(np.int64),
                                      items["off"].astype(np.int64), items["size"].astype(np.int64)], axis=1))
            else:
                body = self._read(handle, node + 4, count * 24)
                pending.extend(struct.unpack_from("<Q", body, k * 24 + 16)[0] for k in range(count))
        if not rows:
            return np.zeros((0, 4), np.int64)
        blocks = np.concatenate(rows)
        return blocks[np.lexsort((blocks[:, 1], blocks[:, 0]))]

    def intervals(self, handle, chrom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every entry of ``chrom`` in file order: (starts int64[n], ends int64[n], values float32[n])."""
        cid = self.chrom_ids.get(chrom)
        starts, ends, values = [], [], []
        if cid is not None:
            mine = self.blocks[self.blocks[:, 0] == cid]
            if mine.shape[0]:
                # a chromosome's blocks are written back to back: one read, then slices
                lo = int(mine[:, 2].min())
                span = self._read(handle, lo, int((mine[:, 2] + mine[:, 3]).max()) - lo)
                for off, size in zip((mine[:, 2] - lo).tolist(), mine[:, 3].tolist()):
                    raw = span[off : off + size]
                    self._sections(zlib.decompress(raw) if self.compressed else raw, cid, starts, ends, values)
        if not starts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(starts), np.concatenate(ends), np.concatenate(values)

    @staticmethod
    def _sections(block: bytes, cid: int, starts: list, ends: list, values: list) -> None:
        """Append the items of every section in one inflated block."""
        pos = 0
        while pos < len(block):
            chrom_id, start, _end, step, span, kind, _reserved, count = _SECTION_HEAD.unpack_from(block, pos)
            pos += _SECTION_HEAD.size
            dtype = _ITEM_DTYPES.get(kind)
            if dtype is None or chrom_id != cid:
                raise _LayoutError(f"section type {kind} / chromosome id {chrom_id}")
            items = np.frombuffer(block, dtype=dtype, count=count, offset=pos)
            pos += count * dtype.itemsize
            if kind == 1:
                s, e = items["start"].astype(np.int64), items["end"].astype(np.int64)
            elif kind == 2:
                s = items["start"].astype(np.int64)
                e = s + span
            else:
                s = start + step * np.arange(count, dtype=np.int64)
                e = s + span
            starts.append(s)
            ends.append(e)
            values.append(items["value"].astype(np.float32))


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
        self._native: _NativeIndex | None | bool = None  # False once the native reader gave up

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

    def intervals(self, chrom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every entry of ``chrom`` as stored, in file order (no clipping, NaN kept).

        Args:
            chrom: a chromosome name of this file.

        Returns:
            (starts int64[n], ends int64[n], values float32[n]); bases no entry covers are absent.
            A well-formed file gives sorted, disjoint entries; callers needing that must check it.

        Raises:
            InputError: unknown chromosome, or a file pyBigWig cannot read either.
        """
        if chrom not in self.chrom_sizes:
            raise InputError(f"{self.path}: chromosome {chrom!r} is not in this bigWig; check chromosome aliases")
        if self._native is not False:
            try:
                with open(self.path, "rb") as handle:
                    if self._native is None:
                        self._native = _NativeIndex(handle)
                    return self._native.intervals(handle, chrom)
            except (_LayoutError, zlib.error, struct.error, ValueError, UnicodeDecodeError) as exc:
                # anything unusual (big-endian, odd sections, corrupt blocks): pyBigWig decides
                log.debug("%s: native bigWig reader gave up (%s); using pyBigWig", self.path, exc)
                self._native = False
        try:
            entries = self._bw.intervals(chrom)
        except RuntimeError as exc:
            raise InputError(f"{self.path}: cannot read {chrom} ({exc}); the file looks truncated or corrupt, "
                             "download or convert it again") from exc
        if not entries:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        table = np.array(entries, dtype=np.float64)
        return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2].astype(np.float32)

    def close(self) -> None:
        """Close the file."""
        self._bw.close()

    def __enter__(self) -> BigWigTrack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_bigwig_runs(path: str | os.PathLike, chrom_sizes: Mapping[str, int], chrom_runs: Mapping[str, Any]) -> None:
    """Write per-chromosome :class:`~seq2exp_cli.io.bed.Runs` as a bigWig (unscored bases and zeros carry no entry)."""
    from seq2exp_cli.io.bed import LazyChromArrays, runs_to_array

    chroms = [c for c in chrom_sizes if c in chrom_runs]
    lazy = LazyChromArrays(chroms, lambda c: runs_to_array(chrom_runs[c], int(chrom_sizes[c])))
    write_bigwig(path, dict(chrom_sizes), lazy)
