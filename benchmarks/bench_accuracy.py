"""Element discovery on simulated genomes, honestly: held-out chromosomes, seeds, motif conditions.

For every simulator seed (each draws its own motif grammar) this script simulates, prepares,
and trains the recipe's model under up to four motif conditions:
- ``none`` (the headline): no motif database; the recipe's default, motifs discovered de novo in
  the simulated DNase's accessible bases, beside the k-mers learned from expression;
- ``nodenovo`` (an ablation): no motif database and no de novo motifs, the k-mer stem alone;
- ``noisy``: the grammar's motifs hidden among >= 100 never-planted PWMs (how a JASPAR collection
  looks to one cell type), given as fixed motif channels;
- ``exact``: the grammar alone, an upper bound (never the headline).
Every figure is measured on the held-out test chromosomes, side by side in the same run with a
DNase threshold at equal base pairs and ``macs3 callpeak`` on the DNase reads (when installed).

It also runs the paper's own test (``--budget-test``): at an equal base-pair budget, the same
model architecture trained to see only seq2exp's called bases, only MACS3's peaks, or only the
top DNase bases (plus every promoter), and its held-out expression Pearson.

Usage::

    python benchmarks/bench_accuracy.py --scale medium --seeds 1,2 [--conditions none,noisy,exact]
        [--variants nomask,hard] [--steps N] [--budget-test] [--workdir DIR] [--out FILE.md]
    python benchmarks/bench_accuracy.py --scale medium --steps N --merge seed1.json seed2.json --out FILE.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
# this checkout's seq2exp_cli, not the copy an editable install of another checkout points at
sys.path[:0] = [str(HERE), str(HERE.parent)]

from budget_test import budget_test  # noqa: E402

#: motif source of each condition but ``none`` (no database: the recipe's default, de novo motifs)
CONDITION_SOURCES = {"nodenovo": None, "denovo": "denovo", "noisy": "noisy", "exact": "exact"}
GOALS = {"candidate_auprc": 0.60, "precision_ratio": 2.0, "decoys_called": 0.25, "pearson": 0.88,
         "noisy_candidate_auprc": 0.75}


def run_seed(seed: int, args: argparse.Namespace, recipe: dict) -> tuple[list[dict], list[dict]]:
    """All conditions and variants of one simulator seed: (element rows, budget rows)."""
    from seq2exp_cli.quickstart import (
        distal_bp,
        evaluate_simulated,
        held_out_chroms,
        in_fresh_process,
        motif_file,
        peer_results,
        prepare_simulated,
        train_simulated,
    )
    from seq2exp_cli.simulate import simulate

    work = args.workdir / f"seed{seed}"
    inputs = work / "inputs"
    if args.reuse and (work / "dataset" / "manifest.json").is_file():
        manifest = json.loads((inputs / "simulation.json").read_text())
        dataset = work / "dataset"
    else:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        in_fresh_process(simulate, inputs, seed=seed, scale=args.scale)
        manifest = json.loads((inputs / "simulation.json").read_text())
        dataset = in_fresh_process(prepare_simulated, inputs, manifest, work / "dataset")
    chroms = held_out_chroms(manifest)
    rows, peers, first_calls = [], None, None
    for condition in args.conditions:
        for variant in args.variants if condition == "none" else args.variants[:1]:
            start = time.process_time()
            run = work / f"model_{condition}_{variant}"
            if not (args.reuse and (run / "model.pt").is_file()):
                source = CONDITION_SOURCES.get(condition, condition) if condition != "none" else recipe.get("motifs")
                train_simulated(dataset, run, {**recipe, "motifs": source}, seed, args.device, variant=variant,
                                motifs=motif_file(inputs, manifest, source))
            expression, calls = predict_and_call(run, dataset, work, f"{condition}_{variant}", args)
            if peers is None:  # the peak callers once per seed, at the headline model's budget
                first_calls = calls["narrowPeak"]
                peers = peer_results(inputs, manifest, distal_bp(first_calls, inputs, manifest), work, chroms)
            table = evaluate_simulated(inputs, manifest, {"seq2exp": calls}, work, chroms=chroms, peers=peers)
            cpu = time.process_time() - start
            for record in table.to_dict(orient="records"):
                method = record.pop("method")
                is_model = method == "seq2exp"
                rows.append({"seed": seed, "condition": condition if is_model else "-",
                             "method": f"seq2exp {variant}" if is_model else method,
                             "pearson": expression["pearson"] if is_model else np.nan,
                             "spearman": expression["spearman"] if is_model else np.nan,
                             "cpu_s": cpu if is_model else np.nan, **normalise_recall_columns(record)})
    budget_recipe = {**recipe, **({"max_steps": args.budget_steps, "eval_every": max(args.budget_steps // 4, 1)}
                                  if args.budget_steps else {})}
    budget = budget_test(dataset, inputs, manifest, first_calls, budget_recipe, seed, args.device, work) \
        if args.budget_test and first_calls is not None else []
    return rows, [{"seed": seed, **r} for r in budget]


def predict_and_call(run: Path, dataset: Path, work: Path, tag: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """Held-out expression metrics and the call-elements paths of one model; with ``--reuse``,
    predictions and calls already in ``work`` (from an earlier run of the same model) are read back."""
    from seq2exp_cli.metrics import regression_metrics
    from seq2exp_cli.quickstart import call_simulated, predict_test, simulated_call_settings

    table, peaks = work / f"predictions_{tag}.tsv", work / f"elements_{tag}.narrowPeak"
    if args.reuse and table.is_file():
        labelled = pd.read_csv(table, sep="\t").dropna(subset=["target"])
        expression = regression_metrics(labelled["target"].to_numpy(), labelled["predicted"].to_numpy())
    else:
        expression = predict_test(run, dataset, table, args.device)
    _, paths = simulated_call_settings(peaks)
    if not (args.reuse and all(Path(p).is_file() for p in paths.values())):
        paths = call_simulated(run, dataset, peaks, args.device)
    return expression, paths


def normalise_recall_columns(record: dict) -> dict:
    """precision_at_recall_0.70 stays; the peer-recall column becomes precision_at_peer_recall."""
    out = {}
    for key, value in record.items():
        if key.startswith("precision_at_recall_") and key != "precision_at_recall_0.70":
            out["precision_at_peer_recall"] = value
            out["peer_recall"] = float(key.rsplit("_", 1)[1])
        else:
            out[key] = value
    out.setdefault("precision_at_peer_recall", record.get("precision_at_recall_0.70"))
    return out


COLUMNS = ["pearson", "spearman", "calls", "call_precision", "call_recall", "decoys_called", "auprc",
           "candidate_auprc", "candidate_chance", "precision_at_recall_0.70", "precision_at_peer_recall"]


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread (min-max over seeds) per condition and method; peers once per seed."""
    peers = rows[rows["condition"] == "-"].drop_duplicates(["seed", "method"])
    models = rows[rows["condition"] != "-"]
    frame = pd.concat([models, peers])
    grouped = frame.groupby(["condition", "method"], sort=False)
    mean = grouped[COLUMNS].mean()
    low, high = grouped[COLUMNS].min(), grouped[COLUMNS].max()
    mean["seeds"] = grouped.size()
    return mean, low, high


