"""The tables, fits and projections of bench_scale.py, from its saved JSON.

Kept apart from bench_scale.py so that a report can be rewritten (``--from-json``) without
re-running anything. Every projection is labelled as such; the GPU line rests on an assumed
step time, never on a measurement made here.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

STAGES = ("simulate", "prepare", "train 1 epoch", "predict", "call-elements")
PIPELINE = STAGES[1:]  # what a user runs (simulate stands in for their own files)
#: stages whose peak memory the targets bound (prepare and call-elements <= 4 GB)
BOUNDED = ("prepare", "call-elements")
RSS_BOUND_GIB = 4.0 * 1e9 / 2**30  # "4 GB"
#: "linear": the last step's cost per added gene at most this multiple of the fitted slope b,
#: and the largest size's cost per gene at most this multiple of the smallest per-gene cost
LINEAR_SLACK = 1.2


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (intercept, slope); the slope alone through the origin for one point."""
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def exponent(xs: list[float], ys: list[float]) -> float:
    """k of the least-squares fit log y = c + k log x (1 = linear); NaN for one point."""
    if len(xs) < 2:
        return math.nan
    return fit_line([math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys])[1]


def complete(rows: dict[int, dict[str, dict]]) -> dict[int, dict[str, dict]]:
    """The sizes whose every stage finished."""
    return {n: r for n, r in sorted(rows.items()) if all(s in r and "error" not in r[s] for s in STAGES)}


