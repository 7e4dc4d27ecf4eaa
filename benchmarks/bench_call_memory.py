"""Peak memory of ``seq2exp call-elements`` (model mode) against the number of genes.

The per-gene scores stream through a combiner that holds a few windows at a time, so peak
memory should not grow with the genome. This script shows whether it does: peak RSS (and its
heap and memory-mapped parts) at each gene count, per gene, and the straight-line fit
``RSS = c + d x genes`` extrapolated to a whole genome.

It reads the call-elements rows of bench_scale.py's JSON (each stage there runs in a fresh
process); ``--run WORK_DIR`` (repeatable) also runs call-elements again, in a fresh process, on
a work directory that ``bench_scale.py --keep`` left (its dataset and trained run), and saves
those rows beside the report as JSON.

    python benchmarks/bench_call_memory.py --from benchmarks/results/bench_scale.json
    python benchmarks/bench_call_memory.py --run /tmp/seq2exp_bench_scale/genes_500 --run ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from scale_report import RSS_BOUND_GIB, fit_line  # noqa: E402

STAGE = "call-elements"


def rows_from_json(path: Path) -> list[dict]:
    saved = json.loads(path.read_text())
    out = []
    for n, stages in sorted(saved["rows"].items(), key=lambda kv: int(kv[0])):
        r = stages.get(STAGE)
        if r is None or "error" in r:
            continue
        out.append({"genes": stages["simulate"]["genes"], "stored_mb": stages["prepare"]["stored_bp"] / 1e6,
                    "window": saved["window"], **r})
    return out


def rows_from_runs(work_dirs: list[Path], threads: int) -> list[dict]:
    """call-elements again on each kept bench_scale work directory, each in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = []
    for work in work_dirs:
        sim = json.loads((work / "inputs" / "simulation.json").read_text())
        window = int(sim["window"])
        genes = int(sim["counts"]["genes"])
        cmd = [sys.executable, str(HERE / "bench_scale.py"), "--threads", str(threads), "--child", STAGE,
               str(work), str(genes), str(window)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        stored = json.loads((work / "dataset" / "manifest.json").read_text())["total_bp"] / 1e6
        out.append({"genes": genes, "stored_mb": stored, "window": window, **r})
        print(f"{genes} genes: {r}", file=sys.stderr, flush=True)
    return out


def table(rows: list[dict]) -> list[str]:
    lines = ["| genes | window bp | stored Mb | peak RSS GiB | heap GiB | mapped GiB | peak RSS MiB per gene | "
             "heap MiB per gene | CPU s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        heap = r.get("peak_rss_anon_gib", float("nan"))
        lines.append(f"| {r['genes']} | {r['window']:,} | {r['stored_mb']:.1f} | {r['peak_rss_gib']:.3f} | "
                     f"{heap:.3f} | {r.get('peak_rss_file_gib', float('nan')):.3f} | "
                     f"{1024 * r['peak_rss_gib'] / r['genes']:.3f} | {1024 * heap / r['genes']:.3f} | {r['cpu_s']:.0f} |")
    return lines


def fits(rows: list[dict], target_genes: int, genome_mb: float) -> list[str]:
    """Straight-line fits of peak RSS and heap, extrapolated, and the verdict."""
    genes = [float(r["genes"]) for r in rows]
    stored = [r["stored_mb"] for r in rows]
    lines = ["", "Straight-line fits through these points (extrapolations, not measurements):", ""]
    for key, label in (("peak_rss_gib", "peak RSS"), ("peak_rss_anon_gib", "heap")):
        if not all(key in r for r in rows):
            continue
        ys = [r[key] for r in rows]
        c, d = fit_line(genes, ys)
        cm, dm = fit_line(stored, ys)
        lines.append(f"- {label}: {c:.3f} + {1000 * d:.4f} GiB per 1,000 genes -> {c + d * target_genes:.2f} GiB "
                     f"at {target_genes:,} genes; per stored Mb {1000 * dm:.3f} MiB -> "
                     f"{cm + dm * genome_mb:.2f} GiB at {genome_mb:,.0f} stored Mb.")
    peak = [r["peak_rss_gib"] for r in rows]
    c, d = fit_line(genes, peak)
    cm, dm = fit_line(stored, peak)
    worst = max(c + d * target_genes, cm + dm * genome_mb, max(peak))
    per_gene = [1024 * p / g for p, g in zip(peak, genes)]
    lines += ["", f"Verdict: peak RSS goes from {min(peak):.2f} to {max(peak):.2f} GiB ({max(peak) / min(peak):.2f}x) "
              f"while genes grow {genes[-1] / genes[0]:.0f}x; per gene it falls from {per_gene[0]:.3f} to "
              f"{per_gene[-1]:.3f} MiB. {'Bounded' if worst <= RSS_BOUND_GIB else 'NOT bounded'} by 4 GB "
              f"at a whole genome on the fits ({worst:.2f} GiB, the larger of the two extrapolations)."]
    return lines


def report(sets: list[tuple[str, list[dict]]], command: str, target_genes: int, genome_mb: float) -> str:
    """``sets``: (label, rows) per source, each with its table, fits and verdict."""
    lines = ["# bench_call_memory: call-elements peak memory against the number of genes", "",
             f"`{command}`. Each call-elements ran in a fresh process on one thread with its defaults "
             "(contribution score, top 5%, 2 sequence-null shuffles); peak RSS from getrusage, heap (RssAnon) "
             "and mapped-file pages (RssFile: the dataset's memory-mapped arrays, which the kernel can drop) "
             "sampled every 50 ms."]
    for label, rows in sets:
        lines += ["", f"## {label}", ""] + table(rows)
        if len(rows) >= 2:
            lines += fits(rows, target_genes, genome_mb)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, default=HERE / "results" / "bench_scale.json",
                        help="bench_scale.py's JSON (its call-elements rows; skipped when the file is missing)")
    parser.add_argument("--run", type=Path, action="append", default=[], help="a kept bench_scale work dir")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--target-genes", type=int, default=20_000)
    parser.add_argument("--genome-mb", type=float, default=1750.0)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "bench_call_memory.md")
    args = parser.parse_args()
    sets = []
    if args.source.is_file():
        sets.append((f"call-elements rows of `{args.source.name}`", rows_from_json(args.source)))
    if args.run:
        rerun = rows_from_runs(args.run, args.threads)
        args.output.with_suffix(".json").write_text(json.dumps(rerun, indent=1) + "\n")
        sets.append(("call-elements re-run on the kept work directories (" + ", ".join(map(str, args.run)) + ")",
                     rerun))
    text = report(sets, "python benchmarks/bench_call_memory.py " + " ".join(sys.argv[1:]), args.target_genes,
                  args.genome_mb)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
