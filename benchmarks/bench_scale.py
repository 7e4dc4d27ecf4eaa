"""How the pipeline scales with the number of genes: simulate -> prepare -> one training epoch ->
predict -> call-elements on simulated genomes of growing size, each stage in a fresh process.

Per stage and size: CPU seconds (user + system of the stage's process, ``getrusage``) and its
peak resident memory. Then a least-squares fit ``cpu = a + b * genes`` per stage and the
extrapolation to 20,000 genes (labelled as such): on 2 CPU cores (CPU seconds / 2 if both
cores are used perfectly, CPU seconds if only one is) and, for training, with a GPU step time
given by ``--gpu-step-s`` (an assumption unless measured by gpu_check.sh).

    python benchmarks/bench_scale.py --sizes 500,1000,2000 --window 200000

The simulated genomes keep the quickstart ``small`` scale's density (2-Mb chromosomes with
64 genes each, ~32 genes per Mb) and its generative parameters; the model is the quickstart
``small`` recipe (``--threads`` 1 unless told). Human gene density is ~6.5 genes per Mb, so a
real genome stores ~5x more bases per gene: stages whose cost follows stored bases (prepare,
the per-bp part of call-elements) are also fitted per stored Mb.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENES_PER_CHROM = 64
CHROM_BP = 2_000_000
STAGES = ("simulate", "prepare", "train 1 epoch", "predict", "call-elements")


def child(stage: str, work: Path, n_genes: int, window: int, seed: int) -> None:
    """Run one stage in this process; print its CPU seconds and peak RSS as JSON."""
    sys.path.insert(0, str(ROOT))
    t0 = time.time()
    extra = run_stage(stage, work, n_genes, window, seed)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"stage": stage, "cpu_s": usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime,
                      "peak_rss_gib": max(usage.ru_maxrss, kids.ru_maxrss) / 2**20, "wall_s": time.time() - t0,
                      **extra}))


def run_stage(stage: str, work: Path, n_genes: int, window: int, seed: int) -> dict:
    from seq2exp_cli.cli import cli

    inputs, dataset, run = work / "inputs", work / "dataset", work / "run"
    if stage == "simulate":
        from seq2exp_cli.simulate import simulate

        n_chroms = max(4, math.ceil(n_genes / GENES_PER_CHROM))
        genes = [GENES_PER_CHROM] * n_chroms
        genes[-1] = max(8, n_genes - GENES_PER_CHROM * (n_chroms - 1))
        names = [f"chr{i + 1}" for i in range(n_chroms)]
        n_valid = max(1, round(0.1 * n_chroms))
        manifest = simulate(inputs, seed=seed, scale="small", chrom_sizes=tuple([CHROM_BP] * n_chroms),
                            genes_per_chrom=tuple(genes), window=window,
                            valid_chroms=tuple(names[-2 * n_valid:-n_valid]), test_chroms=tuple(names[-n_valid:]))
        return {"genes": int(manifest["counts"]["genes"]), "genome_bp": CHROM_BP * n_chroms}
    if stage == "prepare":
        from seq2exp_cli.quickstart import prepare_simulated

        prepare_simulated(inputs, json.loads((inputs / "simulation.json").read_text()), dataset)
        manifest = json.loads((dataset / "manifest.json").read_text())
        store = sum(p.stat().st_size for p in dataset.rglob("*") if p.is_file())
        return {"stored_bp": int(manifest["total_bp"]), "store_bytes": store}
    if stage == "train 1 epoch":
        config = work / "recipe.toml"
        config.write_text(recipe_toml())
        args = ["train", str(dataset), "-o", str(run), "--config", str(config), "--epochs", "1", "--device", "cpu",
                "--force"]
    elif stage == "predict":
        args = ["predict", str(run), str(dataset), "-o", str(work / "predictions.tsv"), "--split", "all",
                "--device", "cpu", "--force"]
    elif stage == "call-elements":
        args = ["call-elements", str(run), str(dataset), "-o", str(work / "elements.bed"), "--device", "cpu",
                "--force"]
    else:
        raise ValueError(stage)
    cli.main(args=["-q", *args], standalone_mode=False)
    out = {}
    if stage == "train 1 epoch":
        out["steps"] = json.loads((run / "run.json").read_text())["steps"]
    return out


def recipe_toml() -> str:
    """The quickstart small recipe as a `seq2exp train --config` file (one epoch set on the command line)."""
    sys.path.insert(0, str(ROOT))
    from seq2exp_cli.quickstart import RECIPE_MODEL_KEYS, RECIPES

    recipe = RECIPES["small"]
    model = "\n".join(f"{k} = {json.dumps(recipe[k])}" for k in RECIPE_MODEL_KEYS)
    training = (f"lr = {recipe['lr']}\nmin_lr = {recipe['lr'] / 10}\nbatch_size = {recipe['batch_size']}\n"
                f"eval_every = 100000\ncheckpoint_every = 100000\nwarmup_fraction = 0.1\nseed = 1")
    return f'variant = "{recipe["variant"]}"\n[model]\n{model}\n[training]\n{training}\n'


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (intercept, slope); the slope alone through the origin for one point."""
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500,1000,2000", help="genes per simulated genome, comma-separated")
    parser.add_argument("--window", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/seq2exp_bench_scale"))
    parser.add_argument("--budget-s", type=float, default=1200, help="stop starting new sizes after this much wall")
    parser.add_argument("--target-genes", type=int, default=20_000)
    parser.add_argument("--genome-mb", type=float, default=1750.0,
                        help="stored Mb of a real genome-wide run (20,000 200-kb windows merge to 1.5-2 Gb)")
    parser.add_argument("--gpu-step-s", type=float, default=0.5,
                        help="assumed seconds per training step on one GPU for the GPU projection")
    parser.add_argument("--epochs", type=float, default=4.0, help="epochs of a genome-wide training run (projection)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "bench_scale.md")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, work, n_genes, window = args.child
        child(stage, Path(work), int(n_genes), int(window), args.seed)
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    rows: dict[int, dict[str, dict]] = {}
    t_start = time.time()
    for n in sizes:
        if time.time() - t_start > args.budget_s:
            print(f"budget spent: {n} genes not run", file=sys.stderr)
            break
        work = args.work / f"genes_{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        rows[n] = {}
        for stage in STAGES:
            cmd = [sys.executable, __file__, "--seed", str(args.seed), "--child", stage, str(work), str(n),
                   str(args.window)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
            if proc.returncode != 0:
                rows[n][stage] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
                print(f"{n} genes, {stage}: failed: {rows[n][stage]['error']}", file=sys.stderr)
                break
            rows[n][stage] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{n} genes, {stage}: {rows[n][stage]}", file=sys.stderr, flush=True)
        shutil.rmtree(work, ignore_errors=True)
    write_report(args, rows, time.time() - t_start)


def write_report(args, rows: dict[int, dict[str, dict]], wall: float) -> None:
    done = {n: r for n, r in rows.items() if all(s in r and "error" not in r[s] for s in STAGES)}
    lines = ["# bench_scale (CPU)", "",
             f"`python benchmarks/bench_scale.py {' '.join(sys.argv[1:])}` on {platform.machine()}, "
             f"{os.cpu_count()} logical CPUs shared with other jobs, {args.threads} thread(s) per stage, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {wall / 60:.1f} min wall in all.",
             f"Simulated genomes at the quickstart small density ({GENES_PER_CHROM} genes per "
             f"{CHROM_BP / 1e6:.0f}-Mb chromosome), window {args.window:,} bp, model: the quickstart small "
             "recipe, one epoch. Each stage runs in its own process: CPU seconds (user + system, "
             "including its child processes) and peak RSS of that process.", "",
             "| genes | stored Mb | store MB | stage | CPU s | CPU s per gene | peak RSS GiB |", "|---|---|---|---|---|---|---|"]
    for n, stages in rows.items():
        stored = stages.get("prepare", {}).get("stored_bp", 0) / 1e6
        store = stages.get("prepare", {}).get("store_bytes", 0) / 1e6
        genes = stages.get("simulate", {}).get("genes", n)
        for stage in STAGES:
            r = stages.get(stage)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {genes} | | | {stage} | failed: {r['error']} | | |")
                continue
            extra = f" ({r['steps']} steps)" if "steps" in r else ""
            lines.append(f"| {genes} | {stored:.1f} | {store:.0f} | {stage}{extra} | {r['cpu_s']:.1f} | "
                         f"{r['cpu_s'] / genes:.4f} | {r['peak_rss_gib']:.2f} |")
    if len(done) >= 1:
        lines += projection(args, done)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def projection(args, done: dict[int, dict[str, dict]]) -> list[str]:
    genes = [float(r["simulate"]["genes"]) for r in done.values()]
    stored = [r["prepare"]["stored_bp"] / 1e6 for r in done.values()]
    target = args.target_genes
    lines = ["", f"## Fit and extrapolation to {target:,} genes (extrapolated, not measured)", "",
             "| stage | fit: CPU s = a + b x genes | CPU s per stored Mb | peak RSS GiB, smallest -> largest | "
             f"projected CPU h at {target:,} genes (sim density) | projected CPU h at {args.genome_mb:,.0f} stored Mb |",
             "|---|---|---|---|---|---|"]
    total_gene, total_mb = 0.0, 0.0
    for stage in STAGES[1:]:
        cpu = [r[stage]["cpu_s"] for r in done.values()]
        a, b = fit_line(genes, cpu)
        _, per_mb = fit_line(stored, cpu)
        rss = [r[stage]["peak_rss_gib"] for r in done.values()]
        at_genes = (a + b * target) / 3600
        per_stage_epochs = args.epochs if stage.startswith("train") else 1.0
        at_genes *= per_stage_epochs
        at_mb = (a + per_mb * args.genome_mb) / 3600 if stage in ("prepare", "call-elements") else at_genes
        total_gene += at_genes
        total_mb += at_mb
        label = f"{stage} x {args.epochs:g} epochs" if per_stage_epochs != 1 else stage
        lines.append(f"| {label} | {a:.1f} + {b:.4f} x genes | {per_mb:.2f} | {rss[0]:.2f} -> {rss[-1]:.2f} | "
                     f"{at_genes:.2f} | {at_mb:.2f} |")
    lines.append(f"| whole pipeline (prepare -> elements) | | | | {total_gene:.2f} | {total_mb:.2f} |")
    train = [r["train 1 epoch"] for r in done.values()]
    steps_per_gene = sum(t["steps"] for t in train) / sum(genes)
    gpu_h = args.epochs * steps_per_gene * target * args.gpu_step_s / 3600
    lines += ["",
              f"- 2 CPU cores: wall time lies between CPU hours / 2 (both cores busy, perfect scaling: "
              f"{total_mb / 2:.2f} h for the whole pipeline at {args.genome_mb:,.0f} stored Mb) and the CPU hours "
              f"themselves (one core busy: {total_mb:.2f} h).",
              f"- One GPU (assumption, not measured here: {args.gpu_step_s} s per training step, the issue's "
              f"paper-scale target; gpu_check.sh measures it): {args.epochs:g} epochs = "
              f"{args.epochs * steps_per_gene * target:,.0f} steps -> {gpu_h:.2f} h of training.",
              f"- Projections scale the per-gene slope b measured on {len(done)} genome sizes "
              f"({', '.join(str(int(g)) for g in genes)} genes); '{args.genome_mb:,.0f} stored Mb' uses the "
              "per-Mb rate for prepare and call-elements (they read and write every stored base) and the per-gene "
              "rate for training and predict (one window per gene whatever the density)."]
    return lines


if __name__ == "__main__":
    main()
