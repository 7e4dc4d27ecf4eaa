"""Cross-validated expression accuracy on the real K562 chr22 kit, against promoter activity.

The kit is prepared once, as a new user would (`prepare` with only --fasta --genes --expression
--expression-column K562_TPM --track --hic). Its genes are then cut into contiguous position
blocks (``--block-size``, 2 Mb), each given in genome order to the fold with the fewest labelled
genes so far (``--folds`` folds); fold k is the test
split, fold k+1 the validation split and the rest the training split, so every labelled gene is
predicted exactly once by a model that never saw it nor its neighbours. Each fold trains with
``seq2exp train`` at its defaults (the ``auto`` preset) plus any extra options given after
``--``, then ``seq2exp predict --split test``.

Baselines, in the same table: ABC's promoter activity sqrt(DHS RPM x H3K27ac RPM) within 1 kb
of the TSS (``ABC_GeneList.chr22.txt``), as log10(1 + x) (Pearson needs no fitting, so it is out
of fold too); and a least-squares line on the dataset's own gene features (``promoter_<track>``),
fit on each fold's training genes: what the model adds beyond its promoter inputs.

    python benchmarks/bench_k562_cv.py --out /tmp/k562_cv                 # writes results/k562_cv.md
    python benchmarks/bench_k562_cv.py --out /tmp/k562_cv -- --epochs 2   # shorter training
    python benchmarks/bench_k562_cv.py --out /tmp/k562_cv --reuse         # report again, no training
    python benchmarks/bench_k562_cv.py --out /tmp/k562_cv --seeds 1 2 3   # spread over training seeds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KIT = REPO.parent / "shared" / "data" / "k562_chr22"


def seq2exp(*args: str, threads: int) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "seq2exp_cli", *args], check=True, env=env)


def prepare(kit: Path, out: Path, threads: int) -> Path:
    data = out / "data"
    if not (data / "manifest.json").exists():
        seq2exp("prepare", "--fasta", str(kit / "hg38.chr22.fa.gz"),
                "--genes", str(kit / "RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed"),
                "--expression", str(kit / "k562_chr22_genes_rnaseq_tpm.tsv"), "--expression-column", "K562_TPM",
                "--track", f"dnase={kit / 'k562.dnase.chr22.bw'}", "--track", f"h3k27ac={kit / 'k562.h3k27ac.chr22.bw'}",
                "--hic", str(kit / "K562.chr22.hg38.hic"), "-o", str(data), threads=threads)
    return data


def fold_of_genes(genes: pd.DataFrame, folds: int, block_size: int) -> np.ndarray:
    """Fold per gene: contiguous position blocks, taken in genome order, each given to the fold
    with the fewest labelled genes so far (balanced folds; a block never spans two folds)."""
    block = (genes["chrom"].astype(str) + ":" + (genes["tss"] // block_size).astype(str)).to_numpy()
    labelled = genes["target"].notna().to_numpy()
    sizes = np.zeros(folds, dtype=np.int64)
    fold_of_block = {}
    for b in dict.fromkeys(block):
        k = int(np.argmin(sizes))
        fold_of_block[b] = k
        sizes[k] += int(labelled[block == b].sum())
    return np.array([fold_of_block[b] for b in block])


def fold_split(fold: np.ndarray, k: int, folds: int) -> np.ndarray:
    """Split per gene for fold k: the fold is test, the next fold valid, the rest train."""
    return np.where(fold == k, "test", np.where(fold == (k + 1) % folds, "valid", "train"))


def fold_dataset(data: Path, genes: pd.DataFrame, split: np.ndarray, out: Path) -> Path:
    """A dataset directory sharing ``data``'s arrays, with the genes' splits set to ``split``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for item in data.iterdir():
        if item.name != "genes.tsv":
            (out / item.name).symlink_to(item.resolve())
    genes.assign(split=split).to_csv(out / "genes.tsv", sep="\t", index=False, na_rep="NA")
    return out


