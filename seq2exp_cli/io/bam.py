"""BAM: per-bp fragment coverage computed on the fly with pysam (a track like a bigWig)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from seq2exp_cli.errors import InputError

log = logging.getLogger(__name__)

# SAM flag bits (SAM spec 1.4)
_PAIRED, _PROPER, _UNMAPPED, _REVERSE = 0x1, 0x2, 0x4, 0x10
_READ1, _SECONDARY, _QCFAIL, _DUP, _SUPPLEMENTARY = 0x40, 0x100, 0x200, 0x400, 0x800

# How far before a query start a fragment may begin and still reach into the query; longer
# paired fragments starting before that are not counted there (documented below).
MAX_FRAGMENT = 5_000


def _find_index(path: Path) -> Path | None:
    for cand in (Path(str(path) + ".bai"), path.with_suffix(".bai"), Path(str(path) + ".csi")):
        if cand.exists():
            return cand
    return None


class BamCoverageTrack:
    """Per-bp fragment coverage of a coordinate-sorted, indexed BAM (MACS3 semantics).

    Each kept read gives one fragment and the track is the number of fragments covering
    each base:

    * single-end read (or any read when ``extsize`` is given): the read's 5' end (its start
      on the + strand, its end on the - strand) is moved ``shift`` bp in the read's direction
      (negative ``shift`` moves it upstream), then the fragment extends ``extsize`` bp from
      there in the read's direction, as ``macs3 callpeak --nomodel --shift S --extsize E``;
    * with ``extsize=None`` a single-end read covers its own aligned span, moved by
      ``shift`` in its direction;
    * with ``extsize=None`` a proper pair gives one fragment, from the leftmost mate's start
      over ``|TLEN|`` bp (as ``macs3 -f BAMPE``; ``shift`` is not applied to pairs); it is
      counted once, from the leftmost mate (read 1 on ties); paired reads that are not proper
      pairs are used as single-end reads. Fragments longer than ``MAX_FRAGMENT`` (5 kb) that
      start more than that before a query are missed by that query.

    Skipped: unmapped, secondary, supplementary, QC-fail, duplicate (unless
    ``keep_duplicates``) reads and reads with MAPQ < ``min_mapq``. Fragments are clipped to
    the chromosome.

    Args:
        path: BAM file. A missing ``.bai`` is built with ``pysam.index`` when the directory is
            writable.
        extsize: fragment length in bp, or None (see above).
        shift: 5' shift in bp in the read's direction.
        min_mapq: minimum mapping quality.
        keep_duplicates: count reads flagged as duplicates.

    Attributes:
        path, chrom_sizes (``{chrom: length}`` from the BAM header).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        extsize: int | None = None,
        shift: int = 0,
        min_mapq: int = 0,
        keep_duplicates: bool = False,
    ) -> None:
        import pysam

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: BAM file not found; check the track path")
        if extsize is not None and extsize <= 0:
            raise InputError(f"{self.path}: extsize must be positive, got {extsize}; give e.g. --extsize 200")
        if min_mapq < 0:
            raise InputError(f"{self.path}: min_mapq must be >= 0, got {min_mapq}")
        self.extsize, self.shift = extsize, int(shift)
        self.min_mapq, self.keep_duplicates = int(min_mapq), bool(keep_duplicates)
        if _find_index(self.path) is None:
            if not os.access(self.path.parent, os.W_OK):
                raise InputError(
                    f"{self.path}: BAM has no .bai index and its directory is not writable; "
                    "run `samtools index` on it where you can write"
                )
            try:
                log.info("%s: building BAM index", self.path)
                pysam.index(str(self.path))
            except pysam.SamtoolsError as exc:
                raise InputError(
                    f"{self.path}: cannot index the BAM ({str(exc).strip()[:200]}); "
                    "sort it with `samtools sort` first"
                ) from exc
        try:
            self._bam = pysam.AlignmentFile(str(self.path), "rb")
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.path}: not a readable BAM file ({exc}); give a BAM or bigWig track") from exc
        self.chrom_sizes: dict[str, int] = {
            str(n): int(s) for n, s in zip(self._bam.references, self._bam.lengths)
        }

    def _skip_mask(self) -> int:
        mask = _UNMAPPED | _SECONDARY | _SUPPLEMENTARY | _QCFAIL
        return mask if self.keep_duplicates else mask | _DUP

    def fragments(self, chrom: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Fragments that may overlap ``[start, end)`` on ``chrom``.

        Returns:
            (starts int64[f], ends int64[f]): fragment intervals, 0-based half-open, clipped to
            the chromosome (some may lie outside the query; callers clip).
        """
        size = self.chrom_sizes[chrom]
        margin = abs(self.shift) + (self.extsize or 0) + MAX_FRAGMENT
        skip = self._skip_mask()
        starts: list[int] = []
        ends: list[int] = []
        ext, shift, use_pairs = self.extsize, self.shift, self.extsize is None
        try:
            reads = self._bam.fetch(chrom, max(start - margin, 0), min(end + margin, size))
            for read in reads:
                flag = read.flag
                if flag & skip or read.mapping_quality < self.min_mapq:
                    continue
                if use_pairs and flag & _PAIRED and flag & _PROPER:
                    tlen = read.template_length
                    if tlen == 0:
                        continue
                    # count the pair once: from the leftmost mate (read 1 when both start together)
                    if tlen < 0 or (read.reference_start == read.next_reference_start and not flag & _READ1):
                        continue
                    lo = read.reference_start
                    starts.append(lo)
                    ends.append(lo + abs(tlen))
                    continue
                rs, re_ = read.reference_start, read.reference_end
                if re_ is None:
                    continue
                if flag & _REVERSE:
                    five = re_ - shift  # 5' end is the aligned end; "downstream" is leftwards
                    if ext is None:
                        starts.append(rs - shift)
                        ends.append(five)
                    else:
                        starts.append(five - ext)
                        ends.append(five)
                else:
                    five = rs + shift
                    if ext is None:
                        starts.append(five)
                        ends.append(re_ + shift)
                    else:
                        starts.append(five)
                        ends.append(five + ext)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{self.path}: cannot read {chrom}:{start}-{end} ({exc}); the BAM or its index "
                "looks corrupt, re-sort and re-index it"
            ) from exc
        s = np.clip(np.asarray(starts, dtype=np.int64), 0, size)
        e = np.clip(np.asarray(ends, dtype=np.int64), 0, size)
        keep = e > s
        return s[keep], e[keep]

    def read(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Return per-bp fragment coverage of ``[start, end)``.

        Args:
            chrom: a chromosome of the BAM header.
            start, end: 0-based half-open; may extend past the chromosome ends.

        Returns:
            float32[end - start]; 0 outside the chromosome.
        """
        if end < start:
            raise ValueError(f"read: end {end} < start {start}")
        if chrom not in self.chrom_sizes:
            raise InputError(
                f"{self.path}: chromosome {chrom!r} is not in the BAM header "
                f"(it has {', '.join(list(self.chrom_sizes)[:4])}...); check chromosome aliases"
            )
        length = end - start
        lo, hi = max(start, 0), min(end, self.chrom_sizes[chrom])
        if hi <= lo:
            return np.zeros(length, dtype=np.float32)
        fs, fe = self.fragments(chrom, lo, hi)
        # difference array over the query: +1 at each fragment start, -1 at its end
        fs = np.clip(fs - start, 0, length)
        fe = np.clip(fe - start, 0, length)
        keep = fe > fs
        diff = np.bincount(fs[keep], minlength=length + 1) - np.bincount(fe[keep], minlength=length + 1)
        return np.cumsum(diff[:length]).astype(np.float32)

    def close(self) -> None:
        """Close the file."""
        self._bam.close()

    def __enter__(self) -> BamCoverageTrack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
