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

from seq2exp_cli.evaluation import overlaps
from seq2exp_cli.io.intervals import read_bed_intervals

KIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"
PEER = "peers/ENCODE_rE2G.K562_chr22.dhs_intact_hic.predictions_threshold0.243.tsv.gz"
DHS = "K562_DNase_ENCFF860XAE.chr22.macs2_peaks.narrowPeak"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("elements", type=Path)
    parser.add_argument("--kit", type=Path, default=KIT)
    args = parser.parse_args()
    ours = read_bed_intervals(args.elements)
    peer = (pd.read_csv(args.kit / PEER, sep="\t", usecols=["chr", "start", "end"])
            .rename(columns={"chr": "chrom"}).drop_duplicates())
    dhs = read_bed_intervals(args.kit / DHS)
    width = (ours["end"] - ours["start"]).to_numpy()
    rng = np.random.default_rng(0)
    lo, hi = int(peer["start"].min()), int(peer["end"].max())
    print(f"{len(ours)} elements, {int(width.sum())} bp")
    for label, other in {f"ENCODE-rE2G elements ({len(peer)})": peer, f"DNase peaks ({len(dhs)})": dhs}.items():
        chance = []
        for _ in range(100):
            start = rng.integers(lo, hi - width)
            placed = pd.DataFrame({"chrom": ours["chrom"], "start": start, "end": start + width})
            chance.append(overlaps(placed, other).mean())
        print(f"overlapping {label}: {overlaps(ours, other).mean():.3f} (random placement {np.mean(chance):.3f})")

if __name__ == "__main__":
    main()
