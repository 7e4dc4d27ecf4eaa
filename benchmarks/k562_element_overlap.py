"""How many called elements overlap ENCODE-rE2G's K562 chr22 elements and the DNase peaks.

    python benchmarks/k562_element_overlap.py ELEMENTS.narrowPeak [--kit DIR]

Prints the fraction of the elements (narrowPeak rows) that overlap, by at least 1 bp, any
element of ENCODE-rE2G's thresholded predictions and any MACS2 DNase peak of the kit, and the
same fractions by chance: the same intervals placed uniformly at random between the first and
the last peer element (100 draws, seed 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"
PEER = "peers/ENCODE_rE2G.K562_chr22.dhs_intact_hic.predictions_threshold0.243.tsv.gz"
DHS = "K562_DNase_ENCFF860XAE.chr22.macs2_peaks.narrowPeak"


def overlap_fraction(starts: np.ndarray, ends: np.ndarray, other_starts: np.ndarray, other_ends: np.ndarray) -> float:
    """Fraction of intervals [starts, ends) overlapping any [other_starts, other_ends) (one chromosome)."""
    order = np.argsort(other_starts)
    s, e = other_starts[order], np.maximum.accumulate(other_ends[order])
    i = np.searchsorted(s, ends)  # others starting before each interval ends
    hit = (i > 0) & (e[np.maximum(i - 1, 0)] > starts)
    return float(hit.mean()) if len(hit) else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("elements", type=Path)
    parser.add_argument("--kit", type=Path, default=KIT)
    args = parser.parse_args()
    ours = pd.read_csv(args.elements, sep="\t", header=None, usecols=[0, 1, 2])
    peer = pd.read_csv(args.kit / PEER, sep="\t", usecols=["chr", "start", "end"]).drop_duplicates()
    dhs = pd.read_csv(args.kit / DHS, sep="\t", header=None, usecols=[0, 1, 2])
    a, b = ours[1].to_numpy(), ours[2].to_numpy()
    rng = np.random.default_rng(0)
    lo, hi = int(peer["start"].min()), int(peer["end"].max())
    print(f"{len(ours)} elements, {int((b - a).sum())} bp")
    for label, (s, e) in {f"ENCODE-rE2G elements ({len(peer)})": (peer["start"].to_numpy(), peer["end"].to_numpy()),
                          f"DNase peaks ({len(dhs)})": (dhs[1].to_numpy(), dhs[2].to_numpy())}.items():
        chance = []
        for _ in range(100):
            start = rng.integers(lo, hi - (b - a))
            chance.append(overlap_fraction(start, start + (b - a), s, e))
        print(f"overlapping {label}: {overlap_fraction(a, b, s, e):.3f} (random placement {np.mean(chance):.3f})")


if __name__ == "__main__":
    main()
