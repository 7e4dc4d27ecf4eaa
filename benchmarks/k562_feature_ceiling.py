"""How far gene-level signal summaries go on the K562 chr22 kit: the same folds as bench_k562_cv.py.

Every predictor here is a least-squares fit on each fold's training genes (no hyperparameter to
tune, so nothing is chosen on the test genes), scored by the pooled out-of-fold Pearson over the
same labelled genes and folds as ``bench_k562_cv.py``. The features are read from the prepared
dataset's own tracks, in transcription orientation:

* promoter signal, log1p of the mean signal over TSS +/- w, for several widths w;
* polynomial terms of the TSS +/- 500 bp pair (is the promoter's effect curved?);
* gene-body signal (log1p of the mean from TSS + 0.5 kb, as ``prepare``'s ``body_<track>``, or
  from another start, to the gene's end, within the window) and a protein-coding flag, from the
  kit's gene BED.

They bound what a model of these inputs can add over the promoter on 260-290 training genes.

    python benchmarks/k562_feature_ceiling.py --data /tmp/k562_cv/data   # a bench_k562_cv.py --out's data
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from bench_k562_cv import KIT, fold_of_genes, fold_split, least_squares, pearson

HERE = Path(__file__).resolve().parent
WIDTHS = (250, 500, 1000, 2000, 5000, 10_000)
#: where the gene body starts, bp past the TSS; prepare's body_<track> starts at 500
BODY_STARTS = (0, 500, 1000, 2000)


def signal_features(data: Path, kit: Path) -> pd.DataFrame:
    """Per labelled gene: promoter signal at each width, gene-body signal, coding flag, target, fold."""
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.io.genes import read_genes

    dataset = PreparedDataset(data)
    genes = dataset.genes.reset_index(drop=True)
    tracks = [t["name"] for t in dataset.manifest["tracks"]]
    if any(t.get("normalization") != "log1p" for t in dataset.manifest["tracks"]):
        raise SystemExit(f"{data}: this analysis reads log1p tracks; prepare the kit with the default --normalize")
    annotation = read_genes(kit / "RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed").set_index("name")
    fold = fold_of_genes(genes, 5, 2_000_000)
    centre = dataset.window // 2
    rows = []
    for i in np.flatnonzero(genes["target"].notna().to_numpy()):
        signal = np.expm1(dataset.load_gene(int(i))["signals"][:, : len(tracks)].astype(np.float64))
        row = {"gene_id": genes.at[i, "gene_id"], "target": float(genes.at[i, "target"]), "fold": int(fold[i])}
        for w in WIDTHS:
            row.update({f"tss{w}_{t}": np.log1p(signal[centre - w : centre + w, k].mean()) for k, t in enumerate(tracks)})
        name = genes.at[i, "name"]
        length = int(annotation.at[name, "length"]) if name in annotation.index else 0
        for offset in BODY_STARTS:
            body = signal[centre + offset : centre + min(length, centre)]
            row.update({f"body{offset}_{t}": np.log1p(body[:, k].mean()) if len(body) else 0.0
                        for k, t in enumerate(tracks)})
        row["protein_coding"] = float(name in annotation.index and annotation.at[name, "gene_type"] == "protein_coding")
        rows.append(row)
    return pd.DataFrame(rows)


def out_of_fold(table: pd.DataFrame, x: np.ndarray, folds: int = 5) -> float:
    """Pooled Pearson of least-squares predictions, each fold fit on its training genes."""
    y = table["target"].to_numpy()
    predicted = np.zeros(len(y))
    fold = table["fold"].to_numpy()
    for k in range(folds):
        predicted[fold == k] = least_squares(x, y, fold_split(fold, k, folds) == "train")[fold == k]
    return pearson(predicted, y)


def polynomial(x: np.ndarray, degree: int) -> np.ndarray:
    """All monomials of the columns of x up to ``degree`` (no constant)."""
    terms = [np.prod(x[:, list(c)], axis=1) for d in range(1, degree + 1)
             for c in itertools.combinations_with_replacement(range(x.shape[1]), d)]
    return np.column_stack(terms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the kit prepared by bench_k562_cv.py (--out/data)")
    parser.add_argument("--kit", type=Path, default=KIT)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "k562_feature_ceiling.md")
    args = parser.parse_args()
    table = signal_features(args.data, args.kit)
    tracks = [c.split("_", 1)[1] for c in table.columns if c.startswith("tss500_")]

    def cols(prefix: str) -> list[str]:
        return [f"{prefix}_{t}" for t in tracks]

    promoter = table[cols("tss500")].to_numpy()
    fits: list[tuple[str, np.ndarray]] = [(f"TSS +/- {w} bp", table[cols(f"tss{w}")].to_numpy()) for w in WIDTHS]
    fits += [
        ("TSS +/- 500 bp and +/- 2 kb", table[cols("tss500") + cols("tss2000")].to_numpy()),
        ("TSS +/- 250 bp, 1 kb and 5 kb", table[cols("tss250") + cols("tss1000") + cols("tss5000")].to_numpy()),
        ("TSS +/- 500 bp, quadratic", polynomial(promoter, 2)),
        ("TSS +/- 500 bp, cubic", polynomial(promoter, 3)),
    ]
    fits += [(f"TSS +/- 500 bp + gene body from TSS + {offset} bp" + (" (prepare's body_<track>)" if offset == 500 else ""),
              table[cols("tss500") + cols(f"body{offset}")].to_numpy()) for offset in BODY_STARTS]
    fits += [
        ("TSS +/- 500 bp + protein-coding flag", table[cols("tss500") + ["protein_coding"]].to_numpy()),
        ("TSS +/- 500 bp + gene body + protein-coding flag",
         table[cols("tss500") + cols("body500") + ["protein_coding"]].to_numpy()),
    ]
    lines = ["# K562 chr22: how far gene-level signal summaries go (least squares, same folds as k562_cv.md)", "",
             f"`python benchmarks/k562_feature_ceiling.py --data {args.data}`", "",
             f"{len(table)} labelled genes, 5 position-block folds; each fit on its fold's training genes "
             f"(tracks: {', '.join(tracks)}; each width gives one log1p(mean signal) per track).", "",
             "| least squares on | pooled out-of-fold Pearson |", "|---|---|"]
    lines += [f"| {label} | {out_of_fold(table, x):.3f} |" for label, x in fits]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
