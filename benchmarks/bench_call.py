"""Benchmark: `seq2exp call-elements` (bedGraph and bigWig input) against `macs3 bdgpeakcall` on one genome-scale track.

The track (fixed seed) imitates a combined Seq2Exp mask over 3.46e8 bp (hg38 chr1 + chr21 + chr22
sizes): 128-bp bins (the model's resolution), background scores ~ Beta(1, 9) rounded to 0.01,
and elements covering ~2% of the genome (2-10 bins, scores 0.5-1.0). MACS3 and
`seq2exp --from-bedgraph` read the same gap-free bedGraph; `seq2exp --from-bigwig` reads the
same runs written as a bigWig. Each command runs as its own process, timed wall-clock and in CPU
seconds, with its peak RSS, --repeats times in interleaved rounds after one untimed warm-up
round (medians reported; the cores are shared, so the load average is printed). Regions and
summits are compared line by line with MACS3's.

Python bytecode: an installed package (MACS3 here) runs from cached .pyc files. When the
environment sets PYTHONDONTWRITEBYTECODE (this sandbox does), seq2exp's editable checkout would
be compiled from source on every run (~0.05 s); the seq2exp commands therefore run with a
bytecode cache in the work directory (PYTHONPYCACHEPREFIX, filled by the warm-up), and one extra
row times the bigWig command without it.

Usage: python benchmarks/bench_call.py [--workdir DIR] [--keep] [--repeats N] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
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


def write_bigwig_from_bedgraph(bedgraph: Path, path: Path) -> int:
    """The same track as a bigWig, written from the bedGraph's runs; returns the entry count.

    Zero runs carry no entry (absent = 0 in a bigWig), as ``seq2exp``'s own score bigWigs are
    written, so both files hold the same per-base scores.
    """
    import pyBigWig

    from seq2exp_cli.io.bed import read_bedgraph

    n = 0
    bw = pyBigWig.open(str(path), "w")
    try:
        bw.addHeader(list(SIZES.items()), maxZooms=10)
        for chrom, runs in read_bedgraph(bedgraph).items():
            keep = runs.values != 0
            bw.addEntries([chrom] * int(keep.sum()), runs.starts[keep].tolist(), ends=runs.ends[keep].tolist(),
                          values=runs.values[keep].astype(np.float64).tolist())
            n += int(keep.sum())
    finally:
        bw.close()
    return n


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float, float]:
    """Run ``cmd`` in a wrapper process; returns (wall seconds, CPU seconds user+sys, peak RSS MiB)."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print(w, u.ru_utime + u.ru_stime, u.ru_maxrss, r.returncode); "
               "sys.stderr.write(r.stderr[-2000:])")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True,
                         env=env, cwd=cwd)
    wall, cpu, rss_kb, rc = out.stdout.split()
    if int(rc) != 0:
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}\n{out.stderr}")
    return float(wall), float(cpu), int(rss_kb) / 1024