def least_squares(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Predictions for every row of a line (with intercept) fit on the ``train`` rows."""
    x = np.column_stack([x, np.ones(len(x))])
    coef, *_ = np.linalg.lstsq(x[train], y[train], rcond=None)
    return x @ coef


def linear_on_features(genes: pd.DataFrame, feature_names: list[str], split: np.ndarray) -> np.ndarray:
    """Least-squares fit of the target on the gene features over the training genes; predictions
    for every gene."""
    train = (split == "train") & genes["target"].notna().to_numpy()
    return least_squares(genes[feature_names].to_numpy(np.float64), genes["target"].to_numpy(np.float64), train)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def run_dir(out: Path, seed: int | None, k: int) -> Path:
    """Where fold k's run for ``seed`` lives (no seed: the training default, ``out/fold<k>``)."""
    return (out if seed is None else out / f"seed{seed}") / f"fold{k}" / "run"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kit", type=Path, default=KIT)
    parser.add_argument("--out", type=Path, required=True, help="work directory (datasets, runs, predictions)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--block-size", type=int, default=2_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train every fold once per seed (default: once, at train's own default seed)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--results", type=Path, default=HERE / "results" / "k562_cv.md")
    parser.add_argument("--reuse", action="store_true", help="keep the folds' predictions already in --out")
    parser.add_argument("train_args", nargs="*", help="extra `seq2exp train` options (after --)")
    args = parser.parse_args()
    if not args.kit.exists():
        sys.exit(f"{args.kit}: the k562_chr22 kit is not there; give --kit")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = prepare(args.kit, args.out, args.threads)
    genes = pd.read_csv(data / "genes.tsv", sep="\t", dtype={"gene_id": str, "name": str})
    feature_names = json.loads((data / "manifest.json").read_text())["feature_names"]
    fold = fold_of_genes(genes, args.folds, args.block_size)
    seeds = args.seeds or [None]
    rows, seconds = [], []
    for k in range(args.folds):
        t_fold = time.time()
        split = fold_split(fold, k, args.folds)
        fold_data = fold_dataset(data, genes, split, args.out / f"fold{k}" / "data")
        predicted, reused = {}, True
        for seed in seeds:
            run = run_dir(args.out, seed, k)
            if not (args.reuse and (run / "test.tsv").exists()):
                reused = False
                run.parent.mkdir(parents=True, exist_ok=True)
                seed_args = [] if seed is None else ["--seed", str(seed)]
                seq2exp("train", str(fold_data), "-o", str(run), "--force", *args.train_args, *seed_args,
                        threads=args.threads)
                seq2exp("predict", str(run), str(fold_data), "--split", "test", "-o", str(run / "test.tsv"),
                        "--force", threads=args.threads)
            predicted[seed] = pd.read_csv(run / "test.tsv", sep="\t", dtype={"gene_id": str, "name": str})
        part = predicted[seeds[0]].drop(columns="predicted")
        for seed in seeds:
            part[seed_column(seed)] = predicted[seed].set_index("gene_id").loc[part["gene_id"], "predicted"].to_numpy()
        linear = pd.Series(linear_on_features(genes, feature_names, split), index=genes["gene_id"])
        rows.append(part.assign(fold=k, linear=linear.loc[part["gene_id"]].to_numpy()))
        seconds.append(None if reused else time.time() - t_fold)
    table = pd.concat(rows, ignore_index=True).dropna(subset=["target"])
    abc = pd.read_csv(args.kit / "ABC_GeneList.chr22.txt", sep="\t")
    activity = pd.Series(np.log10(1 + np.sqrt(abc["DHS.RPM.TSS1Kb"] * abc["H3K27ac.RPM.TSS1Kb"])).to_numpy(),
                         index=abc["name"])
    table = table[table["name"].isin(activity.index)].copy()
    table["baseline"] = activity.loc[table["name"]].to_numpy()
    write_report(args, table, [seed_column(s) for s in seeds], feature_names, seconds, time.time() - t0)


def seed_column(seed: int | None) -> str:
    return "seq2exp" if seed is None else f"seq2exp seed {seed}"


def summary_row(label: str, table: pd.DataFrame, column: str) -> tuple[str, float, np.ndarray]:
    """A report row for one predictor: pooled and per-fold Pearson."""
    per_fold = np.array([pearson(part["target"], part[column]) for _, part in table.groupby("fold")])
    pooled = pearson(table["target"], table[column])
    row = (f"| {label} | {pooled:.3f} | {per_fold.mean():.3f} | {per_fold.std(ddof=1):.3f} | "
           f"{per_fold.min():.3f} | {per_fold.max():.3f} |")
    return row, pooled, per_fold


def write_report(args: argparse.Namespace, table: pd.DataFrame, seed_columns: list[str], feature_names: list[str],
                 seconds: list[float | None], total_s: float) -> None:
    table = table.assign(ensemble=table[seed_columns].mean(axis=1))
    seed_rows = [summary_row(column, table, column) for column in seed_columns]
    pooled_seeds = np.array([pooled for _, pooled, _ in seed_rows])
    per_fold = np.mean([folds for _, _, folds in seed_rows], axis=0)
    base_row, pooled_base, base = summary_row(
        "promoter activity log10(1 + sqrt(DHS RPM x H3K27ac RPM)), TSS +/- 500 bp", table, "baseline")
    linear_row, _, linear = summary_row(
        f"least squares on the gene features ({', '.join(feature_names)}), training genes", table, "linear")
    extra = " ".join(args.train_args)
    seeds = "" if args.seeds is None else " --seeds " + " ".join(map(str, args.seeds))
    n = len(seed_columns)
    lines = [
        "# K562 chr22: cross-validated expression Pearson vs promoter activity", "",
        f"`python benchmarks/bench_k562_cv.py --out {args.out} --folds {args.folds}{seeds} --threads {args.threads}"
        + (f" -- {extra}" if extra else "") + "`", "",
        f"{args.folds} folds of contiguous {args.block_size // 1_000_000}-Mb position blocks (balanced by labelled genes); "
        f"each fold: test = the fold, valid = the next fold, train = the rest; `seq2exp train` "
        + (f"with `{extra}`" if extra else "at its defaults (preset auto = cpu)")
        + (f", once per seed ({n} seeds)" if n > 1 else "") + f", {args.threads} thread(s). "
        f"Every labelled gene with an ABC promoter activity is predicted once, out of fold ({len(table)} genes).", "",
        "| predictor | pooled Pearson | per-fold mean | per-fold sd | min | max |", "|---|---|---|---|---|---|",
        *[row for row, _, _ in seed_rows],
    ]
    if n > 1:
        lines += [f"| seq2exp, pooled Pearson over the {n} seeds: mean +/- sd | {pooled_seeds.mean():.3f} +/- "
                  f"{pooled_seeds.std(ddof=1):.3f} | {per_fold.mean():.3f} | | | |",
                  summary_row(f"seq2exp, mean of the {n} seeds' predictions", table, "ensemble")[0]]
    gain = pooled_seeds.mean() - pooled_base
    lines += [
        base_row, linear_row, "",
        "Difference (seq2exp - baseline), pooled" + (f", mean over the {n} seeds" if n > 1 else "")
        + f": {gain:+.3f}; per fold: " + ", ".join(f"{o - b:+.3f}" for o, b in zip(per_fold, base))
        + f" (goal: +0.05, {'met' if gain >= 0.05 else 'not met'}).", "",
        "| fold | test genes | seq2exp" + (f" (mean over {n} seeds)" if n > 1 else "")
        + " | promoter activity | least squares | seconds |", "|---|---|---|---|---|---|",
    ]
    sizes = table.groupby("fold").size().to_numpy()
    lines += [f"| {k} | {size} | {o:.3f} | {b:.3f} | {f:.3f} | {'reused' if s is None else f'{s:.0f}'} |"
              for k, (size, o, b, f, s) in enumerate(zip(sizes, per_fold, base, linear, seconds))]
    lines += ["", f"Total {total_s / 60:.1f} min" + (" (predictions reused)." if None in seconds else ".")]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
