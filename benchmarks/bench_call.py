"""Benchmark: `seq2exp call-elements --from-bedgraph` against `macs3 bdgpeakcall` on one genome-scale track.

The track (fixed seed) imitates a combined Seq2Exp mask over 3.46e8 bp (hg38 chr1 + chr21 + chr22
sizes): 128-bp bins (the model's resolution), background scores ~ Beta(1, 9) rounded to 0.01,
and elements covering ~2% of the genome (2-10 bins, scores 0.5-1.0). Both tools read the same
gap-free bedGraph; each runs as its own process, timed wall-clock, with its peak RSS. Regions and
summits are then compared line by line.

Usage: python benchmarks/bench_call.py [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"chr1": 248_956_422, "chr21": 46_709_983, "chr22": 50_818_468}
BIN = 128
CUTOFF, MIN_LENGTH, MAX_GAP = 0.5, 200, 30


def make_bedgraph(path: Path, seed: int = 7) -> tuple[int, int]:
    """Write the synthetic track; returns (bp, lines)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from seq2exp_cli.io.bed import Runs, merge_equal_runs, write_bedgraph

    rng = np.random.default_rng(seed)

    def chrom_runs():
        for chrom, size in SIZES.items():
            n = -(-size // BIN)
            values = np.round(rng.beta(1.0, 9.0, n), 2).astype(np.float32)
            # elements: starts with prob 0.0033 per bin, 2-10 bins long, scores 0.5-1.0
            starts = np.flatnonzero(rng.random(n) < 0.0033)
            lengths = rng.integers(2, 11, starts.shape[0])
            for s, ln in zip(starts, lengths):
                values[s : s + ln] = np.round(rng.uniform(0.5, 1.0, min(ln, n - s)), 2)
            edges = np.minimum(np.arange(n + 1, dtype=np.int64) * BIN, size)
            yield chrom, merge_equal_runs(Runs(edges[:-1], edges[1:], values))

    lines = write_bedgraph(path, chrom_runs())
    return sum(SIZES.values()), lines


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` in a wrapper process; returns (wall seconds, peak RSS MiB, stderr tail)."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "w = time.perf_counter() - t; "
               "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode); "
               "sys.stderr.write(r.stderr[-2000:])")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    wall, rss_kb, rc = out.stdout.split()
    if int(rc) != 0:
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}\n{out.stderr}")
    return float(wall), int(rss_kb) / 1024, out.stderr


def read_peaks(path: Path) -> list[tuple[str, int, int, int]]:
    rows = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("track"):
            continue
        f = line.split("\t")
        rows.append((f[0], int(f[1]), int(f[2]), int(f[1]) + int(f[9])))
    return sorted(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_call."))
    work.mkdir(parents=True, exist_ok=True)
    macs3 = shutil.which("macs3") or str(Path(sys.executable).parent / "macs3")
    try:
        t0 = time.perf_counter()
        bp, lines = make_bedgraph(work / "scores.bdg")
        print(f"track: {bp:,} bp, {lines:,} bedGraph lines, "
              f"{(work / 'scores.bdg').stat().st_size / 2**20:.0f} MiB (generated in {time.perf_counter() - t0:.1f} s)")
        ours_cmd = [sys.executable, "-m", "seq2exp_cli", "-q", "call-elements", "--from-bedgraph",
                    str(work / "scores.bdg"), "-o", str(work / "ours.bed"), "-c", str(CUTOFF), "-l", str(MIN_LENGTH),
                    "-g", str(MAX_GAP), "--force"]
        macs_cmd = [macs3, "bdgpeakcall", "-i", str(work / "scores.bdg"), "-c", str(CUTOFF), "-l", str(MIN_LENGTH),
                    "-g", str(MAX_GAP), "--outdir", str(work), "-o", "macs3.narrowPeak"]
        ours_t, ours_mem, _ = timed(ours_cmd)
        macs_t, macs_mem, _ = timed(macs_cmd)
        ours, theirs = read_peaks(work / "ours.bed"), read_peaks(work / "macs3.narrowPeak")
        same_regions = [r[:3] for r in ours] == [r[:3] for r in theirs]
        same_summits = ours == theirs
        print(f"seq2exp call-elements: {ours_t:.2f} s wall, peak RSS {ours_mem:.0f} MiB, {len(ours):,} elements")
        print(f"macs3 bdgpeakcall:     {macs_t:.2f} s wall, peak RSS {macs_mem:.0f} MiB, {len(theirs):,} peaks")
        print(f"speed-up: {macs_t / ours_t:.1f}x; identical regions: {same_regions}; identical summits: {same_summits}")
        # the core caller alone, in this process, on the already-parsed track
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from seq2exp_cli import elements as el
        from seq2exp_cli.io.bed import read_bedgraph

        t0 = time.perf_counter()
        parsed = read_bedgraph(work / "scores.bdg")
        t_read = time.perf_counter() - t0
        track = el.ScoreTrack(SIZES)
        for chrom, runs in parsed.items():
            track.set_runs(chrom, runs)
        t0 = time.perf_counter()
        regions = el.call_regions(track, CUTOFF, MIN_LENGTH, MAX_GAP)
        t_call = time.perf_counter() - t0
        print(f"in-process: read_bedgraph {t_read:.2f} s, call_regions {t_call:.3f} s ({len(regions):,} regions)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
