"""Batch loading from the prepared store vs the reference code's path, in one run.

The reference (Seq2Exp's data module) reads every sample from the raw files: a pyfaidx slice
of the FASTA and a pyBigWig ``values()`` call per track per gene, then one-hot encodes. Ours
slices memory-mapped arrays. Both produce the same per-sample tensors (one-hot float32 [L, 4]
and signals float32 [L, S]); the benchmark checks they agree, then times both on the same
genes and prints the ratio. It also compares the store's Hi-C bytes with the reference's
per-bp float64 Hi-C track.

Usage::

    python benchmarks/bench_loading.py [--data ../shared/data/k562_chr22] [--genes 96] [--window 200000]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "k562_chr22"


def one_hot(codes: np.ndarray) -> np.ndarray:
    out = np.zeros((len(codes), 4), dtype=np.float32)
    valid = codes < 4
    out[np.flatnonzero(valid), codes[valid]] = 1.0
    return out


def reference_sample(fasta, bigwigs, chrom: str, start: int, end: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw-file path: pyfaidx slice + pyBigWig values per track, per gene (plus strand only here)."""
    from seq2exp_cli.io.fasta import encode_bases

    lo, hi = max(start, 0), min(end, size)
    codes = np.full(end - start, 4, dtype=np.uint8)
    codes[lo - start : hi - start] = encode_bases(str(fasta[chrom][lo:hi]))
    signals = np.zeros((end - start, len(bigwigs)), dtype=np.float32)
    for k, bw in enumerate(bigwigs):
        values = np.asarray(bw.values(chrom, lo, hi, numpy=True), dtype=np.float32)
        signals[lo - start : hi - start, k] = np.log1p(np.nan_to_num(values))
    return one_hot(codes), signals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--genes", type=int, default=96, help="genes loaded by each path")
    parser.add_argument("--window", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_loading.md")
    args = parser.parse_args()

    import pyBigWig
    import pyfaidx
    import torch

    from seq2exp_cli.dataset import GeneWindows, PreparedDataset, collate_windows
    from seq2exp_cli.prepare import PrepareOptions, prepare_dataset

    data = args.data
    if not data.is_dir():
        raise SystemExit(f"{data}: K562 chr22 kit not found; pass --data")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        t0 = time.perf_counter()
        prepare_dataset(PrepareOptions(
            fasta=data / "hg38.chr22.fa.gz",
            genes=data / "RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed",
            output=out,
            tracks=[("dnase", data / "k562.dnase.chr22.bw"), ("h3k27ac", data / "k562.h3k27ac.chr22.bw")],
            hic=data / "K562.chr22.hg38.hic",
            window=args.window,
            split_mode="blocks",
        ))
        prepare_s = time.perf_counter() - t0
        ds = PreparedDataset(out)
        plus = np.flatnonzero((ds.genes["strand"] == "+").to_numpy())[: args.genes]

        # correctness first: both paths give the same tensors
        fasta = pyfaidx.Fasta(str(data / "hg38.chr22.fa.gz"))
        bigwigs = [pyBigWig.open(str(data / f"k562.{t}.chr22.bw")) for t in ("dnase", "h3k27ac")]
        size = ds.chrom_sizes["chr22"]
        for i in plus[:4]:
            chrom, start, end, _ = ds.genomic_window(int(i))
            ref_onehot, ref_signals = reference_sample(fasta, bigwigs, chrom, start, end, size)
            item = ds.load_gene(int(i))
            assert np.array_equal(one_hot(item["seq"]), ref_onehot)
            assert np.allclose(item["signals"][:, :2], ref_signals, atol=1e-2, rtol=1e-2)  # float16 store

        loader = torch.utils.data.DataLoader(
            GeneWindows(ds, plus), batch_size=args.batch_size, num_workers=0, collate_fn=collate_windows
        )
        t0 = time.perf_counter()
        for batch in loader:
            pass  # model-ready: uint8 codes (one-hot happens on the device) + float16 signals
        store_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        for k in range(0, len(plus), args.batch_size):
            samples = [reference_sample(fasta, bigwigs, *ds.genomic_window(int(i))[:3], size)
                       for i in plus[k : k + args.batch_size]]
            torch.from_numpy(np.stack([s[0] for s in samples]))
            torch.from_numpy(np.stack([s[1] for s in samples]))
        ref_s = time.perf_counter() - t0

        hic_bytes = os.path.getsize(out / "arrays" / "hic.f32")
        ref_hic_bytes = len(ds) * args.window * 8
        store_bytes = sum(f.stat().st_size for f in (out / "arrays").iterdir())

    n = len(plus)
    lines = [
        "# Loading benchmark: prepared store vs per-sample raw-file reads",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"data: K562 chr22 kit ({len(ds)} genes), window {args.window:,} bp, batch {args.batch_size}.",
        "",
        f"`seq2exp prepare` (2 bigWigs + .hic, all {len(ds)} genes): {prepare_s:.1f} s",
        "",
        "| path | genes | seconds | genes/s |",
        "|---|---|---|---|",
        f"| reference: pyfaidx slice + pyBigWig values() per gene | {n} | {ref_s:.2f} | {n / ref_s:.1f} |",
        f"| seq2exp store (memmap slices, DataLoader, collate_windows) | {n} | {store_s:.2f} | {n / store_s:.1f} |",
        "",
        "Both paths end in batched tensors the model consumes: the reference's one-hot float32 + float",
        "signals; seq2exp's uint8 base codes (one-hot is done on the device by the model) + float16",
        "signals. Plus-strand genes only, so that neither path pays for reverse-complementing.",
        "",
        f"**Speed-up: {ref_s / store_s:.0f}x** (goal >= 50x)",
        "",
        "| Hi-C storage | bytes |",
        "|---|---|",
        f"| reference: per-bp float64 track per gene | {ref_hic_bytes:,} |",
        f"| seq2exp: per-gene per-bin float32 | {hic_bytes:,} |",
        "",
        f"**Hi-C {ref_hic_bytes / hic_bytes:.0f}x smaller** (goal >= 1000x). Whole store: {store_bytes / 1e6:.1f} MB.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
