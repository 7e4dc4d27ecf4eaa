"""Signal tracks: pick the reader (bigWig or BAM) from the file's content, parse ``name=path``."""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.bam import BamCoverageTrack
from seq2exp_cli.io.bigwig import BigWigTrack

BIGWIG_MAGIC = 0x888FFC26
ACCEPTED_FORMATS = "bigWig (.bw/.bigWig) or coordinate-sorted BAM"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def sniff_track_format(path: str | os.PathLike) -> str:
    """Return ``'bigwig'`` or ``'bam'`` from the file's first bytes, else raise InputError.

    bigWig starts with the magic 0x888FFC26 (either byte order); BAM is BGZF whose first
    decompressed bytes are ``BAM\\1``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: track file not found; check the --track path")
    with open(path, "rb") as handle:
        head = handle.read(65536)
    if len(head) >= 4 and BIGWIG_MAGIC in (
        int.from_bytes(head[:4], "little"),
        int.from_bytes(head[:4], "big"),
    ):
        return "bigwig"
    if head[:4] == b"\x1f\x8b\x08\x04":
        try:
            # wbits 31: gzip wrapper; one BGZF block is at most 64 KiB
            magic = zlib.decompressobj(31).decompress(head, 4)
        except zlib.error:
            magic = b""
        if magic[:4] == b"BAM\x01":
            return "bam"
    raise InputError(f"{path}: unrecognised track format; give {ACCEPTED_FORMATS} (bedGraph: convert with bedGraphToBigWig)")


def open_track(
    path: str | os.PathLike, *, extsize: int | None = None, shift: int = 0, min_mapq: int = 0
) -> BigWigTrack | BamCoverageTrack:
    """Open a signal track by content: a ``BigWigTrack`` or a ``BamCoverageTrack``.

    The BAM options (see ``BamCoverageTrack``) are ignored for bigWig files.
    Both readers offer ``.path``, ``.chrom_sizes``, ``.read(chrom, start, end) -> float32[]``
    and ``.close()``.
    """
    kind = sniff_track_format(path)
    if kind == "bigwig":
        return BigWigTrack(path)
    return BamCoverageTrack(path, extsize=extsize, shift=shift, min_mapq=min_mapq)


def parse_track_spec(spec: str) -> tuple[str, Path]:
    """Split ``name=path`` into ``(name, Path(path))``.

    Names use letters, digits, ``_``, ``-`` and ``.`` only (they become file and column
    names); uniqueness across tracks is checked by the caller.
    """
    name, sep, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise InputError(f"track {spec!r}: expected NAME=PATH, e.g. dnase=k562_dnase.bw")
    if not _NAME_RE.match(name):
        raise InputError(
            f"track {spec!r}: name {name!r} may only use letters, digits, '_', '-' and '.'; rename it"
        )
    return name, Path(path)