def markdown(rows: pd.DataFrame, budget: pd.DataFrame, args: argparse.Namespace, recipe: dict, seconds: float) -> str:
    mean, low, high = summary(rows)
    lines = [f"# Element discovery on simulated genomes (scale {args.scale}, seeds {','.join(map(str, args.seeds))})",
             "", f"Machine: {platform.machine()}, {os.cpu_count()} cores, device {args.device}; "
             f"recipe {recipe}; "
             + (f"merged from {', '.join(p.name for p in args.merge)}." if getattr(args, "merge", None)
                else f"total {seconds:.0f} s wall."), "",
             "Held-out test chromosomes only. Each seed draws its own motif grammar. Mean over seeds, "
             "[min, max] in brackets. Condition `exact` is an upper bound (the simulator's own motifs), "
             "never the headline.", "",
             "| condition | method | seeds | held-out Pearson | AUPRC (func. vs decoy) | candidate AUPRC (chance) | "
             "precision @ recall 0.70 | precision @ peer recall | decoys called | calls | call precision | "
             "call recall |", "|" + "---|" * 12]

    def cell(key, name, fmt="{:.3f}"):
        m, lo, hi = mean.loc[key, name], low.loc[key, name], high.loc[key, name]
        if not np.isfinite(m):
            return "-"
        return fmt.format(m) + (f" [{fmt.format(lo)}, {fmt.format(hi)}]" if hi > lo else "")

    for key in mean.index:
        lines.append("| " + " | ".join([
            key[0], key[1], str(int(mean.loc[key, "seeds"])), cell(key, "pearson"), cell(key, "auprc"),
            cell(key, "candidate_auprc") + f" ({mean.loc[key, 'candidate_chance']:.2f})",
            cell(key, "precision_at_recall_0.70"), cell(key, "precision_at_peer_recall"),
            cell(key, "decoys_called", "{:.2f}"), cell(key, "calls", "{:.0f}"), cell(key, "call_precision"),
            cell(key, "call_recall")]) + " |")
    lines += goal_lines(mean)
    if len(budget):
        lines += ["", "## Equal base-pair budget (the paper's test)", "",
                  "The same architecture (the recipe's model, no mask), trained on the train chromosomes "
                  "seeing only the bases of one region set (plus every promoter); Pearson on the test "
                  "chromosomes. Mean over seeds [min, max].", "",
                  "| bases seen | bp (genome-wide) | held-out Pearson |", "|---|---|---|"]
        for name, group in budget.groupby("regions", sort=False):
            p = group["pearson"]
            lines.append(f"| {name} | {group['bp'].mean():.0f} | {p.mean():.3f} [{p.min():.3f}, {p.max():.3f}] |")
    lines += ["", "Raw rows: the JSON file beside this one."]
    return "\n".join(lines) + "\n"


