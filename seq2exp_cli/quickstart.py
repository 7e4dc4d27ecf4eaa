"""``quickstart``: the whole pipeline on simulated data with a known truth, in minutes on a CPU.

simulate -> prepare -> train (CPU recipe per scale) -> predict -> call-elements -> evaluate
against the planted elements, side by side with a DNase-threshold caller at equal sparsity
and, when ``macs3`` is on the PATH, ``macs3 callpeak`` on the simulated DNase reads.
Everything is written under one output directory; the result table is returned (and saved
as ``summary.md`` / ``summary.json``).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seq2exp_cli.errors import InputError
from seq2exp_cli.presets import LENGTH_KEYS, preset_values

log = logging.getLogger(__name__)

#: the ``cpu`` preset's model and optimiser settings (its epoch rule and patience aside: the
#: quickstart trains a fixed number of steps)
_CPU_RECIPE: dict[str, Any] = {k: v for k, v in preset_values("cpu").items()
                               if k not in (*LENGTH_KEYS, "patience", "min_lr")}
#: CPU training recipes: the ``cpu`` preset at the simulation's scale (tiny: about a minute for
#: the whole quickstart; small: a few minutes of training). No motif database is given (the
#: simulator's own would be the answer's vocabulary): the preset's de novo motifs come from the
#: simulated DNase alone ("motifs": "denovo"; None, "noisy" or "exact" in benchmarks).
RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {**_CPU_RECIPE, "resolution": 100, "max_steps": 150, "eval_every": 50},
    "small": {**_CPU_RECIPE, "max_steps": 600, "eval_every": 100},
    "medium": {**_CPU_RECIPE, "max_steps": 1000, "eval_every": 200},
}
#: the recipe keys that are ModelConfig fields (the rest are training settings; "motifs" names the
#: motif source: None, "denovo", or a database of the simulation, "noisy" or "exact")
RECIPE_MODEL_KEYS = ("resolution", "d_model", "n_layers", "d_state", "expand", "stem_pool", "readout",
                     "bin_head_stem", "stem", "kmer_size", "kmer_l1", "stem_neighbors")
#: elements are the top 5% of scored bases: a trained bottleneck pulls every score towards its
#: marginal mean (mu = 0.1), so a fixed cutoff such as 0.5 can leave nothing
TOP_FRACTION = 0.05
MIN_LENGTH = 100
MAX_GAP = 30


@dataclass
class QuickstartResult:
    """Paths and numbers of one quickstart run."""

    out: Path
    expression: dict[str, float]
    elements: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_quickstart(
    out: Path, scale: str = "small", seed: int = 1, device: str = "auto", force: bool = False,
    overrides: dict[str, Any] | None = None,
) -> QuickstartResult:
    """Run the whole pipeline into ``out``; see the module docstring."""
    from seq2exp_cli.io.atomic import check_output_free

    if scale not in RECIPES:
        raise InputError(f"--scale {scale!r}: the quickstart runs tiny or small (full is for bench_accuracy.py)")
    check_output_free(out, force)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    recipe = {**RECIPES[scale], **(overrides or {})}
    seconds: dict[str, float] = {}
    files: dict[str, Path] = {}

    def timed(stage: str):
        return _Stage(stage, seconds)

    with timed("simulate"):
        from seq2exp_cli.simulate import simulate

        sim = in_fresh_process(simulate, out / "inputs", seed=seed, scale=scale)
    inputs = out / "inputs"
    manifest = json.loads((inputs / "simulation.json").read_text())
    with timed("prepare"):
        dataset = in_fresh_process(prepare_simulated, inputs, manifest, out / "dataset")
    with timed("train"):
        train_simulated(dataset, out / "model", recipe, seed, device, variant=recipe["variant"],
                        motifs=motif_file(inputs, manifest, recipe.get("motifs")))
    with timed("predict"):
        expression = predict_test(out / "model", dataset, out / "predictions.tsv", device)
    with timed("call-elements"):
        files.update(call_simulated(out / "model", dataset, out / "elements.narrowPeak", device))
        methods = {f"seq2exp ({recipe['variant']})": files}
        if recipe.get("readout") in ("additive", "factorized") and recipe["variant"] in ("soft", "hard"):
            # the default score is each bin's share of the gene's input; the bottleneck's own mask
            # is the paper's element score, so the table shows both
            methods[f"seq2exp ({recipe['variant']}), bottleneck mask"] = call_simulated(
                out / "model", dataset, out / "elements_mask.narrowPeak", device, score="mask")
    with timed("evaluate"):
        table = evaluate_simulated(inputs, manifest, methods, out, chroms=held_out_chroms(manifest))
    files["locus_plot"] = _locus_plot(out, dataset, inputs, files, device)
    result = QuickstartResult(out, expression, table, files, seconds)
    write_summary(result, sim)
    return result


def in_fresh_process(function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` in a new (spawned) process; its result or exception comes back.

    Why: importing hictkpy (to write or read Hi-C) starts a thread that keeps one core busy for
    the rest of the process (hictkpy 1.4.0, measured with /proc: 100% of a core with nothing to
    do), which made the quickstart's training 2x slower on 2 cores. Its Hi-C steps run apart."""
    import concurrent.futures
    import multiprocessing

    from seq2exp_cli import cpu_allocator

    level = logging.getLogger("seq2exp_cli").getEffectiveLevel()
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_call_with_logging, level, cpu_allocator.allowed(), function, args, kwargs).result()


