"""Report for examples/k562_chr22.sh: expression, and diagnostics of the called elements and links.

    python examples/k562_chr22_report.py KIT_DIR RUN_DIR [-o REPORT.md]

RUN_DIR holds predictions.tsv and the call-elements outputs elements.narrowPeak (or elements.bed), elements.links.tsv.
The diagnostics say how far the calls are from what the input signal alone gives; they are not
targets (ABC and ENCODE-rE2G are predictions too, not ground truth):

* called set vs the top-signal ranking of ABC's candidate elements: Jaccard between the
  candidates our elements overlap and the same number of candidates with the highest
  sqrt(DNase reads x H3K27ac reads), and the AUROC of that signal for called vs not called;
* the p/q columns (sequence null): how the q column spreads, how many elements pass;
* links vs 1/distance, ABC's predictions and ENCODE-rE2G's: the share of each set's
  element-gene pairs the other has (a pair matches when the gene is the same and the
  elements overlap), and Spearman correlations of the scores on the shared pairs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from seq2exp_cli.evaluation import overlaps
from seq2exp_cli.metrics import regression_metrics

ABC_PREDICTIONS = "ABC_EnhancerPredictionsFull_threshold0.027_self_promoter.tsv"
RE2G_PREDICTIONS = "peers/ENCODE_rE2G.K562_chr22.dhs_intact_hic.predictions_threshold0.243.tsv.gz"


def bed(path: Path, names=("chrom", "start", "end")) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", header=None, comment="#", dtype={0: str})
    return table.iloc[:, : len(names)].set_axis(list(names), axis=1)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney)."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
                 / (len(positive) * len(negative)))


def expression_section(kit: Path, out: Path) -> list[str]:
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t").dropna(subset=["target"])
    genes = pd.read_csv(kit / "ABC_GeneList.chr22.txt", sep="\t")
    activity = np.sqrt(genes["DHS.RPM.TSS1Kb"] * genes["H3K27ac.RPM.TSS1Kb"])
    baseline = pd.Series(activity.to_numpy(), index=genes["name"])
    test = predictions[predictions["name"].isin(baseline.index)]
    ours = regression_metrics(test["target"], test["predicted"])
    base = regression_metrics(test["target"], np.log10(1 + baseline.loc[test["name"]].to_numpy()))
    return [
        "## Expression (test blocks)\n",
        f"Test genes with a measured TPM: {ours['n']}\n",
        "| predictor | Pearson | Spearman |", "|---|---|---|",
        f"| seq2exp | {ours['pearson']:.3f} | {ours['spearman']:.3f} |",
        f"| promoter activity sqrt(DNase RPM x H3K27ac RPM), TSS +/- 500 bp | {base['pearson']:.3f} | "
        f"{base['spearman']:.3f} |", "",
    ]


def candidates_with_signal(kit: Path) -> pd.DataFrame:
    """ABC's candidate elements with their reads and sqrt(DNase x H3K27ac) (the kit's tracks)."""
    table = bed(kit / "ABC_EnhancerList.chr22.bed", ("chrom", "start", "end", "name"))
    dnase = bed(kit / "Enhancers.DHS.ENCFF860XAE.chr22.CountReads.bedgraph", ("chrom", "start", "end", "reads"))
    k27 = bed(kit / "Enhancers.H3K27ac.ENCFF790GFL.chr22.CountReads.bedgraph", ("chrom", "start", "end", "reads"))
    for other in (dnase, k27):  # the kit's README: same coordinates and order
        if not (other[["start", "end"]].to_numpy() == table[["start", "end"]].to_numpy()).all():
            raise SystemExit("the CountReads bedGraphs do not follow ABC_EnhancerList.chr22.bed row by row")
    table["signal"] = np.sqrt(dnase["reads"].to_numpy(float) * k27["reads"].to_numpy(float))
    return table


def called_set_section(elements: pd.DataFrame, candidates: pd.DataFrame, peaks: pd.DataFrame) -> list[str]:
    widths = elements["end"] - elements["start"]
    lines = ["## Called elements vs the input signal\n",
             f"Called elements: {len(elements):,}, {int(widths.sum()):,} bp, median width "
             f"{int(widths.median()) if len(widths) else 0} bp\n"]
    if len(elements):
        lines += ["| reference set | share of our elements overlapping it | share of it overlapped by ours |",
                  "|---|---|---|"]
        for name, table in (("MACS2 DNase peaks (<= 5 kb)", peaks), ("ABC candidate elements", candidates)):
            lines.append(f"| {name} ({len(table):,}) | {overlaps(elements, table).mean():.3f} | "
                         f"{overlaps(table, elements).mean():.3f} |")
        lines.append("")
    lines += ["How far the called set is from the top-signal candidates (signal = sqrt(DNase reads x "
              "H3K27ac reads) per ABC candidate; 1.0 = the calls are the signal ranking):\n",
              "| elements | candidates called | Jaccard with the top-signal candidates | AUROC of signal, called vs not |",
              "|---|---|---|---|"]
    subsets = [("all called", elements)]
    if "qValue" in elements and (elements["qValue"] >= 0).any():
        subsets.append(("q <= 0.05", elements[elements["qValue"] >= -np.log10(0.05)]))
    for label, subset in subsets:
        called = overlaps(candidates, subset) if len(subset) else np.zeros(len(candidates), bool)
        k = int(called.sum())
        top = np.zeros(len(candidates), bool)
        top[np.argsort(-candidates["signal"].to_numpy(), kind="stable")[:k]] = True
        jaccard = (called & top).sum() / max((called | top).sum(), 1)
        area = auroc(candidates["signal"].to_numpy()[called], candidates["signal"].to_numpy()[~called])
        lines.append(f"| {label} ({len(subset):,}) | {k:,} | {jaccard:.3f} | {area:.3f} |")
    return lines + [""]


def pq_section(elements: pd.DataFrame) -> list[str]:
    lines = ["## p and q (sequence null)\n"]
    if not len(elements) or (elements["qValue"] < 0).all():
        return lines + ["Not computed for these calls (qValue -1).", ""]
    q = 10.0 ** -elements["qValue"].to_numpy()
    p = 10.0 ** -elements["pValue"].to_numpy()
    quantiles = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    lines += ["| | " + " | ".join(f"{x:g}" for x in quantiles) + " |", "|---" * (len(quantiles) + 1) + "|",
              "| p quantile | " + " | ".join(f"{v:.3g}" for v in np.quantile(p, quantiles)) + " |",
              "| q quantile | " + " | ".join(f"{v:.3g}" for v in np.quantile(q, quantiles)) + " |", "",
              f"Elements with q <= 0.05: {(q <= 0.05).sum():,} of {len(q):,} ({(q <= 0.05).mean():.3f}); "
              f"q <= 0.01: {(q <= 0.01).sum():,}; distinct q values: {len(np.unique(q.round(6))):,}.", ""]
    return lines


def matched_scores(reference: pd.DataFrame, ours: pd.DataFrame) -> np.ndarray:
    """float[len(reference)]: our best score for the same gene over an overlapping element (NaN: none)."""
    other = ours[["chr", "start", "end", "TargetGene", "score"]].rename(
        columns={c: f"{c}_ours" for c in ("chr", "start", "end", "score")})
    merged = reference[["chr", "start", "end", "TargetGene"]].reset_index().merge(other, on="TargetGene")
    hit = (merged["start_ours"] < merged["end"]) & (merged["start"] < merged["end_ours"]) & (
        merged["chr"] == merged["chr_ours"])
    best = merged[hit].groupby("index")["score_ours"].max()
    out = np.full(len(reference), np.nan)
    out[best.index.to_numpy()] = best.to_numpy()
    return out


def rho(a: np.ndarray, b: np.ndarray) -> str:
    ok = np.isfinite(a) & np.isfinite(b)
    return f"{spearmanr(a[ok], b[ok]).statistic:.3f} (n {int(ok.sum()):,})" if ok.sum() > 2 else "n/a"


def links_section(kit: Path, links: pd.DataFrame) -> list[str]:
    abc = pd.read_csv(kit / ABC_PREDICTIONS, sep="\t")
    re2g = pd.read_csv(kit / RE2G_PREDICTIONS, sep="\t")
    ours = links[["chr", "start", "end", "TargetGene", "score", "distance"]]
    refs = {
        "ABC (ABC.Score >= 0.027)": abc.assign(score=abc["ABC.Score"], dist=abc["distance"]),
        "ENCODE-rE2G (score >= 0.243)": re2g.assign(score=re2g["ENCODE-rE2G.Score"], dist=re2g["distanceToTSS"]),
    }
    lines = ["## Element-gene links\n", f"Our links: {len(ours):,} pairs, {ours['TargetGene'].nunique():,} genes.\n",
             "Spearman of our link score with 1/distance over our links: "
             f"{rho(ours['score'].to_numpy(float), 1.0 / (1.0 + ours['distance'].to_numpy(float)))}\n",
             "| reference | its pairs | share of them we link | share of our links in it | Spearman ours vs its "
             "score (shared) | its score vs 1/distance | ours vs 1/distance (shared) |",
             "|---|---|---|---|---|---|---|"]
    for name, ref in refs.items():
        ref = ref[["chr", "start", "end", "TargetGene", "score", "dist"]].reset_index(drop=True)
        ours_on_ref = matched_scores(ref, ours)
        theirs_on_ours = matched_scores(ours[["chr", "start", "end", "TargetGene"]].reset_index(drop=True),
                                        ref[["chr", "start", "end", "TargetGene", "score"]])
        inverse = 1.0 / (1.0 + ref["dist"].to_numpy(float))
        shared = np.isfinite(ours_on_ref)
        lines.append(f"| {name} | {len(ref):,} | {shared.mean():.3f} | {np.isfinite(theirs_on_ours).mean():.3f} | "
                     f"{rho(ours_on_ref, ref['score'].to_numpy(float))} | {rho(ref['score'].to_numpy(float), inverse)} "
                     f"| {rho(ours_on_ref, np.where(shared, inverse, np.nan))} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kit", type=Path)
    parser.add_argument("run", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=None, help="write the Markdown here (default stdout)")
    args = parser.parse_args(argv)
    kit, out = args.kit, args.run
    names = ("chrom", "start", "end", "name", "score", "strand", "signalValue", "pValue", "qValue", "peak")
    narrowpeak = out / "elements.narrowPeak"
    if not narrowpeak.is_file():
        narrowpeak = out / "elements.bed"
    elements = bed(narrowpeak, names).drop_duplicates(subset=["chrom", "start", "end"])
    peaks = bed(kit / "K562_DNase_ENCFF860XAE.chr22.macs2_peaks.narrowPeak")
    peaks = peaks[(peaks["end"] - peaks["start"]) <= 5000].reset_index(drop=True)  # README: drop giant peaks
    lines = ["# seq2exp on K562 chr22\n"]
    lines += expression_section(kit, out)
    lines += called_set_section(elements, candidates_with_signal(kit), peaks)
    lines += pq_section(elements)
    links_path = out / "elements.links.tsv"
    if links_path.is_file():
        links = pd.read_csv(links_path, sep="\t", dtype={"chr": str})
        # ENCODE-rE2G-format links name the score and distance columns Score and distanceToTSS
        links = links.rename(columns={"Score": "score", "distanceToTSS": "distance"})
        lines += links_section(kit, links)
    text = "\n".join(lines) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
