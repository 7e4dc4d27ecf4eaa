"""FASTA: write small references, read sequence as uint8 codes (A0 C1 G2 T3, else 4).

Reading goes through pyfaidx, which handles plain text and BGZF (with biopython installed)
and builds a samtools-style ``.fai`` index when none exists. A plain-gzip FASTA cannot be
indexed for random access, so it is refused with a pointer to ``bgzip``.
"""

from __future__ import annotations

import gzip
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
            fai_lines.append(f"{name}\t{len(seq)}\t{offset}\t{line_width}\t{line_width + 1}\n")
            for i in range(0, len(seq), line_width):
                line = seq[i : i + line_width] + "\n"
                out.write(line)
                offset += len(line)
    fai = Path(str(path) + ".fai")
    with atomic_path(fai) as tmp:
        tmp.write_text("".join(fai_lines), encoding="ascii")