def _call_with_logging(level: int, allocator: bool, function: Any, args: tuple, kwargs: dict) -> Any:
    from seq2exp_cli import cpu_allocator
    from seq2exp_cli.logs import configure_logging

    cpu_allocator.allow(allocator)
    configure_logging(verbose=int(level <= logging.DEBUG), quiet=level >= logging.WARNING)
    return function(*args, **kwargs)


class _Stage:
    def __init__(self, name: str, seconds: dict[str, float]) -> None:
        self.name, self.seconds = name, seconds

    def __enter__(self) -> None:
        log.info("quickstart: %s ...", self.name)
        self.t0 = time.time()

    def __exit__(self, *exc: object) -> None:
        self.seconds[self.name] = round(time.time() - self.t0, 1)


def prepare_simulated(inputs: Path, manifest: dict, out: Path) -> Path:
    """``seq2exp prepare`` on simulated inputs with the simulation's window and split."""
    from seq2exp_cli.prepare import PrepareOptions, prepare_dataset

    files = manifest["files"]
    split = manifest["split"]
    return prepare_dataset(PrepareOptions(
        fasta=inputs / files["fasta"], genes=inputs / files["genes_gtf"], output=out,
        expression=inputs / files["expression"],
        tracks=[("dnase", inputs / files["dnase"]), ("h3k27ac", inputs / files["h3k27ac"])],
        hic=inputs / files["hic_cool"], hic_resolution=int(manifest["hic_resolution"]),
        blacklist=inputs / files["blacklist"], window=int(manifest["window"]),
        split_mode="chroms", test_chroms=split["test"], valid_chroms=split["valid"],
        command="seq2exp quickstart (prepare)",
    ))


def train_simulated(
    dataset_dir: Path, run_dir: Path, recipe: dict[str, Any], seed: int, device: str, variant: str = "soft",
    motifs: Path | str | None = None,
) -> None:
    """Train ``variant`` (soft by default) with the scale's CPU recipe; ``motifs`` (a MEME file,
    or ``denovo``) seeds the stem's motif detectors."""
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.train_config import TrainConfig
    from seq2exp_cli.train_run import prepare_run_dir
    from seq2exp_cli.training import fit

    data = PreparedDataset(dataset_dir)
    model_config = ModelConfig.for_data(
        data.data_config(), variant, **{k: v for k, v in recipe.items() if k in RECIPE_MODEL_KEYS})
    model_factory = None
    if motifs is not None:
        from seq2exp_cli.model.motif_init import motif_seeding

        # as train --motifs does: de novo, or the file's motifs enriched in accessible bases
        _, _, model_factory = motif_seeding(str(motifs), data, model_config)
    train_config = TrainConfig(
        lr=recipe["lr"], min_lr=recipe["lr"] / 10, max_steps=recipe["max_steps"], batch_size=recipe["batch_size"],
        eval_every=recipe["eval_every"], checkpoint_every=recipe["eval_every"], seed=seed, device=device,
        warmup_steps=recipe["max_steps"] // 10,
    )
    prepare_run_dir(run_dir, force=True, resume=False)
    from seq2exp_cli import cpu_allocator

    cpu_allocator.allow()  # the recipes' CPU step times assume it (see cpu_allocator)
    fit(data, run_dir, model_config, train_config, command=["seq2exp", "quickstart", f"(train {variant})"],
        model_factory=model_factory)


