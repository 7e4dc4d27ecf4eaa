"""Hi-C contacts: .hic/.cool/.mcool (hictkpy), juicer dumps, binned bedpe, power law."""

from __future__ import annotations

import gzip
import logging
import os
import re
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


# ----------------------------------------------------------------------------- readers

HICTK_FORMATS = ("hic", "cool", "mcool")
ACCEPTED_CONTACT_FORMATS = (
    ".hic, .cool, .mcool, a Juicer dump `start1 start2 count` (one chromosome, named by the "
    "file name, e.g. chr22.RAWobserved.gz), or binned bedpe "
    "`chrom1 start1 end1 chrom2 start2 end2 count`"
)


class ContactReader:
    """Shared interface: the contact of each gene's TSS bin with a run of bins.

    Subclasses set ``path``, ``chrom_sizes``, ``resolution``, ``normalization`` and implement
    ``_pixels(chrom, lo, hi, width)``.
    """

    path: Path | None
    chrom_sizes: dict[str, int]
    resolution: int
    normalization: str

    def n_bins(self, chrom: str) -> int:
        """Number of bins of ``chrom`` (the last one may be partial)."""
        return -(-self.chrom_sizes[chrom] // self.resolution)

    def _pixels(self, chrom: str, lo: int, hi: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Upper-triangle pixels (i <= j, both in [lo, hi), j - i < width) as (i, j, value)."""
        raise NotImplementedError

    def _band(self, chrom: str, lo: int, hi: int, width: int) -> np.ndarray:
        """Dense diagonal band: float32[hi - lo, width], ``band[i - lo, d] = contact(i, i + d)``."""
        band = np.zeros((hi - lo, width), dtype=np.float32)
        i, j, v = self._pixels(chrom, lo, hi, width)
        i, j = np.minimum(i, j), np.maximum(i, j)
        keep = (i >= lo) & (j < hi) & (j - i < width)
        vals = np.nan_to_num(np.asarray(v, dtype=np.float32)[keep], nan=0.0, posinf=0.0, neginf=0.0)
        band[i[keep] - lo, j[keep] - i[keep]] = vals
        return band

    def anchor_profiles(
        self, chrom: str, anchor_bins: np.ndarray, first_bins: np.ndarray, n_bins: int
    ) -> np.ndarray:
        """Contacts of each anchor bin with ``n_bins`` consecutive bins.

        Args:
            chrom: chromosome name as in ``chrom_sizes``.
            anchor_bins: int[n], the TSS bin of each gene.
            first_bins: int[n], the first bin of each gene's run (may be negative).
            n_bins: run length.

        Returns:
            float32[n, n_bins]: ``out[k, j] = contact(anchor_bins[k], first_bins[k] + j)``
            (symmetric), 0 for bins outside the chromosome and for missing/NaN pixels.
            Only the band of diagonals the query needs is fetched, once per call.
        """
        if chrom not in self.chrom_sizes:
            raise InputError(
                f"{self.path}: chromosome {chrom!r} is not in the contact map "
                f"(it has {', '.join(list(self.chrom_sizes)[:4])}...); check chromosome aliases"
            )
        anchors = np.asarray(anchor_bins, dtype=np.int64).reshape(-1)
        firsts = np.asarray(first_bins, dtype=np.int64).reshape(-1)
        if anchors.shape != firsts.shape:
            raise ValueError("anchor_bins and first_bins must have the same length")
        out = np.zeros((anchors.size, n_bins), dtype=np.float32)
        total = self.n_bins(chrom)
        cols = firsts[:, None] + np.arange(n_bins, dtype=np.int64)[None, :]  # (n, n_bins)
        rows = np.broadcast_to(anchors[:, None], cols.shape)
        valid = (cols >= 0) & (cols < total) & (rows >= 0) & (rows < total)
        if not valid.any():
            return out
        lo_all = np.minimum(rows, cols)[valid]
        dist = np.abs(cols - rows)[valid]
        lo, hi = int(lo_all.min()), int(np.maximum(rows, cols)[valid].max()) + 1
        width = int(dist.max()) + 1
        band = self._band(chrom, lo, hi, width)
        out[valid] = band[lo_all - lo, dist]
        return out

    def close(self) -> None:
        """Release the file (no-op for in-memory readers)."""

    def __enter__(self) -> ContactReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HictkContacts(ContactReader):
    """.hic, .cool or .mcool read through hictkpy (see ``open_contacts``)."""

    def __init__(self, path: Path, kind: str, resolution: int, normalization: str) -> None:
        import hictkpy

        self.path = path
        try:
            if kind == "cool":
                handle = hictkpy.File(str(path))
                available = [int(handle.resolution())]
            else:
                available = [int(r) for r in hictkpy.MultiResFile(str(path)).resolutions()]
                handle = None
        except RuntimeError as exc:
            raise InputError(f"{path}: cannot open the {kind} file ({exc}); check that it is complete") from exc
        if resolution not in available:
            raise InputError(
                f"{path}: resolution {resolution} is not in the file (it has "
                f"{', '.join(map(str, available))}); pass one of these as the Hi-C resolution"
            )
        try:
            self._file = handle if handle is not None else hictkpy.File(str(path), resolution)
        except RuntimeError as exc:
            raise InputError(f"{path}: cannot open resolution {resolution} ({exc})") from exc
        self.resolution = int(resolution)
        self.chrom_sizes = {str(c): int(s) for c, s in self._file.chromosomes().items()}
        norms = [str(n) for n in self._file.avail_normalizations()]
        if normalization == "auto":
            chosen = "VC" if "VC" in norms else "NONE"
        elif normalization.upper() == "NONE":
            chosen = "NONE"
        elif normalization in norms:
            chosen = normalization
        else:
            raise InputError(
                f"{path}: normalization {normalization!r} is not in the file (it has "
                f"{', '.join(['NONE'] + norms)}); pass one of these, or 'auto'"
            )
        self.normalization = chosen
        log.info("%s: %s at %d bp, normalization %s", path, kind, self.resolution, chosen)

    def _pixels(self, chrom: str, lo: int, hi: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = self.chrom_sizes[chrom]
        query = f"{chrom}:{lo * self.resolution}-{min(hi * self.resolution, size)}"
        try:
            coo = self._file.fetch(
                query, normalization=self.normalization, count_type="float", diagonal_band_width=width
            ).to_coo()
        except RuntimeError as exc:
            raise InputError(f"{self.path}: cannot read {query} ({exc}); the file may be corrupt") from exc
        # coordinates of to_coo() are relative to the query's first bin
        return coo.row.astype(np.int64) + lo, coo.col.astype(np.int64) + lo, coo.data

    def close(self) -> None:
        if hasattr(self._file, "close"):
            self._file.close()


class TableContacts(ContactReader):
    """Intra-chromosomal pixels held in memory (from a Juicer dump or a binned bedpe).

    Chromosome sizes come from ``chrom_sizes`` when given, else they are the end of the last
    bin with a contact (bins past it read as 0 either way).
    """

    def __init__(
        self,
        path: Path,
        pixels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
        resolution: int,
        normalization: str,
        chrom_sizes: Mapping[str, int] | None,
    ) -> None:
        if normalization not in ("auto", "NONE", "none"):
            raise InputError(
                f"{path}: normalization {normalization!r} is not available in a text contact file "
                "(it has NONE); pass 'auto' or 'NONE'"
            )
        self.path, self.resolution, self.normalization = path, int(resolution), "NONE"
        self._pix = pixels
        if chrom_sizes is not None:
            self.chrom_sizes = {str(c): int(s) for c, s in chrom_sizes.items()}
        else:
            self.chrom_sizes = {
                c: int(max(i.max(initial=0), j.max(initial=0)) + 1) * self.resolution
                for c, (i, j, _v) in pixels.items()
            }
        for c in pixels:
            self.chrom_sizes.setdefault(c, int(pixels[c][1].max(initial=0) + 1) * self.resolution)

    def _pixels(self, chrom: str, lo: int, hi: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if chrom not in self._pix:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        return self._pix[chrom]


def _bins_of(path: Path, column: str, starts: np.ndarray, resolution: int) -> np.ndarray:
    bad = np.flatnonzero(starts % resolution)
    if bad.size:
        raise InputError(
            f"{path}: {column} {int(starts[bad[0]])} (row {int(bad[0]) + 1}) is not a multiple of the "
            f"resolution {resolution}; pass the file's bin size as the Hi-C resolution"
        )
    return starts // resolution


def _read_text_table(path: Path, expected: int) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, comment="#", engine="c")
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot parse the contact table ({exc}); check its format") from exc
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: contact file is empty; give a non-empty file") from None
    if not pd.api.types.is_numeric_dtype(table.iloc[:, -1 if expected == 3 else 6]):
        table = table.iloc[1:]  # a header line; numbers follow
    return table


def read_juicer_dump(path: Path, chrom: str, resolution: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Parse ``start1 start2 count`` lines into ``{chrom: (bin1, bin2, count)}``."""
    table = _read_text_table(path, 3)
    if table.shape[1] != 3:
        raise InputError(f"{path}: a Juicer dump has 3 columns (start1 start2 count), found {table.shape[1]}")
    try:
        s1 = table.iloc[:, 0].astype(np.int64).to_numpy()
        s2 = table.iloc[:, 1].astype(np.int64).to_numpy()
        cnt = table.iloc[:, 2].astype(np.float64).to_numpy()
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: non-numeric value in the Juicer dump ({exc}); fix the file") from exc
    return {chrom: (_bins_of(path, "start1", s1, resolution), _bins_of(path, "start2", s2, resolution), cnt)}


def read_bedpe_contacts(path: Path, resolution: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Parse binned bedpe ``chrom1 start1 end1 chrom2 start2 end2 count`` (intra-chromosomal only)."""
    table = _read_text_table(path, 7)
    if table.shape[1] < 7:
        raise InputError(
            f"{path}: binned bedpe needs 7 columns (chrom1 start1 end1 chrom2 start2 end2 count), "
            f"found {table.shape[1]}"
        )
    table = table[table.iloc[:, 0].astype(str) == table.iloc[:, 3].astype(str)]
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    try:
        for chrom, sub in table.groupby(table.iloc[:, 0].astype(str), sort=False):
            s1 = sub.iloc[:, 1].astype(np.int64).to_numpy()
            s2 = sub.iloc[:, 4].astype(np.int64).to_numpy()
            out[str(chrom)] = (
                _bins_of(path, "start1", s1, resolution),
                _bins_of(path, "start2", s2, resolution),
                sub.iloc[:, 6].astype(np.float64).to_numpy(),
            )
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: non-numeric value in the bedpe ({exc}); fix the file") from exc
    return out


_CHROM_FIELD = re.compile(r"^(chr)?([0-9]+|[XYM]|MT|Un.*|[0-9]+_.*)$", re.IGNORECASE)


def _chrom_from_name(path: Path) -> str:
    """Chromosome of a Juicer dump from its file name.

    The first dot-separated field that looks like a chromosome (``chr22``, ``22``, ``X``,
    ``MT``) wins, so both ABC's ``chr22.RAWobserved.gz`` and ``K562.chr22.5kb.RAWobserved.gz``
    work; otherwise the first field is used.
    """
    fields = path.name.split(".")
    for field in fields:
        if _CHROM_FIELD.match(field):
            return field
    return fields[0]


def _sniff_contacts(path: Path) -> str:
    import hictkpy

    name = path.name.lower()
    for ext in HICTK_FORMATS:
        if name.endswith("." + ext):
            return ext
    p = str(path)
    if hictkpy.is_hic(p):
        return "hic"
    if hictkpy.is_mcool_file(p):
        return "mcool"
    if hictkpy.is_cooler(p):
        return "cool"
    try:
        opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
        with opener(path, "rt") as handle:
            for line in handle:
                if line.strip() and not line.startswith("#"):
                    fields = line.split()
                    break
            else:
                fields = []
    except (OSError, UnicodeDecodeError, EOFError):
        fields = []
    if len(fields) == 3:
        return "juicer"
    if len(fields) >= 7:
        return "bedpe"
    raise InputError(f"{path}: unrecognised contact format; give {ACCEPTED_CONTACT_FORMATS}")


def open_contacts(
    path: str | os.PathLike,
    resolution: int = 5000,
    normalization: str = "auto",
    *,
    chrom: str | None = None,
    chrom_sizes: Mapping[str, int] | None = None,
) -> ContactReader:
    """Open a contact map; formats by extension, else by content.

    Args:
        path: .hic / .mcool (resolution picked from the file), .cool (must have this
            resolution), a Juicer dump ``start1 start2 count`` of one chromosome, or binned
            bedpe/TSV ``chrom1 start1 end1 chrom2 start2 end2 count`` (gzip allowed). For a
            Juicer dump the chromosome is the first dot-separated field of the file name that
            looks like a chromosome (``chr22.RAWobserved.gz`` and
            ``K562.chr22.5kb.RAWobserved.gz`` -> ``chr22``; ABC ships one dump per
            chromosome named this way), else the first field, unless ``chrom`` is given.
        resolution: bin size in bp.
        normalization: ``auto`` = ``VC`` when the file has it, else ``NONE`` (raw counts); any
            other name (``VC``, ``KR``, ``SCALE``, ``weight``, ``NONE``...) must be in the file.
            Text files only have ``NONE``.
        chrom: chromosome of a Juicer dump (overrides the file name).
        chrom_sizes: sizes for text formats (else inferred from the last contact).

    Returns:
        a ContactReader (``.path``, ``.chrom_sizes``, ``.resolution``, ``.normalization``,
        ``.anchor_profiles``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: Hi-C file not found; check the --hic path")
    if resolution <= 0:
        raise InputError(f"{path}: resolution must be positive, got {resolution}")
    kind = _sniff_contacts(path)
    if kind in HICTK_FORMATS:
        return HictkContacts(path, kind, int(resolution), normalization)
    if kind == "juicer":
        name = chrom or _chrom_from_name(path)
        pixels = read_juicer_dump(path, name, int(resolution))
    else:
        pixels = read_bedpe_contacts(path, int(resolution))
    return TableContacts(path, pixels, int(resolution), normalization, chrom_sizes)


class PowerLawContacts(ContactReader):
    """ABC's power-law fallback when no Hi-C is given.

    contact(d) = exp(scale - gamma * log(max(d, resolution) + 1)), with d the distance in bp
    between the two bin centres (|i - j| * resolution). Defaults are ABC's hg38 fit
    (gamma 1.0242, scale 5.9595).
    """

    def __init__(
        self,
        chrom_sizes: Mapping[str, int],
        resolution: int = 5000,
        gamma: float = 1.024238616787792,
        scale: float = 5.9594510043736655,
    ) -> None:
        self.path = None
        self.chrom_sizes = {str(c): int(s) for c, s in chrom_sizes.items()}
        self.resolution, self.gamma, self.scale = int(resolution), float(gamma), float(scale)
        self.normalization = "powerlaw"

    def contact_at(self, distance_bp: np.ndarray) -> np.ndarray:
        """Power-law contact for distances in bp (float64[...] -> float64[...])."""
        d = np.maximum(np.asarray(distance_bp, dtype=np.float64), self.resolution)
        return np.exp(self.scale - self.gamma * np.log(d + 1.0))

    def _band(self, chrom: str, lo: int, hi: int, width: int) -> np.ndarray:
        row = self.contact_at(np.arange(width) * self.resolution).astype(np.float32)
        return np.broadcast_to(row, (hi - lo, width))
