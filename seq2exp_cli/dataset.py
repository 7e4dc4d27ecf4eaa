"""The prepared-dataset store: the contract between ``prepare`` and every later command.

A dataset is a directory that describes itself (see docs/architecture.md):

``manifest.json``
    format version, seq2exp version, command line, parameters, inputs with checksums,
    chromosome sizes in FASTA order, aliases, tracks, Hi-C, splits.
``genes.tsv``
    one row per gene: gene_id, name, chrom, tss, strand, target, split, region, hic_offset,
    then the per-gene feature columns listed in the manifest.
``regions.tsv``
    the union of gene windows (clipped to chromosomes), merged: region_id, chrom, start, end,
    offset (position of the region's first base in the concatenated arrays).
``arrays/seq.u8``, ``arrays/tracks.f16`` (or ``.f32``)
    all regions concatenated, memory-mapped; tracks channel-major (n_tracks, total_bp); a
    window is one row slice per array.
``arrays/hic.f32``
    (n_genes, (window - 1) // hic_bin + 2): contact of each gene's TSS bin with the bins under its
    window, stored as log10(1 + contact). Never per bp.
``blacklist.bed``
    blacklist intervals (FASTA names), kept as intervals, never as a per-base array.

Strand convention: every window is returned in transcription orientation with the TSS at
index ``L // 2`` (see :func:`window_bounds`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.stored_array import StoredArray

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLITS = ("train", "valid", "test")
BASE_N = 4
#: complement of codes A0 C1 G2 T3 N4
COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
GENE_COLUMNS = ["gene_id", "name", "chrom", "tss", "strand", "target", "split", "region", "hic_offset"]


def window_bounds(tss: int, strand: str, window: int) -> tuple[int, int]:
    """Genomic ``[start, end)`` of a gene's window, such that the TSS lands at index ``L // 2``
    after orienting the window in the direction of transcription.

    Plus strand: index i is genomic ``start + i``; minus strand: index i is ``end - 1 - i``.
    The bounds may run past chromosome ends; those positions read as padding.
    """
    half = window // 2
    start = tss - half if strand != "-" else tss - (window - 1 - half)
    return start, start + window


def window_bounds_array(tss: np.ndarray, minus: np.ndarray, window: int) -> np.ndarray:
    """Vectorised :func:`window_bounds`: returns int64 starts (ends are starts + window)."""
    half = window // 2
    return np.where(minus, tss - (window - 1 - half), tss - half).astype(np.int64)


def hic_bins_for_window(start: int, window: int, bin_size: int) -> tuple[int, int, int]:
    """First Hi-C bin under the window, how many bins the store keeps, and the window's offset
    inside the first bin. ``(window - 1) // bin_size + 2`` bins cover the window whatever its
    offset in the first bin (up to bin_size - 1), also when the window is not a multiple of
    the bin size."""
    first = start // bin_size  # floor division: correct for negative starts too
    return first, (window - 1) // bin_size + 2, start - first * bin_size


@dataclass(frozen=True)
class Region:
    """One merged stretch of the genome stored in the arrays."""

    region_id: int
    chrom: str
    start: int
    end: int
    offset: int


class PreparedDataset:
    """Read-only view of a prepared dataset directory.

    Opening reads the manifest and tables and memory-maps the arrays; nothing else is read
    until a window is requested, and the raw inputs (FASTA, bigWig, Hi-C) are never opened.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._open()
        except (KeyError, TypeError, ValueError, IndexError, pd.errors.ParserError, pd.errors.EmptyDataError,
                FileNotFoundError) as exc:
            what = exc.filename if isinstance(exc, FileNotFoundError) else f"{type(exc).__name__}: {exc}"
            raise InputError(f"{self.path}: damaged dataset ({str(what)[:160]}); re-run `seq2exp prepare` "
                             "to rebuild it") from None

    def _open(self) -> None:
        manifest_path = self.path / "manifest.json"
        if not manifest_path.is_file():
            raise InputError(
                f"{self.path}: not a seq2exp dataset (no manifest.json); create one with `seq2exp prepare`"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{manifest_path}: unreadable manifest ({exc}); re-run `seq2exp prepare`") from exc
        version = self.manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise InputError(
                f"{manifest_path}: dataset format version {version!r}, this seq2exp reads {FORMAT_VERSION}; "
                "re-run `seq2exp prepare` with this version"
            )
        self.window: int = int(self.manifest["window"])
        self.chrom_sizes: dict[str, int] = {k: int(v) for k, v in self.manifest["chrom_sizes"].items()}
        self.track_names: list[str] = [t["name"] for t in self.manifest["tracks"]]
        hic = self.manifest.get("hic")
        self.hic_bin_size: int | None = int(hic["resolution"]) if hic else None
        self.signal_names: list[str] = self.track_names + (["hic"] if hic else [])
        self.feature_names: list[str] = list(self.manifest.get("feature_names", []))
        self.genes = pd.read_csv(
            self.path / "genes.tsv", sep="\t", dtype={"gene_id": str, "name": str, "chrom": str, "split": str},
            keep_default_na=False, na_values={"target": [""]},
        )
        self.genes["target"] = pd.to_numeric(self.genes["target"], errors="coerce")
        self.regions = pd.read_csv(self.path / "regions.tsv", sep="\t", dtype={"chrom": str})
        self._regions = [
            Region(int(r.region_id), r.chrom, int(r.start), int(r.end), int(r.offset))
            for r in self.regions.itertuples(index=False)
        ]
        total = int(self.manifest["total_bp"])
        arrays = self.path / "arrays"
        self._check_array_sizes(arrays, total, len(self.genes))
        # read, not memory-mapped: a map would keep every window it served resident (io/stored_array.py)
        self._seq = StoredArray(arrays / "seq.u8", np.uint8, total)
        n_tracks = len(self.track_names)
        #: dtype of ``signals`` served by load_gene (float16 unless stored raw as float32)
        self.signal_dtype = np.dtype(self.manifest["tracks"][0]["dtype"]) if n_tracks else np.dtype(np.float16)
        # stored channel-major (n_tracks, total) by prepare: a window is a row slice per track
        self._tracks = [StoredArray(arrays / self.manifest["track_file"], self.signal_dtype, total, base=k * total)
                        for k in range(n_tracks)]
        self._hic = None
        if hic:
            self._hic = np.asarray(
                np.memmap(arrays / "hic.f32", dtype=np.float32, mode="r", shape=(len(self.genes), int(hic["n_bins"]))),
                dtype=self.signal_dtype,
            )  # small: n_genes x (window / bin + 1)
        self._blacklist = _load_blacklist(self.path / "blacklist.bed")
        # per-gene arrays, hoisted out of the per-sample path
        self._tss = self.genes["tss"].to_numpy(np.int64)
        self._chroms = self.genes["chrom"].astype(str).tolist()
        self._minus = (self.genes["strand"] == "-").to_numpy()
        self._region = self.genes["region"].to_numpy(np.int64)
        self._hic_offset = self.genes["hic_offset"].to_numpy(np.int64)
        self._starts = window_bounds_array(self._tss, self._minus, self.window)
        self._features = (
            self.genes[self.feature_names].to_numpy(np.float32)
            if self.feature_names
            else np.zeros((len(self.genes), 0), np.float32)
        )
        self._targets = self.genes["target"].to_numpy(np.float32)

    def _check_array_sizes(self, arrays: Path, total: int, n_genes: int) -> None:
        """Every array has the size the manifest implies (a truncated copy would fail mid-run)."""
        expected = {"seq.u8": total}
        tracks = self.manifest["tracks"]
        if tracks:
            expected[self.manifest["track_file"]] = len(tracks) * total * np.dtype(tracks[0]["dtype"]).itemsize
        if self.manifest.get("hic"):
            expected["hic.f32"] = max(n_genes, 1) * int(self.manifest["hic"]["n_bins"]) * 4
        for name, size in expected.items():
            path = arrays / name
            found = path.stat().st_size if path.is_file() else None
            if found is None or (found != size and not (name == "hic.f32" and n_genes == 0)):
                state = "missing" if found is None else f"{found:,} bytes where the manifest implies {size:,}"
                raise InputError(f"{path}: dataset array {state} (truncated or from another dataset); "
                                 "re-run `seq2exp prepare` to rebuild the dataset")

    def __len__(self) -> int:
        return len(self.genes)

    def indices(self, split: str = "all") -> np.ndarray:
        """Row indices of the genes in ``split`` (``train``, ``valid``, ``test`` or ``all``)."""
        if split == "all":
            return np.arange(len(self.genes), dtype=np.int64)
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose one of train, valid, test, all")
        return np.flatnonzero((self.genes["split"] == split).to_numpy()).astype(np.int64)

    def labelled(self, indices: np.ndarray) -> np.ndarray:
        """The subset of ``indices`` whose target is known."""
        indices = np.asarray(indices, dtype=np.int64)
        return indices[np.isfinite(self._targets[indices])]

    def data_config(self) -> dict[str, Any]:
        """What a model trained on this dataset depends on; compared by predict/call-elements."""
        return {
            "window": self.window,
            "signal_names": list(self.signal_names),
            "feature_names": list(self.feature_names),
            "hic_bin_size": self.hic_bin_size,
            "normalization": self.manifest.get("normalization"),
            "target_transform": self.manifest.get("target_transform"),
        }

    def genomic_window(self, i: int) -> tuple[str, int, int, str]:
        """``(chrom, start, end, strand)`` of gene ``i``'s window (may run past chromosome ends)."""
        start = int(self._starts[i])
        return self._chroms[i], start, start + self.window, "-" if self._minus[i] else "+"

    def _slice_region(self, i: int) -> tuple[int, int, int]:
        """Array offset of the in-chromosome part of window i, its length and its window offset."""
        region = self._regions[self._region[i]]
        start = int(self._starts[i])
        lo = max(start, region.start)
        hi = min(start + self.window, region.end)
        return region.offset + (lo - region.start), hi - lo, lo - start

    def load_gene(self, i: int) -> dict[str, Any]:
        """One sample, in transcription orientation.

        Returns a dict with ``seq`` uint8[L] (codes, 4 = N/padding), ``signals`` [L, S]
        (tracks then Hi-C; float16, or float32 for ``--normalize none`` data: cast on the
        device), ``features`` float32[F], ``target`` float32 (NaN when unlabelled),
        ``blacklist`` bool[L] and ``index``.

        ``signals`` is the transposed view of a contiguous channel-first [S, L] array: every
        copy here is then a contiguous row copy (a strided [L, S] float16 copy is ~20x slower),
        and :func:`collate_windows` stacks the rows without copying them again.
        """
        window = self.window
        array_off, n, win_off = self._slice_region(i)
        seq = np.full(window, BASE_N, dtype=np.uint8)
        self._seq.read_into(seq[win_off : win_off + n], array_off)
        rows = np.zeros((len(self.signal_names), window), dtype=self.signal_dtype)
        for k, track in enumerate(self._tracks):
            track.read_into(rows[k, win_off : win_off + n], array_off)
        if self._hic is not None:
            offset = int(self._hic_offset[i])
            rows[-1] = np.repeat(self._hic[i], self.hic_bin_size)[offset : offset + window]
        chrom, start, end, _ = self.genomic_window(i)
        blacklist = self.blacklist_mask(chrom, start, end)
        if self._minus[i]:
            seq = np.where(seq < BASE_N, 3 - seq, BASE_N).astype(np.uint8)[::-1].copy()
            rows = rows[:, ::-1].copy()
            blacklist = blacklist[::-1].copy()
        return {
            "seq": seq,
            "signals": rows.T,
            "features": self._features[i].copy(),
            "target": np.float32(self._targets[i]),
            "blacklist": blacklist,
            "index": int(i),
        }

    def blacklist_mask(self, chrom: str, start: int, end: int) -> np.ndarray:
        """bool[end - start], True on blacklisted bases (genomic orientation)."""
        mask = np.zeros(end - start, dtype=bool)
        intervals = self._blacklist.get(chrom)
        if intervals is None:
            return mask
        starts, ends = intervals
        lo = np.searchsorted(ends, start, side="right")
        hi = np.searchsorted(starts, end, side="left")
        for s, e in zip(starts[lo:hi], ends[lo:hi]):
            mask[max(s, start) - start : min(e, end) - start] = True
        return mask

    def region_blacklist(self, region_id: int) -> np.ndarray:
        """bool[end - start] over one stored region (genomic orientation)."""
        region = self._regions[region_id]
        return self.blacklist_mask(region.chrom, region.start, region.end)

    def region_track(self, region_id: int, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """The stored values of ``name`` (``seq`` or a track name) over one region, or over its
        bases ``[lo, hi)`` counted from the region's start."""
        region = self._regions[region_id]
        length = region.end - region.start
        hi = length if hi is None else min(int(hi), length)
        lo = min(max(int(lo), 0), hi)
        array = self._seq if name == "seq" else self._tracks[self.track_names.index(name)]
        return array.read(region.offset + lo, hi - lo)


class GeneWindows:
    """Map-style dataset over some genes of a :class:`PreparedDataset`, for torch's DataLoader.

    Items are dicts of numpy arrays; the default collate turns them into batched tensors.
    """

    def __init__(self, dataset: PreparedDataset, indices: np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict[str, Any]:
        return self.dataset.load_gene(int(self.indices[k]))


def collate_windows(items: list[dict[str, Any]]) -> dict[str, Any]:
    """DataLoader ``collate_fn`` for :class:`GeneWindows` items: batched torch tensors.

    ``signals`` comes out as a [B, L, S] view of a contiguous [B, S, L] tensor (no copy);
    move it to the device and cast it to float there.
    """
    import torch

    return {
        "seq": torch.from_numpy(np.stack([item["seq"] for item in items])),
        "signals": torch.from_numpy(np.stack([item["signals"].T for item in items])).transpose(1, 2),
        "features": torch.from_numpy(np.stack([item["features"] for item in items])),
        "target": torch.from_numpy(np.array([item["target"] for item in items], dtype=np.float32)),
        "blacklist": torch.from_numpy(np.stack([item["blacklist"] for item in items])),
        "index": torch.tensor([item["index"] for item in items], dtype=torch.long),
    }


def _load_blacklist(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sorted, merged blacklist intervals per chromosome from the dataset's blacklist.bed."""
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    table = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], names=["chrom", "start", "end"],
                        dtype={"chrom": str})
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for chrom, group in table.groupby("chrom", sort=False):
        starts, ends = merge_intervals(group["start"].to_numpy(np.int64), group["end"].to_numpy(np.int64))
        out[str(chrom)] = (starts, ends)
    return out


def merge_intervals(starts: np.ndarray, ends: np.ndarray, gap: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Merge intervals that overlap or lie within ``gap`` bp; returns sorted starts, ends."""
    if len(starts) == 0:
        return starts.astype(np.int64), ends.astype(np.int64)
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    running_end = np.maximum.accumulate(ends)
    new_block = np.ones(len(starts), dtype=bool)
    new_block[1:] = starts[1:] > running_end[:-1] + gap
    block_id = np.cumsum(new_block) - 1
    merged_starts = starts[new_block]
    merged_ends = np.zeros(len(merged_starts), dtype=np.int64)
    np.maximum.at(merged_ends, block_id, ends)
    return merged_starts.astype(np.int64), merged_ends