def motif_file(inputs: Path, manifest: dict, condition: str | None) -> Path | str | None:
    """The motif source of a motif condition: None (no database), "denovo" (motifs discovered in
    the data, no database), "noisy" (the grammar hidden among never-planted PWMs) or "exact" (the
    grammar alone; an upper bound)."""
    if not condition or condition == "none":
        return None
    if condition == "denovo":
        return "denovo"
    key = {"noisy": "motifs_noisy", "exact": "motifs_exact"}.get(condition)
    if key is None or key not in manifest["files"]:
        raise InputError(f"motif condition {condition!r}: use none, denovo, noisy or exact (simulation files: "
                         f"{sorted(manifest['files'])})")
    return inputs / manifest["files"][key]


def predict_test(run_dir: Path, dataset_dir: Path, out: Path, device: str) -> dict[str, float]:
    """Predict the held-out chromosomes; returns their metrics and writes the TSV."""
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.inference import load_model, predict
    from seq2exp_cli.io.atomic import atomic_path
    from seq2exp_cli.metrics import regression_metrics

    data = PreparedDataset(dataset_dir)
    model, _ = load_model(run_dir, device)
    frame = predict(model, data, data.indices("test"), device=device)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    labelled = frame.dropna(subset=["target"])
    return regression_metrics(labelled["target"].to_numpy(), labelled["predicted"].to_numpy())


def simulated_call_settings(out: Path) -> tuple[Any, dict[str, Path]]:
    """The quickstart's call-elements settings for ``-o out`` and every file they write."""
    from seq2exp_cli.elements.settings import CallSettings, output_paths

    settings = CallSettings(top_fraction=TOP_FRACTION, min_length=MIN_LENGTH, max_gap=MAX_GAP,
                            bigwig=out.with_suffix(".score.bw"))
    return settings, output_paths(out, settings, links=True)


def call_simulated(run_dir: Path, dataset_dir: Path, out: Path, device: str, score: str = "auto") -> dict[str, Path]:
    """call-elements (``score``: auto, mask or contribution) on every gene's window; also writes
    the per-bp score as a bigWig."""
    from seq2exp_cli.elements.from_model import call_elements_from_model

    settings, paths = simulated_call_settings(out)
    call_elements_from_model(run_dir, dataset_dir, paths, settings, device=device, score=score)
    return paths


def dnase_threshold_calls(dnase_bw: Path, target_bp: int) -> pd.DataFrame:
    """Regions of the DNase track above the cutoff whose above-cutoff bases total ``target_bp``
    (equal sparsity with the method it is compared to), called like call-elements."""
    from seq2exp_cli.elements import call_regions, track_from_file
    from seq2exp_cli.io.bigwig import BigWigTrack

    track = track_from_file(dnase_bw, bigwig=True)
    reader = BigWigTrack(dnase_bw)
    values = np.concatenate([reader.read(c, 0, s) for c, s in reader.chrom_sizes.items()])
    reader.close()
    positive = np.sort(values[values > 0])[::-1]
    if len(positive) == 0:
        return pd.DataFrame(columns=["chrom", "start", "end"])
    cutoff = float(positive[min(max(target_bp, 1), len(positive)) - 1])
    return call_regions(track, cutoff, min_length=MIN_LENGTH, max_gap=MAX_GAP)