def goal_lines(mean: pd.DataFrame) -> list[str]:
    """The done-when goals, met or missed, for the first variant of each condition."""
    peer = [k for k in mean.index if k[1].startswith("MACS3")] or [k for k in mean.index if k[0] == "-"]
    if not peer:
        return []
    peer_p70 = mean.loc[peer[0], "precision_at_recall_0.70"]
    lines = ["", f"## Goals, against {peer[0][1]} (precision @ recall 0.70 {peer_p70:.3f})", "",
             "| condition | method | candidate AUPRC | precision ratio @ 0.70 | decoys called | held-out Pearson |",
             "|---|---|---|---|---|---|"]

    def judged(value, goal, higher=True):
        ok = value >= goal if higher else value <= goal
        return f"{value:.3f} ({'met' if ok else 'missed'}, goal {'>=' if higher else '<='} {goal})"

    for key in mean.index:
        if key[0] == "-":
            continue
        auprc_goal = GOALS["noisy_candidate_auprc"] if key[0] == "noisy" else GOALS["candidate_auprc"]
        ratio = mean.loc[key, "precision_at_recall_0.70"] / peer_p70 if peer_p70 > 0 else float("nan")
        lines.append(f"| {key[0]} | {key[1]} | {judged(mean.loc[key, 'candidate_auprc'], auprc_goal)} | "
                     f"{judged(ratio, GOALS['precision_ratio'])} | "
                     f"{judged(mean.loc[key, 'decoys_called'], GOALS['decoys_called'], higher=False)} | "
                     f"{judged(mean.loc[key, 'pearson'], GOALS['pearson'])} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["tiny", "small", "medium", "full"], default="medium")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--conditions", default="none,noisy,exact")
    parser.add_argument("--variants", default="nomask,hard", help="first one is the headline variant")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    parser.add_argument("--budget-test", action="store_true")
    parser.add_argument("--budget-steps", type=int, default=None, help="training steps of the budget-test models")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse what --workdir holds: the simulated, prepared seed, trained models, predictions, calls")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value (JSON value), e.g. --set kmer_l1=0")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workdir", type=Path, default=Path("bench_accuracy_run"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                        help="only merge the JSON files of runs made one seed each (same options) into one table")
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.conditions = args.conditions.split(",")
    args.variants = args.variants.split(",")
    from seq2exp_cli.logs import configure_logging

    configure_logging(verbose=0, quiet=False)

    from seq2exp_cli.quickstart import RECIPES

    recipe = dict(RECIPES["medium" if args.scale in ("medium", "full") else args.scale])
    for item in args.set:
        key, _, value = item.partition("=")
        recipe[key] = json.loads(value)
    if args.steps:
        recipe["max_steps"] = args.steps
        recipe["eval_every"] = max(args.steps // 5, 1)
    t0 = time.time()
    rows, budget = [], []
    if args.merge:
        for path in args.merge:
            saved = json.loads(path.read_text())
            rows += saved["rows"]
            budget += saved["budget"]
        args.seeds = sorted({r["seed"] for r in rows})
    else:
        for seed in args.seeds:
            seed_rows, seed_budget = run_seed(seed, args, recipe)
            rows += seed_rows
            budget += seed_budget
    frame, budget_frame = pd.DataFrame(rows), pd.DataFrame(budget)
    text = markdown(frame, budget_frame, args, recipe, time.time() - t0)
    print(text)
    out = args.out or HERE / "results" / f"bench_accuracy_{args.scale}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "budget": budget}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
