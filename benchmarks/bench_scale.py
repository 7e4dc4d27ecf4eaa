"""How the pipeline scales with the number of genes: simulate -> prepare -> one training epoch ->
predict -> call-elements on simulated genomes of growing size, each stage in a fresh process.

Per stage and size: CPU seconds (user + system of the stage's process and its children,
``getrusage``), wall seconds and peak resident memory (with its heap and mapped-file parts).
Then per stage a least-squares fit ``cpu = a + b * genes``, the exponent k of ``cpu ~ genes^k``
and the extrapolation to 20,000 genes (labelled as such; scale_report.py writes the tables):
on 2 CPU cores (CPU hours / 2 if both cores are used fully, CPU hours if only one is) and,
for training, on one GPU at an assumed step time (``--gpu-step-s``; gpu_check.sh measures it).

    python benchmarks/bench_scale.py --sizes 500,1000,2500,5000,10000 --window 100000 --keep
    python benchmarks/bench_scale.py --sizes 500,1000 --window 200000 --output results/scale_200kb.md
    python benchmarks/bench_scale.py --from-json results/bench_scale.json --window-reference results/scale_200kb.json

Training is the default ``seq2exp train`` on a CPU (the ``cpu`` preset) cut to ``--epochs 1``.
The simulated genomes keep the quickstart ``small`` scale's density (2-Mb chromosomes with 64
genes each, ~32 genes per Mb) and its generative parameters. Human gene density is ~6.5 genes
per Mb, so a real genome stores more bases per gene: prepare and call-elements, whose cost
follows stored bases, are also fitted per stored Mb and projected on the larger of the two.
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
sys.path.insert(0, str(HERE))
GENES_PER_CHROM = 64
CHROM_BP = 2_000_000
STAGES = ("simulate", "prepare", "train 1 epoch", "predict", "call-elements")


def child(stage: str, work: Path, n_genes: int, window: int, seed: int, threads: int) -> None:
    """Run one stage in this process; print its CPU seconds, wall and peak memory as JSON.

    Peak RSS is ``getrusage``'s (this process or its largest child); a sampler thread also keeps
    the peaks of /proc/self/status's RssAnon (the process's own heap) and RssFile (pages of
    mapped files, e.g. the dataset's memory-mapped arrays, which the kernel can drop under
    pressure), every 50 ms."""
    import threading

    sys.path.insert(0, str(ROOT))
    peaks = {"RssAnon": 0, "RssFile": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            for line in Path("/proc/self/status").read_text().splitlines():
                key = line.split(":", 1)[0]
                if key in peaks:
                    peaks[key] = max(peaks[key], int(line.split()[1]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.time()
    extra = run_stage(stage, work, n_genes, window, seed, threads)
    stop.set()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"stage": stage, "cpu_s": usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime,
                      "peak_rss_gib": max(usage.ru_maxrss, kids.ru_maxrss) / 2**20,
                      "peak_rss_anon_gib": peaks["RssAnon"] / 2**20, "peak_rss_file_gib": peaks["RssFile"] / 2**20,
                      "children_peak_rss_gib": kids.ru_maxrss / 2**20, "wall_s": time.time() - t0, **extra}))


def simulate_genes(inputs: Path, n_genes: int, window: int, seed: int) -> dict:
    """A simulated genome of ``n_genes`` genes: the small scale's parameters on 2-Mb chromosomes
    of 64 genes each (the last takes the remainder), one tenth of them valid and one tenth test."""
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


def run_stage(stage: str, work: Path, n_genes: int, window: int, seed: int, threads: int) -> dict:
    from seq2exp_cli.cli import cli

    inputs, dataset, run = work / "inputs", work / "dataset", work / "run"
    if stage == "simulate":
        return simulate_genes(inputs, n_genes, window, seed)
    if stage == "prepare":
        from seq2exp_cli.quickstart import prepare_simulated

        # prepare_simulated is `seq2exp prepare` with the simulation's files, window and split
        # (--threads 1: its default)
        prepare_simulated(inputs, json.loads((inputs / "simulation.json").read_text()), dataset)
        manifest = json.loads((dataset / "manifest.json").read_text())
        store = sum(p.stat().st_size for p in dataset.rglob("*") if p.is_file())
        return {"stored_bp": int(manifest["total_bp"]), "store_bytes": store}
    if stage == "train 1 epoch":
        # the default `seq2exp train` on a CPU (the cpu preset), cut to one epoch
        args = ["train", str(dataset), "-o", str(run), "--epochs", "1", "--device", "cpu", "--force"]
    elif stage == "predict":
        args = ["predict", str(run), str(dataset), "-o", str(work / "predictions.tsv"), "--split", "all",
                "--device", "cpu", "--force"]
    elif stage == "call-elements":
        args = ["call-elements", str(run), str(dataset), "-o", str(work / "elements.bed"), "--device", "cpu",
                "--force"]
    else:
        raise ValueError(stage)
    cli.main(args=["-q", *args, "--threads", str(threads)], standalone_mode=False)
    out: dict = {}
    if stage == "train 1 epoch":
        record = json.loads((run / "run.json").read_text())
        out.update(steps=record["steps"], global_batch=record["derived"]["global_batch"],
                   n_train=record["derived"]["n_train"], n_valid=record["derived"]["n_valid"],
                   eval_wall_s=record["timings"]["eval_s"], variant=record["variant"],
                   model={k: record["model_config"].get(k) for k in ("stem", "readout", "resolution", "d_model",
                                                                      "n_layers")})
    if stage == "call-elements":
        out["elements"] = sum(1 for _ in open(work / "elements.bed"))
    return out


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
                        help="ASSUMED seconds per training step of the gpu preset on one GPU (projection only)")
    parser.add_argument("--gpu-steps", type=int, default=50_000, help="steps of the gpu preset (its target_steps)")
    parser.add_argument("--cores", type=int, default=2, help="cores of the machine the projection is for")
    parser.add_argument("--window-reference", type=Path, default=None,
                        help="JSON of a run at the real window (e.g. 200,000) on small sizes: scales the projection")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "bench_scale.md")
    parser.add_argument("--json", type=Path, default=None,
                        help="measurements as JSON, rewritten after every stage (default: --output with .json)")
    parser.add_argument("--from-json", type=Path, default=None, help="only write the report from this JSON")
    parser.add_argument("--keep", action="store_true", help="keep each size's work directory")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, work, n_genes, window = args.child
        child(stage, Path(work), int(n_genes), int(window), args.seed, args.threads)
        return
    if args.from_json:
        write_report(args, json.loads(args.from_json.read_text()))
        return
    json_path = args.json or args.output.with_suffix(".json")
    measure(args, json_path, "python benchmarks/bench_scale.py " + " ".join(sys.argv[1:]))
    write_report(args, json.loads(json_path.read_text()))


def measure(args, json_path: Path, command: str) -> dict[int, dict[str, dict]]:
    """Run every stage at every size, each in a fresh process; save the JSON after each stage."""
    sizes = [int(s) for s in args.sizes.split(",")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    rows: dict[int, dict[str, dict]] = {}
    t_start = time.time()

    def save() -> None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"command": command, "window": args.window, "threads": args.threads,
                                         "machine": machine(), "wall_s": time.time() - t_start,
                                         "rows": rows}, indent=1) + "\n")

    for n in sizes:
        if time.time() - t_start > args.budget_s:
            print(f"budget spent: {n} genes not run", file=sys.stderr)
            break
        work = args.work / f"genes_{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        rows[n] = {}
        for stage in STAGES:
            cmd = [sys.executable, __file__, "--seed", str(args.seed), "--threads", str(args.threads),
                   "--child", stage, str(work), str(n), str(args.window)]
            load_before = os.getloadavg()[0]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
            if proc.returncode != 0:
                rows[n][stage] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
                print(f"{n} genes, {stage}: failed: {rows[n][stage]['error']}", file=sys.stderr)
                save()
                break
            rows[n][stage] = json.loads(proc.stdout.strip().splitlines()[-1])
            rows[n][stage]["load_1min"] = [load_before, os.getloadavg()[0]]
            save()
            print(f"{n} genes, {stage}: {rows[n][stage]}", file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    save()
    return rows


def machine() -> dict:
    """What the numbers ran on."""
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0.0)
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "mem_gib": round(mem, 1), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}


def window_reference(args, saved: dict) -> tuple[dict[str, float], dict | None]:
    """Per-stage CPU ratio (reference run's window / this run's) at the gene counts both ran."""
    if not args.window_reference:
        return {}, None
    from scale_report import PIPELINE, complete

    ref = json.loads(args.window_reference.read_text())
    mine = complete({int(n): r for n, r in saved["rows"].items()})
    theirs = complete({int(n): r for n, r in ref["rows"].items()})
    common = sorted(set(mine) & set(theirs))
    if not common:
        return {}, None
    factor = {s: sum(theirs[n][s]["cpu_s"] / mine[n][s]["cpu_s"] for n in common) / len(common) for s in PIPELINE}
    note = (f"Window factor: CPU of the same stage at window {ref['window']:,} bp over window {saved['window']:,} bp, "
            f"measured at {', '.join(map(str, common))} genes (`{ref['command']}`): "
            + ", ".join(f"{s} x{f:.2f}" for s, f in factor.items())
            + f". The fits above are at {saved['window']:,} bp; the projection multiplies them by this factor "
              f"to give {ref['window']:,}-bp windows.")
    return factor, {"note": note}


def write_report(args, saved: dict) -> None:
    from scale_report import render

    factor, reference = window_reference(args, saved)
    params = {"target_genes": args.target_genes, "genome_mb": args.genome_mb, "window_factor": factor,
              "cores": args.cores, "gpu_step_s": args.gpu_step_s, "gpu_steps": args.gpu_steps}
    text = render(saved, params, reference)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