def macs3_peaks(reads_bed: Path, genome_size: int, workdir: Path) -> pd.DataFrame | None:
    """``macs3 callpeak`` on the simulated DNase reads, when macs3 is installed; else None."""
    if shutil.which("macs3") is None:
        log.info("macs3 not on PATH: the MACS3 row is skipped (pip install 'seq2exp[peers]')")
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    command = ["macs3", "callpeak", "-t", str(reads_bed), "-f", "BED", "-g", str(genome_size), "-n", "macs3",
               "--outdir", str(workdir), "--nomodel", "--shift", "-75", "--extsize", "150", "--keep-dup", "all",
               "-q", "0.01"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        log.warning("macs3 callpeak failed (exit %d); MACS3 row skipped: %s", done.returncode,
                    done.stderr.strip().splitlines()[-1:] or "")
        return None
    peaks = pd.read_csv(workdir / "macs3_peaks.narrowPeak", sep="\t", header=None, dtype={0: str})
    return peaks.iloc[:, [0, 1, 2, 8]].set_axis(["chrom", "start", "end", "score"], axis=1)


def _interval_reader(table: pd.DataFrame):
    """A score reader over intervals with a score column (max over overlapping intervals)."""
    by_chrom = {c: g.sort_values("start") for c, g in table.groupby("chrom")}

    def read(chrom: str, start: int, end: int) -> np.ndarray:
        group = by_chrom.get(chrom)
        if group is None:
            return np.zeros(1)
        hit = group[(group["end"] > start) & (group["start"] < end)]
        return hit["score"].to_numpy(np.float64) if len(hit) else np.zeros(1)

    return read


def simulated_truth(inputs: Path, manifest: dict, chroms: list[str] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Planted candidates (chrom, start, end, class: every class of truth_candidates.bed, or
    functional/decoy from truth_elements.bed in older simulations) and promoters (chrom, start,
    end), on ``chroms`` only when given."""
    names = manifest["files"]
    if "truth_candidates" in names:
        truth = pd.read_csv(inputs / names["truth_candidates"], sep="\t", header=None, dtype={0: str})
    else:
        truth = pd.read_csv(inputs / names["truth_elements"], sep="\t", header=None, dtype={0: str})
    elements = truth.iloc[:, [0, 1, 2, 6]].set_axis(["chrom", "start", "end", "class"], axis=1)
    promoters = pd.read_csv(inputs / names["truth_promoters"], sep="\t", header=None, dtype={0: str})
    promoters = promoters.iloc[:, :3].set_axis(["chrom", "start", "end"], axis=1)
    if chroms is not None:
        elements = elements[elements["chrom"].isin(chroms)].reset_index(drop=True)
        promoters = promoters[promoters["chrom"].isin(chroms)].reset_index(drop=True)
    return elements, promoters


def held_out_chroms(manifest: dict) -> list[str]:
    """The simulation's test chromosomes: no gene on them was trained on or used for selection."""
    return list(manifest["split"]["test"])


def peer_results(inputs: Path, manifest: dict, target_bp: int, out: Path, chroms: list[str] | None = None) -> list:
    """The peak-caller rows: a DNase threshold at ``target_bp`` distal base pairs (genome-wide)
    and, when installed, ``macs3 callpeak`` on the simulated DNase reads."""
    from seq2exp_cli.evaluation import evaluate_method
    from seq2exp_cli.io.bigwig import BigWigTrack

    names = manifest["files"]
    elements, promoters = simulated_truth(inputs, manifest, chroms)
    results = []
    dnase_calls = dnase_threshold_calls(inputs / names["dnase"], max(target_bp, 1))
    with BigWigTrack(inputs / names["dnase"]) as dnase:
        results.append(evaluate_method("DNase threshold, equal bp", elements, dnase.read, _on(dnase_calls, chroms),
                                       promoters))
    genome_size = int(sum(manifest["chrom_sizes"].values()))
    peaks = macs3_peaks(inputs / names["dnase_reads"], genome_size, out / "macs3")
    if peaks is not None:
        results.append(evaluate_method("MACS3 callpeak (DNase reads)", elements, _interval_reader(peaks),
                                       _on(peaks, chroms), promoters))
    return results


def _on(calls: pd.DataFrame, chroms: list[str] | None) -> pd.DataFrame:
    return calls if chroms is None else calls[calls["chrom"].isin(chroms)].reset_index(drop=True)


def distal_bp(narrowpeak: Path, inputs: Path, manifest: dict) -> int:
    """Base pairs of a call set outside planted promoters, genome-wide (the equal-budget target)."""
    from seq2exp_cli.evaluation import overlaps
    from seq2exp_cli.io.intervals import read_bed_intervals

    _, promoters = simulated_truth(inputs, manifest)
    calls = read_bed_intervals(narrowpeak)
    distal = calls[~overlaps(calls, promoters)] if len(calls) else calls
    return int((distal["end"] - distal["start"]).sum()) or 1


def evaluate_simulated(
    inputs: Path, manifest: dict, methods: dict[str, dict[str, Path]], out: Path,
    chroms: list[str] | None = None, peers: list | None = None,
) -> pd.DataFrame:
    """Compare model call sets (``{name: call-elements paths}``) with a DNase threshold at the
    first method's number of distal base pairs and, when installed, MACS3, against the truth
    (on ``chroms`` only when given; ``peers`` reuses :func:`peer_results` rows)."""
    from seq2exp_cli.evaluation import comparison_table, evaluate_method
    from seq2exp_cli.io.bigwig import BigWigTrack
    from seq2exp_cli.io.intervals import read_bed_intervals

    elements, promoters = simulated_truth(inputs, manifest, chroms)
    results = []
    for name, files in methods.items():
        calls = _on(read_bed_intervals(files["narrowPeak"]), chroms)
        with BigWigTrack(files["bigwig"]) as track:
            results.append(evaluate_method(name, elements, track.read, calls, promoters))
    if peers is None:
        first = next(iter(methods.values()))["narrowPeak"]
        peers = peer_results(inputs, manifest, distal_bp(first, inputs, manifest), out, chroms)
    results += peers
    # precision of every method's ranking at the recall the peak caller's calls reach
    reference = results[-1].calls["recall"] if results[-1].calls else 0.5
    return comparison_table(results, elements, recall=max(reference, 0.05))


def _locus_plot(out: Path, dataset_dir: Path, inputs: Path, files: dict[str, Path], device: str) -> Path | None:
    """A locus plot of the held-out gene with the strongest planted functional element."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log.info("matplotlib not installed: no locus plot (pip install 'seq2exp[plot]')")
        return None
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.inference import default_score, extract_masks, load_model
    from seq2exp_cli.io.intervals import read_bed_intervals
    from seq2exp_cli.plot import SCORE_LABELS, plot_locus, read_truth

    data = PreparedDataset(dataset_dir)
    links = pd.read_csv(inputs / "truth_links.tsv", sep="\t")
    test_genes = set(data.genes.loc[data.indices("test"), "gene_id"])
    candidates = links[links["gene_id"].isin(test_genes) & (links["effect"] > 0)]
    gene = candidates.sort_values("effect").iloc[-1]["gene_id"] if len(candidates) else data.genes.at[0, "gene_id"]
    index = int(np.flatnonzero((data.genes["gene_id"] == gene).to_numpy())[0])
    model, _ = load_model(out / "model", device)
    score = default_score(model)
    mask = next(iter(extract_masks(model, data, [index], device=device, batch_size=1, score=score))).scores
    return plot_locus(data, index, out / "locus.png", mask=mask, elements=read_bed_intervals(files["narrowPeak"]),
                      truth=read_truth(inputs / "truth_elements.bed"), title=f"{gene} (held-out chromosome)",
                      score_label=SCORE_LABELS[score])


def format_table(result: QuickstartResult) -> str:
    """The one table a newcomer reads: expression on held-out chromosomes, then elements."""
    e = result.expression
    lines = [
        f"Held-out expression ({int(e.get('n', 0))} test genes): Pearson {e.get('pearson', float('nan')):.3f}, "
        f"Spearman {e.get('spearman', float('nan')):.3f}, MSE {e.get('mse', float('nan')):.3f}",
        "",
    ]
    lines += element_table_lines(result.elements)
    lines += ["", "Elements on the held-out chromosomes. Calls overlapping planted promoters are set aside for",
              "every method. AUPRC ranks functional elements against signal-matched decoys (chance 0.5);",
              "candidate AUPRC against every other planted candidate (chance in brackets)."]
    return "\n".join(lines)


def element_table_lines(table: pd.DataFrame) -> list[str]:
    """Markdown rows of an evaluate_simulated table."""
    recall_columns = [c for c in table.columns if c.startswith("precision_at_recall_")]
    header = ["method", "calls", "precision", "recall", "decoys called", "AUPRC", "candidate AUPRC"]
    header += [f"precision @ recall {c[-4:]}" for c in recall_columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for v in table.to_dict(orient="records"):
        calls = int(v["calls"]) if np.isfinite(v["calls"]) else "-"
        cells = [v["method"], calls, f"{v['call_precision']:.3f}", f"{v['call_recall']:.3f}",
                 f"{v['decoys_called']:.2f}", f"{v['auprc']:.3f}",
                 f"{v['candidate_auprc']:.3f} ({v['candidate_chance']:.2f})"]
        cells += [f"{v[c]:.3f}" for c in recall_columns]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def write_summary(result: QuickstartResult, sim: dict | None = None) -> None:
    """summary.md (the table, files, timings) and summary.json beside the outputs."""
    text = format_table(result)
    files = "\n".join(f"- {k}: {v}" for k, v in result.files.items() if v is not None)
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
    (result.out / "summary.md").write_text(f"# seq2exp quickstart\n\n{text}\n\nFiles:\n{files}\n\nTimings: {timings}\n")
    record = {
        "expression": result.expression,
        "elements": result.elements.to_dict(orient="records"),
        "files": {k: str(v) for k, v in result.files.items() if v is not None},
        "seconds": result.seconds,
    }
    (result.out / "summary.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