def measured_table(rows: dict[int, dict[str, dict]]) -> list[str]:
    lines = ["| genes | stored Mb | store MB | stage | CPU s | wall s | CPU s per gene | peak RSS GiB | "
             "of which heap (RssAnon) | mapped files (RssFile) | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, stages in sorted(rows.items()):
        prep = stages.get("prepare", {})
        stored, store = prep.get("stored_bp", 0) / 1e6, prep.get("store_bytes", 0) / 1e6
        genes = stages.get("simulate", {}).get("genes", n)
        for stage in STAGES:
            r = stages.get(stage)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {genes} | | | {stage} | failed: {r['error']} | | | | | | |")
                continue
            extra = f" ({r['steps']} steps + 1 validation)" if "steps" in r else ""
            load = r.get("load_1min", [math.nan, math.nan])
            lines.append(
                f"| {genes} | {stored:.1f} | {store:.0f} | {stage}{extra} | {r['cpu_s']:.1f} | {r['wall_s']:.0f} | "
                f"{r['cpu_s'] / genes:.4f} | {r['peak_rss_gib']:.2f} | {r.get('peak_rss_anon_gib', math.nan):.2f} | "
                f"{r.get('peak_rss_file_gib', math.nan):.2f} | {load[0]:.1f}-{load[1]:.1f} |")
    return lines


def stage_fits(done: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """Per stage: CPU fit against genes and stored Mb, log-log exponent, memory fit."""
    genes = [float(r["simulate"]["genes"]) for r in done.values()]
    stored = [r["prepare"]["stored_bp"] / 1e6 for r in done.values()]
    fits = {}
    for stage in PIPELINE:
        cpu = [r[stage]["cpu_s"] for r in done.values()]
        rss = [r[stage]["peak_rss_gib"] for r in done.values()]
        anon = [r[stage].get("peak_rss_anon_gib", math.nan) for r in done.values()]
        a, b = fit_line(genes, cpu)
        a_mb, b_mb = fit_line(stored, cpu)
        ra, rb = fit_line(genes, rss)
        # the marginal cost of the last (largest) step in genes: above b, the cost curves upwards
        last = (cpu[-1] - cpu[-2]) / (genes[-1] - genes[-2])
        residual = max(abs(c - (a + b * g)) / c for c, g in zip(cpu, genes))
        fits[stage] = {"a": a, "b": b, "a_mb": a_mb, "b_mb": b_mb, "k": exponent(genes, cpu), "last": last,
                       "residual": residual,
                       "per_gene": [c / g for c, g in zip(cpu, genes)], "rss": rss, "anon": anon,
                       "rss_a": ra, "rss_b": rb, "genes": genes, "stored": stored}
    return fits


def fits_table(fits: dict[str, dict]) -> list[str]:
    lines = ["| stage | CPU s = a + b x genes | largest residual | CPU s per added gene, last step | "
             "exponent k (CPU ~ genes^k) | CPU s per gene, smallest -> largest | "
             "CPU s per stored Mb (slope) | peak RSS GiB, smallest -> largest | RSS slope, GiB per 1,000 genes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for stage, f in fits.items():
        lines.append(f"| {stage} | {f['a']:.1f} + {f['b']:.4f} x genes | {f['residual']:.0%} | {f['last']:.4f} | "
                     f"{f['k']:.3f} | "
                     f"{f['per_gene'][0]:.4f} -> {f['per_gene'][-1]:.4f} | {f['b_mb']:.2f} | "
                     f"{f['rss'][0]:.2f} -> {f['rss'][-1]:.2f} | {1000 * f['rss_b']:+.3f} |")
    return lines


def train_epochs(n_train: int, global_batch: int) -> int:
    """Epochs the cpu preset's length rule gives ``n_train`` train genes."""
    from seq2exp_cli.presets import sized_length, split_preset

    return sized_length(split_preset("cpu").length, n_train, global_batch)["epochs"]


def projection(p: dict, done: dict[int, dict[str, dict]], fits: dict[str, dict]) -> tuple[list[str], dict]:
    """CPU hours at ``p['target_genes']`` genes and ``p['genome_mb']`` stored Mb, 2 cores and a GPU.

    ``p``: target_genes, genome_mb, window_factor (CPU per gene at the real window / at the
    measured window, per stage), cores, gpu_step_s, gpu_steps."""
    target = p["target_genes"]
    largest = list(done.values())[-1]
    train = largest["train 1 epoch"]
    share = train["n_train"] / largest["simulate"]["genes"]
    n_train = round(share * target)
    epochs = train_epochs(n_train, train["global_batch"])
    steps = epochs * math.ceil(n_train / train["global_batch"])
    out, hours = [], {}
    for stage, f in fits.items():
        factor = p["window_factor"].get(stage, 1.0)
        per_gene_h = (f["a"] + f["b"] * target) / 3600 * factor
        per_mb_h = (f["a_mb"] + f["b_mb"] * p["genome_mb"]) / 3600 * factor
        # prepare and call-elements read and write every stored base; training and predict
        # cost one window per gene whatever the density
        if stage in BOUNDED:
            h = max(per_gene_h, per_mb_h)
            basis = "max(per gene, per stored Mb)"
        else:
            h = per_gene_h
            basis = "per gene"
        if stage.startswith("train"):
            h *= epochs
        hours[stage] = h
        label = f"train ({epochs} epochs, {steps:,} steps)" if stage.startswith("train") else stage
        out.append(f"| {label} | {basis} | x{factor:.2f} | {h:.2f} | {h / p['cores']:.2f} - {h:.2f} |")
    total = sum(hours.values())
    out.append(f"| whole pipeline (prepare -> call-elements) | | | {total:.2f} | {total / p['cores']:.2f} - {total:.2f} |")
    head = [f"| stage at {target:,} genes, {p['genome_mb']:,.0f} stored Mb | basis | window factor | CPU h | "
            f"wall h on {p['cores']} cores (all cores busy - one core busy) |", "|---|---|---|---|---|"]
    info = {"hours": hours, "total": total, "epochs": epochs, "steps": steps, "n_train": n_train}
    return head + out, info


def verdicts(p: dict, fits: dict[str, dict], info: dict) -> list[str]:
    lines = []
    for stage, f in fits.items():
        # linear (or better) = a start-up cost plus at most a constant cost per gene: the last
        # step in genes costs no more per added gene than the line's slope, and the largest size
        # no more per gene than the smaller ones
        ok = f["last"] <= LINEAR_SLACK * f["b"] and f["per_gene"][-1] <= LINEAR_SLACK * min(f["per_gene"])
        lines.append(f"- **{stage} linear in genes**: {'met' if ok else 'NOT met'} (CPU s = {f['a']:.1f} + "
                     f"{f['b']:.4f} x genes, within {f['residual']:.0%} at every size; the last step, "
                     f"{f['genes'][-2]:.0f} -> {f['genes'][-1]:.0f} genes, costs {f['last']:.4f} s per added gene; "
                     f"CPU ~ genes^{f['k']:.2f}, below 1 from the fixed start-up cost).")
    for stage in BOUNDED:
        f = fits[stage]
        at_target = f["rss_a"] + f["rss_b"] * p["target_genes"]
        ok = max(f["rss"]) <= RSS_BOUND_GIB and at_target <= RSS_BOUND_GIB
        lines.append(f"- **{stage} peak RSS <= 4 GB, bounded**: {'met' if ok else 'NOT met'} (peak "
                     f"{f['rss'][0]:.2f} -> {f['rss'][-1]:.2f} GiB from {f['genes'][0]:.0f} to "
                     f"{f['genes'][-1]:.0f} genes; heap {f['anon'][0]:.2f} -> {f['anon'][-1]:.2f} GiB; "
                     f"the line through the points gives {at_target:.2f} GiB at {p['target_genes']:,} genes).")
    train_h = info["hours"]["train 1 epoch"]
    cores = p["cores"]
    lines.append(f"- **genome-wide training of the cpu preset <= 2 h wall on {cores} cores**: "
                 f"{'met' if train_h / cores <= 2 else 'NOT met'} if both cores are used fully "
                 f"({train_h:.2f} CPU h / {cores} = {train_h / cores:.2f} h); "
                 f"{'met' if train_h <= 2 else 'not met'} on one busy core ({train_h:.2f} h)"
                 + ("." if train_h <= 2 else f"; it needs a parallel efficiency of {train_h / (2 * cores):.0%} on "
                    f"{cores} threads, not measured here."))
    total = info["total"]
    lines.append(f"- **whole pipeline <= 8 h on a laptop** (taken as {cores} cores like these): "
                 f"{'met' if total <= 8 else ('met only with both cores busy' if total / cores <= 8 else 'NOT met')} "
                 f"({total:.2f} CPU h; {total / cores:.2f}-{total:.2f} h wall).")
    return lines


def gpu_lines(p: dict, info: dict) -> list[str]:
    steps, step_s = p["gpu_steps"], p["gpu_step_s"]
    return [f"- One GPU (ASSUMPTION, not measured here: {step_s} s per training step, the issue's target for the "
            f"paper-scale step on an H100; `benchmarks/gpu_check.sh` measures it): the `gpu` preset trains "
            f"about {steps:,} steps -> {steps * step_s / 3600:.1f} h of training. prepare stays on the CPU "
            f"({info['hours']['prepare']:.2f} CPU h above); predict and call-elements are forward passes whose GPU "
            "time is not measured here."]


def render(saved: dict, p: dict, reference: dict | None = None) -> str:
    """The whole markdown report of one bench_scale run (``saved``: its JSON)."""
    rows = {int(n): r for n, r in saved["rows"].items()}
    m = saved.get("machine", {})
    lines = ["# bench_scale: prepare, one training epoch, predict and call-elements from 500 genes up", "",
             f"`{saved['command']}` on {m.get('cpu', '?')} ({m.get('logical_cpus', '?')} logical CPUs shared with "
             f"other jobs, {m.get('mem_gib', '?')} GiB RAM), Python {m.get('python', '?')}, torch {m.get('torch', '?')}; "
             f"{saved['threads']} thread(s) per stage (OMP_NUM_THREADS and --threads); {saved['wall_s'] / 60:.0f} min wall.",
             "",
             f"Simulated genomes: the `small` scale's generative parameters on 2-Mb chromosomes with 64 genes each "
             f"(~32 genes per Mb; one tenth of the chromosomes valid, one tenth test), window {saved['window']:,} bp. "
             "Stages as a user runs them, each in a fresh process: `prepare` (tracks, Hi-C, blacklist, chromosome "
             "split), `train` with the default preset on a CPU (`cpu`) cut to `--epochs 1` (its one validation pass "
             "included), `predict --split all`, `call-elements` with its defaults (contribution score, top 5%, "
             "2 sequence-null shuffles). CPU s = user + system of the stage's process and its children "
             "(getrusage); peak RSS = getrusage's maximum; heap/mapped = peaks of RssAnon/RssFile sampled every 50 ms.",
             "", "## Measured", ""]
    lines += measured_table(rows)
    done = complete(rows)
    if len(done) < 2:
        return "\n".join(lines) + "\n"
    fits = stage_fits(done)
    lines += ["", f"## Fits over {len(done)} sizes ({', '.join(str(n) for n in done)} genes)", ""]
    lines += fits_table(fits)
    table, info = projection(p, done, fits)
    lines += ["", f"## Projection to {p['target_genes']:,} genes (extrapolated, not measured)", ""]
    if reference:
        lines += [reference["note"], ""]
    lines += table
    lines += ["", f"- Training: the cpu preset's length rule for {info['n_train']:,} train genes (the measured train "
              f"share) at global batch 16 gives {info['epochs']} epochs = {info['steps']:,} steps; each epoch costs "
              "what one measured epoch costs at that many genes (validation pass included)."]
    lines += gpu_lines(p, info)
    lines += ["", "## Verdicts", ""]
    lines += verdicts(p, fits, info)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python benchmarks/scale_report.py RESULT.json
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(render(json.loads(Path(sys.argv[1]).read_text()),
                 {"target_genes": 20_000, "genome_mb": 1750.0, "window_factor": {}, "cores": 2,
                  "gpu_step_s": 0.5, "gpu_steps": 50_000}))