def read_peaks(path: Path) -> list[tuple[str, int, int, int]]:
    rows = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("track"):
            continue
        f = line.split("\t")
        rows.append((f[0], int(f[1]), int(f[2]), int(f[1]) + int(f[9])))
    return sorted(rows)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None,
                        help="a directory holding an older seq2exp_cli package (e.g. from `git archive`) "
                             "to time in the same rounds, for before/after numbers")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_call."))
    work.mkdir(parents=True, exist_ok=True)
    macs3 = shutil.which("macs3") or str(Path(sys.executable).parent / "macs3")
    bdg, bw = work / "scores.bdg", work / "scores.bw"
    try:
        t0 = time.perf_counter()
        bp, lines = make_bedgraph(bdg)
        print(f"track: {bp:,} bp, {lines:,} bedGraph lines, {bdg.stat().st_size / 2**20:.0f} MiB "
              f"(generated in {time.perf_counter() - t0:.1f} s)")
        t0 = time.perf_counter()
        entries = write_bigwig_from_bedgraph(bdg, bw)
        print(f"bigWig: {entries:,} entries (zero runs absent), {bw.stat().st_size / 2**20:.1f} MiB "
              f"(written in {time.perf_counter() - t0:.1f} s)")
        params = ["-c", str(CUTOFF), "-l", str(MIN_LENGTH), "-g", str(MAX_GAP)]
        ours = [sys.executable, "-m", "seq2exp_cli", "-q", "call-elements"]
        commands = {
            "macs3 bdgpeakcall (bedGraph)": ([macs3, "bdgpeakcall", "-i", str(bdg), *params, "--outdir", str(work),
                                              "-o", "macs3.narrowPeak"], work / "macs3.narrowPeak"),
            "seq2exp --from-bedgraph": ([*ours, "--from-bedgraph", str(bdg), "-o", str(work / "bdg.bed"), *params,
                                         "--force"], work / "bdg.bed"),
            "seq2exp --from-bigwig": ([*ours, "--from-bigwig", str(bw), "-o", str(work / "bw.bed"), *params,
                                       "--force"], work / "bw.bed"),
            # the start-up floor: interpreter + the modules call-elements imports, no work
            "start-up only (imports)": ([sys.executable, "-c", ("import seq2exp_cli.cli.call_elements, "
                                         "seq2exp_cli.elements.from_model, seq2exp_cli.io.bigwig, pyBigWig")], None),
            # the floor under that: the interpreter and the third-party modules the path needs
            "start-up floor (numpy, click, pyBigWig)": ([sys.executable, "-c", "import numpy, click, pyBigWig, zlib, json"],
                                                        None),
            # what pandas alone would add (the model-free bigWig path no longer imports it)
            "start-up floor + import pandas": ([sys.executable, "-c", "import numpy, click, pyBigWig, pandas"], None),
        }
        # seq2exp's commands (and the import rows) get a bytecode cache, as an installed package has
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        envs: dict[str, dict[str, str] | None] = {name: None if name.startswith("macs3") else cached
                                                   for name in commands}
        commands["seq2exp --from-bigwig, no bytecode cache"] = commands["seq2exp --from-bigwig"]
        envs["seq2exp --from-bigwig, no bytecode cache"] = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        if args.before is not None:
            before_env = {**cached, "PYTHONPATH": str(args.before.resolve())}
            for kind in ("bedgraph", "bigwig"):
                name = f"seq2exp --from-{kind} (before)"
                out = work / f"before_{kind}.bed"
                commands[name] = ([*ours, f"--from-{kind}", str(bdg if kind == "bedgraph" else bw), "-o", str(out),
                                   *params, "--force"], out)
                envs[name] = before_env
        print(f"load average before timing (1, 5, 15 min): {load()} on {os.cpu_count()} cores")
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        # `python -m` puts the working directory first on sys.path: run "before" from its own
        cwd = {name: args.before if name.endswith("(before)") else None for name in commands}
        for name, (cmd, _) in commands.items():  # warm-up: bytecode cache and page cache, untimed
            timed(cmd, envs[name], cwd[name])
        # rounds interleave the tools, so a burst of load from other jobs hits all of them alike
        for _ in range(args.repeats):
            for name, (cmd, _) in commands.items():
                samples[name].append(timed(cmd, envs[name], cwd[name]))
        print(f"load average after timing: {load()}")
        medians = {name: tuple(float(np.median([s[k] for s in runs])) for k in range(3))
                   for name, runs in samples.items()}
        reference = read_peaks(commands["macs3 bdgpeakcall (bedGraph)"][1])
        macs_wall, macs_cpu, _ = medians["macs3 bdgpeakcall (bedGraph)"]
        print(f"\n{'':40s} {'wall s (median)':>16s} {'all walls':>20s} {'CPU s':>7s} {'RSS MiB':>8s} "
              f"{'regions':>8s} {'x wall':>7s} {'x CPU':>6s} identical regions/summits")
        for name, (cmd, out) in commands.items():
            wall, cpu, rss = medians[name]
            walls = "/".join(f"{s[0]:.2f}" for s in samples[name])
            if out is None:
                print(f"{name:40s} {wall:16.2f} {walls:>20s} {cpu:7.2f} {rss:8.0f}")
                continue
            peaks = read_peaks(out)
            same_regions = [r[:3] for r in peaks] == [r[:3] for r in reference]
            print(f"{name:40s} {wall:16.2f} {walls:>20s} {cpu:7.2f} {rss:8.0f} {len(peaks):8,d} "
                  f"{macs_wall / wall:7.1f} {macs_cpu / cpu:6.1f} {same_regions}/{peaks == reference}")
        # where our time goes, in this process, on the same files
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from seq2exp_cli import elements as el
        from seq2exp_cli.io.bed import read_bedgraph

        t0 = time.perf_counter()
        parsed = read_bedgraph(bdg)
        t_read = time.perf_counter() - t0
        track = el.ScoreTrack(SIZES)
        for chrom, runs in parsed.items():
            track.set_runs(chrom, runs)
        t0 = time.perf_counter()
        bw_track = el.track_from_file(bw, bigwig=True)
        t_bw = time.perf_counter() - t0
        t0 = time.perf_counter()
        regions = el.call_region_table(track, CUTOFF, MIN_LENGTH, MAX_GAP)
        t_call = time.perf_counter() - t0
        same = all(np.array_equal(getattr(track.runs(c), f), getattr(bw_track.runs(c), f))
                   for c in SIZES for f in ("starts", "ends", "values"))
        print(f"\nin-process: read_bedgraph {t_read:.2f} s, track_from_file(bigWig) {t_bw:.2f} s "
              f"(same runs as the bedGraph: {same}), call_regions {t_call:.3f} s ({len(regions):,} regions)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
