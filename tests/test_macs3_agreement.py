"""Our caller against the peer: `macs3 bdgpeakcall` on the same bedGraph gives identical regions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2exp_cli import elements as el
from seq2exp_cli.io.bed import Runs, fill_gaps, read_bedgraph, write_bedgraph


def find_macs3() -> str | None:
    """The macs3 executable on PATH or beside this Python."""
    found = shutil.which("macs3")
    if found:
        return found
    local = Path(sys.executable).parent / "macs3"
    return str(local) if local.is_file() else None


MACS3 = find_macs3()
pytestmark = pytest.mark.skipif(MACS3 is None, reason="macs3 is not installed (pip install macs3==3.0.4)")


def random_track(seed: int, sizes: dict[str, int]) -> dict[str, Runs]:
    """Binned, mask-like scores: low background, element stretches, quantised ties, zero runs."""
    rng = np.random.default_rng(seed)
    out = {}
    for chrom, size in sizes.items():
        bins = rng.integers(5, 60, size=size // 5)
        ends = np.minimum(np.cumsum(bins), size)
        ends = np.unique(ends[ends > 0])
        if ends[-1] != size:
            ends = np.append(ends, size)
        starts = np.concatenate(([0], ends[:-1]))
        values = np.round(rng.beta(1.0, 6.0, size=ends.shape[0]), 2).astype(np.float32)
        hot = rng.random(ends.shape[0]) < 0.08
        hot |= np.roll(hot, 1) | np.roll(hot, 2) | np.roll(hot, 3)   # elements span several bins
        values[hot] = np.round(rng.uniform(0.4, 1.0, hot.sum()), 1)
        values[rng.random(ends.shape[0]) < 0.1] = 0.0
        runs = Runs(starts.astype(np.int64), ends.astype(np.int64), values)
        out[chrom] = fill_gaps(runs, size)
    return out


def run_macs3(bedgraph: Path, cutoff: float, min_length: int, max_gap: int, out_dir: Path) -> pd.DataFrame:
    name = f"m_{cutoff}_{min_length}_{max_gap}.narrowPeak"
    subprocess.run([MACS3, "bdgpeakcall", "-i", str(bedgraph), "-c", str(cutoff), "-l", str(min_length),
                    "-g", str(max_gap), "--outdir", str(out_dir), "-o", name], check=True, capture_output=True)
    lines = [ln for ln in (out_dir / name).read_text().splitlines() if ln and not ln.startswith("track")]
    if not lines:
        return pd.DataFrame({"chrom": [], "start": [], "end": [], "summit": []})
    table = pd.DataFrame([ln.split("\t") for ln in lines]).astype({1: np.int64, 2: np.int64, 9: np.int64})
    table = table.rename(columns={0: "chrom", 1: "start", 2: "end", 9: "peak"})
    table["chrom"] = table["chrom"].astype(str)
    table["summit"] = table["start"] + table["peak"]
    return table[["chrom", "start", "end", "summit"]]


@pytest.mark.parametrize("seed,cutoff,min_length,max_gap", [
    (1, 0.5, 200, 30), (2, 0.3, 100, 0), (3, 0.7, 50, 80), (4, 0.25, 300, 50), (5, 0.9, 1, 0),
])
def test_identical_regions_and_summits(tmp_path, seed, cutoff, min_length, max_gap) -> None:
    sizes = {"chr1": 60_000, "chr2": 25_000, "chrX": 9_000}
    runs = random_track(seed, sizes)
    bedgraph = tmp_path / "scores.bdg"
    write_bedgraph(bedgraph, iter(runs.items()))
    theirs = run_macs3(bedgraph, cutoff, min_length, max_gap, tmp_path)

    track = el.ScoreTrack(sizes)
    for chrom, r in read_bedgraph(bedgraph).items():
        track.set_runs(chrom, r)
    ours = el.call_regions(track, cutoff, min_length=min_length, max_gap=max_gap)[["chrom", "start", "end", "summit"]]
    key = ["chrom", "start"]
    theirs = theirs.sort_values(key).reset_index(drop=True)
    ours = ours.sort_values(key).reset_index(drop=True).astype({"start": np.int64, "end": np.int64,
                                                                 "summit": np.int64})
    assert len(ours) > 0
    assert ours.values.tolist() == theirs.astype({"start": np.int64, "end": np.int64, "summit": np.int64}).values.tolist()
