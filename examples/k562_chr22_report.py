"""Report for examples/k562_chr22.sh: expression vs a promoter-activity baseline, and element overlaps."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from seq2exp_cli.evaluation import overlaps
from seq2exp_cli.metrics import regression_metrics


def bed(path: Path, names=("chrom", "start", "end")) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", header=None, comment="#", dtype={0: str})
    return table.iloc[:, : len(names)].set_axis(list(names), axis=1)


def main(kit: Path, out: Path) -> None:
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t").dropna(subset=["target"])
    genes = pd.read_csv(kit / "ABC_GeneList.chr22.txt", sep="\t")
    activity = np.sqrt(genes["DHS.RPM.TSS1Kb"] * genes["H3K27ac.RPM.TSS1Kb"])
    baseline = pd.Series(activity.to_numpy(), index=genes["name"])
    test = predictions[predictions["name"].isin(baseline.index)]
    ours = regression_metrics(test["target"], test["predicted"])
    base = regression_metrics(test["target"], np.log10(1 + baseline.loc[test["name"]].to_numpy()))
    print("# seq2exp on K562 chr22\n")
    print(f"Test genes with a measured TPM: {ours['n']}\n")
    print("| predictor | Pearson | Spearman |\n|---|---|---|")
    print(f"| seq2exp (default preset) | {ours['pearson']:.3f} | {ours['spearman']:.3f} |")
    print(f"| promoter activity sqrt(DNase RPM x H3K27ac RPM), TSS +/- 500 bp | {base['pearson']:.3f} | "
          f"{base['spearman']:.3f} |")
    print("\n(The baseline's MSE is not comparable: it is not on the target's scale.)\n")

    elements = bed(out / "elements.narrowPeak")
    widths = elements["end"] - elements["start"]
    peaks = bed(kit / "K562_DNase_ENCFF860XAE.chr22.macs2_peaks.narrowPeak")
    peaks = peaks[(peaks["end"] - peaks["start"]) <= 5000].reset_index(drop=True)  # README: drop giant peaks
    candidates = bed(kit / "ABC_EnhancerList.chr22.bed")
    print(f"Called elements: {len(elements)}, {int(widths.sum()):,} bp, median width {int(widths.median()) if len(widths) else 0} bp\n")
    if len(elements):
        print("| reference set | share of our elements overlapping it | share of it overlapped by ours |")
        print("|---|---|---|")
        for name, table in (("MACS2 DNase peaks (<= 5 kb)", peaks), ("ABC candidate elements", candidates)):
            print(f"| {name} ({len(table):,}) | {overlaps(elements, table).mean():.3f} | "
                  f"{overlaps(table, elements).mean():.3f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
