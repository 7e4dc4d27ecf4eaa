"""FASTA: write small references, read sequence as uint8 codes (A0 C1 G2 T3, else 4).

Reading goes through pysam (htslib), which handles plain text and BGZF and builds a
samtools-style ``.fai`` (and ``.gzi``) index when none exists. A plain-gzip FASTA cannot be
indexed for random access, so it is refused with a pointer to ``bgzip``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.atomic import atomic_path

log = logging.getLogger(__name__)

BASE_CODE_N = 4
"""Code of N, IUPAC ambiguity letters, gaps and padding beyond chromosome ends."""

# 256-entry lookup: one numpy take per sequence instead of a Python loop over bases.
_LUT = np.full(256, BASE_CODE_N, dtype=np.uint8)
for _code, _letters in enumerate(("Aa", "Cc", "Gg", "Tt")):
    for _letter in _letters:
        _LUT[ord(_letter)] = _code
_LUT.setflags(write=False)

_BGZF_MAGIC = b"\x1f\x8b\x08\x04"  # gzip with FEXTRA: BGZF blocks carry the 'BC' extra field
# the empty block every complete BGZF file ends with (SAM spec, section 4.1.2)
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def encode_bases(seq: str | bytes) -> np.ndarray:
    """Encode a DNA string as uint8 codes.

    Args:
        seq: bases of length n; upper or lower case (soft-masked bases are ordinary bases).

    Returns:
        uint8[n]: A=0, C=1, G=2, T=3, anything else (N, IUPAC, '-') = 4.
    """
    if isinstance(seq, str):
        # latin-1 maps each char to one byte; non-latin chars (never valid bases) become 4.
        raw = seq.encode("latin-1", errors="replace")
    else:
        raw = bytes(seq)
    return _LUT[np.frombuffer(raw, dtype=np.uint8)]


def write_fasta(path: str | os.PathLike, records: Mapping[str, str], line_width: int = 60) -> None:
    """Write plain-text FASTA and a samtools-style ``.fai`` index beside it (``path + '.fai'``).

    Args:
        path: output file (written atomically).
        records: ``{name: sequence}`` in output order.
        line_width: bases per line (> 0).
    """
    if line_width <= 0:
        raise ValueError(f"line_width must be positive, got {line_width}")
    path = Path(path)
    fai_lines: list[str] = []
    offset = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii", newline="\n") as out:
        for name, seq in records.items():
            header = f">{name}\n"
            out.write(header)
            offset += len(header)
            # samtools records a one-line sequence's own length as its line width
            width = min(line_width, len(seq))
            fai_lines.append(f"{name}\t{len(seq)}\t{offset}\t{width}\t{width + 1}\n")
            for i in range(0, len(seq), line_width):
                line = seq[i : i + line_width] + "\n"
                out.write(line)
                offset += len(line)
    fai = Path(str(path) + ".fai")
    with atomic_path(fai) as tmp:
        tmp.write_text("".join(fai_lines), encoding="ascii")


def _gzip_kind(path: Path) -> str:
    """Return ``'plain'``, ``'bgzf'`` or ``'gzip'`` from the file's first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    # BGZF: gzip with FEXTRA whose first subfield is 'BC' (SAM spec, section 4.1).
    if head[:4] == _BGZF_MAGIC and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def _ends_with_bgzf_eof(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < len(_BGZF_EOF):
            return False
        handle.seek(-len(_BGZF_EOF), os.SEEK_END)
        return handle.read() == _BGZF_EOF


def _check_fai_fits(path: Path, fai: Path, kind: str) -> None:
    """Refuse a ``.fai`` that indexes bytes a plain FASTA does not have (an index of another file)."""
    if kind != "plain" or not fai.is_file():
        return
    size = path.stat().st_size
    try:
        for line in fai.read_text().splitlines():
            name, length, offset, line_bases, line_bytes = line.split("\t")[:5]
            length, offset, line_bases, line_bytes = int(length), int(offset), int(line_bases), int(line_bytes)
            full, rest = divmod(length, max(line_bases, 1))
            if offset + full * line_bytes + rest > size:
                raise InputError(
                    f"{fai}: index entry {name!r} points past the end of {path} ({size} bytes); the index is "
                    "stale: delete it so it is rebuilt"
                )
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{fai}: not a FASTA index; delete it so it is rebuilt") from None


class _quiet_htslib:
    """Silence htslib's own ``[E::...]`` lines; its failures surface as our one-line errors."""

    def __enter__(self) -> None:
        import pysam

        self._level = pysam.set_verbosity(0)

    def __exit__(self, *exc: object) -> None:
        import pysam

        pysam.set_verbosity(self._level)


class FastaReader:
    """Random access to a FASTA as uint8 codes.

    Reading goes through ``pysam.FastaFile`` (htslib): plain text or BGZF. pyfaidx reads
    BGZF through biopython's pure-Python decompressor, about 80x slower on a whole human
    chromosome (26 s vs 0.3 s for chr22), so htslib is used instead.

    Args:
        path: plain-text or BGZF-compressed FASTA. A ``.fai`` (and ``.gzi`` for BGZF) is
            built beside it when missing, which needs a writable directory.

    Attributes:
        path: the FASTA path.
        chrom_sizes: ``{name: length}`` in FASTA order.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import pysam

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: FASTA file not found; check the --fasta path")
        kind = _gzip_kind(self.path)
        if kind == "gzip":
            stem = self.path.name[:-3] if self.path.name.endswith(".gz") else self.path.name
            raise InputError(
                f"{self.path}: FASTA is gzip-compressed but not BGZF, so it cannot be indexed; "
                f"recompress it to a new file with `gunzip -c {self.path.name} | bgzip > {stem}.bgz` "
                f"and pass --fasta {stem}.bgz"
            )
        if kind == "bgzf" and not _ends_with_bgzf_eof(self.path):
            raise InputError(
                f"{self.path}: BGZF FASTA is truncated (no end-of-file block); copy or download it again"
            )
        fai = Path(str(self.path) + ".fai")
        _check_fai_fits(self.path, fai, kind)
        if not fai.exists() and not os.access(self.path.parent, os.W_OK):
            raise InputError(
                f"{self.path}: no .fai index and its directory is not writable; "
                "run `samtools faidx` on a copy in a writable directory"
            )
        try:
            with _quiet_htslib():
                self._fa = pysam.FastaFile(str(self.path))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{self.path}: cannot read or index the FASTA ({exc}); check that it is a FASTA, "
                "or delete a stale .fai/.gzi so it is rebuilt"
            ) from exc
        self.chrom_sizes: dict[str, int] = {
            str(n): int(s) for n, s in zip(self._fa.references, self._fa.lengths)
        }
        if not self.chrom_sizes:
            raise InputError(f"{self.path}: FASTA holds no sequences; give a non-empty FASTA")
        log.debug("%s: %d sequences", self.path, len(self.chrom_sizes))

    def fetch_codes(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Return the codes of ``[start, end)`` on ``chrom``.

        Args:
            chrom: a FASTA sequence name.
            start, end: 0-based half-open; may extend past either chromosome end.

        Returns:
            uint8[end - start]; positions outside ``[0, chrom length)`` are 4 (N).
        """
        size = self.chrom_sizes.get(chrom)
        if size is None:
            raise InputError(
                f"{self.path}: chromosome {chrom!r} is not in the FASTA "
                f"(it has {', '.join(list(self.chrom_sizes)[:4])}...); use the FASTA's names"
            )
        if end < start:
            raise ValueError(f"fetch_codes: end {end} < start {start}")
        out = np.full(end - start, BASE_CODE_N, dtype=np.uint8)
        lo, hi = max(start, 0), min(end, size)
        if hi > lo:
            try:
                with _quiet_htslib():
                    seq = self._fa.fetch(chrom, lo, hi)
            except (OSError, ValueError) as exc:
                raise InputError(
                    f"{self.path}: cannot read {chrom}:{lo}-{hi} ({exc}); the FASTA is damaged or its index "
                    f"{self.path}.fai is stale: delete the .fai (and .gzi) so it is rebuilt"
                ) from None
            if len(seq) != hi - lo:
                raise InputError(
                    f"{self.path}: {chrom}:{lo}-{hi} reads {len(seq)} of {hi - lo} bases; the index "
                    f"{self.path}.fai is stale or the FASTA truncated: delete the .fai so it is rebuilt"
                )
            out[lo - start : hi - start] = encode_bases(seq)
        return out

    def close(self) -> None:
        """Close the underlying file handle."""
        self._fa.close()

    def __enter__(self) -> FastaReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
