"""CPU-seconds per training step, this tree side by side with a baseline commit, in one process.

The baseline's package is extracted with ``git archive`` and imported under another name
(``seq2exp_cli_base``), so both versions build the same model from the same weights and take
alternating optimiser steps (forward, ``seq2exp_loss``, backward, clipping, AdamW with the
reference parameter groups) on the same batch: load on the machine hits both alike, and the
ratio is what is reported. CPU time is ``time.process_time`` (all threads of the process);
the first step of each is a warm-up and is not timed.

    python benchmarks/bench_train.py                        # recipe small, 200 kb, baseline 0e4f723
    python benchmarks/bench_train.py --profile              # + per-component profile of both
    python benchmarks/bench_train.py --device cuda --recipe paper --baseline none --output X.md

Inputs are random tensors of the real shapes (window 200 kb, dnase/h3k27ac/hic signals as
float16 like the store serves them, 2 features); ``--dataset DIR`` also times loading real
batches of that prepared dataset (its window must match). ``--rss-steps N`` runs N more steps
of this tree alone and reports the resident memory after each.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: model settings of each recipe (ModelConfig fields); "small" is quickstart.RECIPES["small"]
RECIPES = {
    "small": {"variant": "hard", "resolution": 200, "d_model": 48, "n_layers": 1, "d_state": 8, "expand": 1,
              "stem_pool": "max", "readout": "additive", "bin_head_stem": True},
    "paper": {"variant": "soft", "resolution": 1, "d_model": 128, "n_layers": 4},
}
DATA_CONFIG = {"signal_names": ["dnase", "h3k27ac", "hic"], "feature_names": ["promoter_dnase", "promoter_h3k27ac"],
               "hic_bin_size": 5000, "normalization": "log1p", "target_transform": "log10p1"}


def import_baseline(rev: str, workdir: Path) -> str:
    """Extract commit ``rev``'s package as ``seq2exp_cli_base`` under ``workdir``; return its name."""
    name = "seq2exp_cli_base"
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "seq2exp_cli"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(workdir, filter="data")
    (workdir / "seq2exp_cli").rename(workdir / name)
    for path in (workdir / name).rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\bseq2exp_cli\b", name, text))
    sys.path.insert(0, str(workdir))
    importlib.import_module(name)
    return name


class Trainer:
    """One code version's model, optimiser and step function on a fixed batch."""

    def __init__(self, package: str, config_kwargs: dict, batch: dict, device, state: dict | None = None):
        import torch

        config_mod = importlib.import_module(f"{package}.model.config")
        self.model_mod = importlib.import_module(f"{package}.model.seq2exp")
        self.losses = importlib.import_module(f"{package}.losses")
        training = importlib.import_module(f"{package}.training")
        try:
            devices = importlib.import_module(f"{package}.distributed")
        except ModuleNotFoundError:  # a checkout from before distributed.py
            devices = importlib.import_module(f"{package}.inference")
        self.config = config_mod.ModelConfig.for_data(**config_kwargs)
        torch.manual_seed(0)
        self.model = self.model_mod.Seq2Exp(self.config).to(device)
        if state is not None:
            self.model.load_state_dict(state)
        train = training.TrainConfig()
        self.grad_clip = train.grad_clip
        self.optimizer = torch.optim.AdamW(training.param_groups(self.model, train.weight_decay), lr=train.lr,
                                           betas=train.betas)
        self.autocast = lambda: devices.autocast(device)
        self.batch, self.device = batch, device
        self.model.train()

    def step(self) -> float:
        import torch

        b = self.batch
        with self.autocast():
            output = self.model(b["seq"], b["signals"], b["features"], b["blacklist"])
            loss, _ = self.losses.seq2exp_loss(output, b["target"].float(), self.config.kl_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())


def random_batch(batch: int, window: int, device, seed: int = 1) -> dict:
    """Inputs of the real shapes; signals float16 in a [B, S, L] buffer seen as [B, L, S], as collated."""
    import torch

    g = torch.Generator().manual_seed(seed)
    signals = torch.log1p(torch.rand(batch, 3, window, generator=g) * 5).half().transpose(1, 2)
    return {"seq": torch.randint(0, 5, (batch, window), generator=g, dtype=torch.uint8).to(device),
            "signals": signals.to(device), "features": torch.rand(batch, 2, generator=g).to(device),
            "blacklist": torch.zeros(batch, window, dtype=torch.bool).to(device),
            "target": torch.rand(batch, generator=g).to(device)}


def cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def rss_gib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def timed_steps(trainers: dict[str, Trainer], steps: int, device) -> dict[str, dict]:
    """Alternate steps of every trainer; per-step CPU (user, system) and wall seconds of each."""
    out = {name: {"cpu": [], "user": [], "sys": [], "wall": [], "loss": []} for name in trainers}
    for name, trainer in trainers.items():  # warm-up
        out[name]["first_loss"] = trainer.step()
    for _ in range(steps):
        for name, trainer in trainers.items():
            u0, s0 = cpu_seconds()
            w0 = time.perf_counter()
            out[name]["loss"].append(trainer.step())
            u1, s1 = cpu_seconds()
            rec = out[name]
            rec["wall"].append(time.perf_counter() - w0)
            rec["user"].append(u1 - u0)
            rec["sys"].append(s1 - s0)
            rec["cpu"].append(u1 - u0 + s1 - s0)
    return out


def timed(fn, repeats: int = 3) -> float:
    """Median CPU seconds of ``fn()`` after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        samples.append(time.process_time() - t0)
    return statistics.median(samples)


def profile_components(trainer: Trainer, repeats: int) -> dict[str, float]:
    """CPU seconds of forward + backward of each piece of a step, on the trainer's batch.

    Each piece starts from detached inputs, so backward stops at its boundary; the remainder
    (readout heads, loss, autograd bookkeeping) is the whole step minus the pieces."""
    import torch

    model, cfg, b = trainer.model, trainer.config, trainer.batch
    pool_bins = trainer.model_mod.pool_bins

    def backward(out: torch.Tensor) -> None:
        out.backward(torch.ones_like(out))

    with torch.no_grad():
        e_seq = model.stem.embed_seq(b["seq"])
        pooled = pool_bins(b["signals"].float(), cfg.resolution)
        hg = model.generator(e_seq) if model.generator is not None else None
        alpha, beta = model._beta_params(e_seq, model.stem.embed_signals(pooled), pooled)
        mask = model._sample_mask(alpha, beta)
    free = torch.ones_like(mask, dtype=torch.bool)
    x_in = (e_seq + model.stem.embed_signals(pooled)).detach()

    def mask_piece() -> None:
        h = hg.detach().requires_grad_()
        logits = model.mask_head(h)
        a = torch.nn.functional.softplus(logits[..., 1]) + cfg.beta_min
        bb = torch.nn.functional.softplus(logits[..., 0]) + cfg.beta_min
        m = model._sample_mask(a.clamp(min=cfg.min_concentration), bb.clamp(min=cfg.min_concentration))
        backward(m + model._kl(a, bb, free)[:, None])

    parts = {
        "stem: motif convolution + max over each bin (fwd + bwd)":
            lambda: backward(model.stem.embed_seq(b["seq"])),
        "signals: float16 -> float32, bin means, embedding (fwd + bwd)":
            lambda: backward(model.stem.embed_signals(pool_bins(b["signals"].float(), cfg.resolution))),
        "generator Mamba stack (fwd + bwd)":
            lambda: backward(model.generator(e_seq.detach().requires_grad_())),
        "mask: Beta parameters, rsample, KL (fwd + bwd)": mask_piece,
        "predictor Mamba stack (fwd + bwd)":
            lambda: backward(model.predictor(x_in.detach().requires_grad_(), input_scale=mask)),
        "optimiser: clipping + AdamW": lambda: (
            torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.grad_clip), trainer.optimizer.step()),
    }
    if model.generator is None:
        parts.pop("generator Mamba stack (fwd + bwd)")
        parts.pop("mask: Beta parameters, rsample, KL (fwd + bwd)")
    out = {name: timed(fn, repeats) for name, fn in parts.items()}
    trainer.optimizer.zero_grad(set_to_none=True)
    out["whole step"] = timed(trainer.step, repeats)
    out["remainder: readout heads, loss, autograd glue"] = out["whole step"] - sum(
        v for k, v in out.items() if k != "whole step")
    return out


def loading_seconds(dataset_dir: Path, batch: int, repeats: int) -> dict[str, float]:
    """CPU seconds to load one training batch of a prepared dataset through GeneWindows + collate."""
    import numpy as np

    from seq2exp_cli.dataset import GeneWindows, PreparedDataset, collate_windows

    data = PreparedDataset(dataset_dir)
    windows = GeneWindows(data, data.indices("train"))
    rng = np.random.default_rng(0)
    picks = [rng.choice(len(windows), batch, replace=False) for _ in range(repeats + 1)]
    it = iter(picks)
    seconds = timed(lambda: collate_windows([windows[int(k)] for k in next(it)]), repeats)
    return {"window": data.window, "load one batch": seconds}


def fit_child(dataset: Path, run_dir: Path, steps: int, motifs: Path | None) -> None:
    """Train the quickstart small recipe for ``steps`` with whatever seq2exp_cli is on the path;
    print CPU seconds, the resident memory sampled every 0.5 s, and the validation rows."""
    import threading

    import pandas as pd
    import torch

    from seq2exp_cli.quickstart import RECIPES as QUICKSTART, train_simulated

    torch.set_num_threads(1)
    recipe = {**QUICKSTART["small"], "max_steps": steps, "eval_every": max(1, steps // 5)}
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append(rss_gib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.process_time()
    train_simulated(dataset, run_dir, recipe, 1, "cpu", variant=recipe["variant"], motifs=motifs)
    cpu = time.process_time() - t0
    done.set()
    thread.join()
    metrics = pd.read_csv(run_dir / "metrics.tsv", sep="\t")
    import seq2exp_cli

    print(json.dumps({"cpu_s": cpu, "rss": samples, "steps": steps, "package": seq2exp_cli.__file__,
                      "metrics": metrics[["step", "train_loss", "val_mse", "val_pearson"]].to_dict("records")}))


def accuracy_runs(rev: str, dataset: Path, steps: int, motifs: Path | None) -> dict[str, dict]:
    """The same training run with the baseline tree and with this tree, one after the other."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        base_root = Path(tmp) / "baseline"
        base_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "seq2exp_cli"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(base_root, filter="data")
        for key, root in (("baseline", base_root), ("current", ROOT)):
            run_dir = Path(tmp) / f"run_{key}"
            cmd = [sys.executable, __file__, "--fit-child", str(dataset), str(run_dir), str(steps),
                   str(motifs) if motifs else ""]
            env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True,
                                  cwd=tmp)  # cwd: never import the checkout by accident
            out[key] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def accuracy_lines(rev: str, dataset: Path, runs: dict[str, dict]) -> list[str]:
    steps = runs["current"]["steps"]
    lines = ["", f"## Equal accuracy: the quickstart small recipe trained {steps} steps on `{dataset}`", "",
             f"Each version trains in its own process (`training.fit` through quickstart.train_simulated, "
             f"seed 1, 1 thread); validation every {max(1, steps // 5)} steps.", "",
             fmt_row(["step", "baseline val MSE", "current val MSE", "baseline val Pearson",
                      "current val Pearson", "baseline train loss", "current train loss"]),
             fmt_row(["---"] * 7)]
    for old, new in zip(runs["baseline"]["metrics"], runs["current"]["metrics"]):
        lines.append(fmt_row([new["step"], f"{old['val_mse']:.4f}", f"{new['val_mse']:.4f}",
                              f"{old['val_pearson']:.3f}", f"{new['val_pearson']:.3f}",
                              f"{old['train_loss']:.4f}", f"{new['train_loss']:.4f}"]))
    lines.append("")
    for key in ("baseline", "current"):
        r = runs[key]
        rss = r["rss"] or [float("nan")]
        third = max(1, len(rss) // 3)
        lines.append(f"- {key}: {r['cpu_s']:.1f} CPU s for the whole run ({r['cpu_s'] / steps:.3f} per step "
                     f"including validation); resident memory {min(rss):.2f}-{max(rss):.2f} GiB, mean of the "
                     f"first third {statistics.mean(rss[:third]):.2f}, of the last third "
                     f"{statistics.mean(rss[-third:]):.2f} GiB.")
    lines.append(f"- CPU seconds of the whole run, baseline / current: "
                 f"{runs['baseline']['cpu_s'] / runs['current']['cpu_s']:.2f}x.")
    return lines


def fmt_row(cells: list) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="small")
    parser.add_argument("--window", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each version")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--baseline", default="0e4f723", help="git revision to compare with, or 'none'")
    parser.add_argument("--profile", action="store_true", help="also time the pieces of a step (both versions)")
    parser.add_argument("--profile-output", type=Path, default=HERE / "results" / "profile_train_step.md")
    parser.add_argument("--dataset", type=Path, default=None, help="prepared dataset to time batch loading on")
    parser.add_argument("--rss-steps", type=int, default=0, help="extra steps of this tree alone, RSS after each")
    parser.add_argument("--output", type=Path, default=None, help="default results/bench_train_<device>.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    parser.add_argument("--accuracy-dataset", type=Path, default=None,
                        help="prepared dataset (quickstart small) to train both versions on and compare")
    parser.add_argument("--accuracy-steps", type=int, default=350)
    parser.add_argument("--motifs", type=Path, default=None, help="MEME file seeding the stem (as quickstart)")
    parser.add_argument("--scan", choices=["auto", "pure"], default="auto",
                        help="CUDA: auto uses mamba_ssm's kernel when it imports; pure forces the PyTorch scan")
    parser.add_argument("--fit-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_child:
        dataset, run_dir, steps, motifs = args.fit_child
        fit_child(Path(dataset), Path(run_dir), int(steps), Path(motifs) if motifs else None)
        return
    sys.path.insert(0, str(ROOT))  # this checkout, not an installed seq2exp

    import torch

    from seq2exp_cli.cpu_allocator import keep_freed_memory
    from seq2exp_cli.distributed import resolve_device

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    from seq2exp_cli.model import cuda_scan

    if args.scan == "pure":
        cuda_scan.has_cuda_scan = lambda: False  # read at every call by backbone.selective_scan
    args.scan_used = "mamba_ssm" if device.type == "cuda" and cuda_scan.has_cuda_scan() else "pure PyTorch"
    if device.type == "cpu":
        keep_freed_memory()  # as `seq2exp train` does on CPU (both versions)
    config_kwargs = {"data_config": {"window": args.window, **DATA_CONFIG}, **RECIPES[args.recipe]}
    batch = random_batch(args.batch, args.window, device)
    trainers = {"current": Trainer("seq2exp_cli", config_kwargs, batch, device)}
    state = {k: v.clone() for k, v in trainers["current"].model.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack():
        if args.baseline != "none":
            name = import_baseline(args.baseline, Path(tmp))
            trainers = {"baseline": Trainer(name, config_kwargs, batch, device, state), **trainers}
        # same weights, same batch, same RNG draw for the mask sample: the first losses must agree
        first = {}
        for key, trainer in trainers.items():
            torch.manual_seed(5)
            first[key] = trainer.step()
        results = timed_steps(trainers, args.steps, device)
        profile = {k: profile_components(t, 3) for k, t in trainers.items()} if args.profile else {}
    loading = loading_seconds(args.dataset, args.batch, 5) if args.dataset else None
    rss = []
    if args.rss_steps:
        trainer = trainers["current"]
        for _ in range(args.rss_steps):
            trainer.step()
            rss.append(rss_gib())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    accuracy = None
    if args.accuracy_dataset and args.baseline != "none":
        accuracy = accuracy_runs(args.baseline, args.accuracy_dataset.resolve(), args.accuracy_steps,
                                 args.motifs.resolve() if args.motifs else None)
    write_reports(args, device, trainers, first, results, profile, loading, rss, peak, accuracy)


def write_reports(args, device, trainers, first, results, profile, loading, rss, peak, accuracy) -> None:
    import torch

    cfg = trainers["current"].config
    med = {k: statistics.median(v["cpu"]) for k, v in results.items()}
    header = [
        f"`python benchmarks/bench_train.py {' '.join(sys.argv[1:])}` on {platform.machine()}, "
        f"{os.cpu_count()} logical CPUs shared with other jobs, torch {torch.__version__}, "
        f"{args.threads} intra-op thread(s), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        + (f", GPU {torch.cuda.get_device_name(device)}." if device.type == "cuda" else "."),
        f"Model: recipe `{args.recipe}` ({RECIPES[args.recipe]}), window {args.window:,} bp "
        f"({cfg.n_bins:,} bins), batch {args.batch}, selective scan: {args.scan_used}; "
        f"{sum(p.numel() for p in trainers['current'].model.parameters()):,} parameters.",
    ]
    lines = [f"# bench_train ({device.type}, recipe {args.recipe})", "", *header, "",
             "Steps alternate between the versions in one process (CPU seconds: user + system of the "
             "process, per step; median of the timed steps).", "",
             fmt_row(["version", "timed steps", "CPU s/step (median)", "min", "max", "user s", "system s",
                      "wall s/step", "first loss"]),
             fmt_row(["---"] * 9)]
    for key, rec in results.items():
        lines.append(fmt_row([key, len(rec["cpu"]), f"{med[key]:.3f}", f"{min(rec['cpu']):.3f}",
                              f"{max(rec['cpu']):.3f}", f"{statistics.median(rec['user']):.3f}",
                              f"{statistics.median(rec['sys']):.3f}", f"{statistics.median(rec['wall']):.3f}",
                              f"{first[key]:.6f}"]))
    lines.append("")
    if "baseline" in results:
        ratios = [b / c for b, c in zip(results["baseline"]["cpu"], results["current"]["cpu"])]
        lines += [f"- baseline ({args.baseline}) / current CPU seconds per step: **{med['baseline'] / med['current']:.2f}x** "
                  f"(per adjacent pair: {min(ratios):.2f}x to {max(ratios):.2f}x).",
                  f"- first-step loss, same weights, batch and mask draw: baseline {first['baseline']:.7f}, "
                  f"current {first['current']:.7f} (difference {abs(first['baseline'] - first['current']):.1e})."]
    if loading:
        lines.append(f"- loading one batch of {args.batch} windows ({loading['window']:,} bp) from "
                     f"`{args.dataset}`: {loading['load one batch']:.3f} CPU s.")
    if rss:
        lines.append(f"- resident memory over {len(rss)} more steps of the current version: "
                     f"{rss[0]:.2f} GiB after the first, {rss[-1]:.2f} GiB after the last "
                     f"(min {min(rss):.2f}, max {max(rss):.2f}).")
    lines.append(f"- peak RSS of the whole process ({' and '.join(results)}): {peak:.2f} GiB.")
    if device.type == "cuda":
        lines.append(f"- peak GPU memory allocated: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB; "
                     "on a GPU the wall seconds per step (after torch.cuda.synchronize) are the measure.")
    if accuracy:
        lines += accuracy_lines(args.baseline, args.accuracy_dataset, accuracy)
    output = args.output or HERE / "results" / f"bench_train_{device.type}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if profile:
        write_profile(args, header, profile, loading)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "first": first, "profile": profile, "loading": loading,
                                         "rss": rss, "peak_rss_gib": peak, "accuracy": accuracy}, indent=1))


def write_profile(args, header, profile, loading) -> None:
    keys = list(profile)
    names = [n for n in profile[keys[-1]] if n != "whole step"] + ["whole step"]
    lines = ["# Profile of one training step (CPU)", "", *header, "",
             "Median CPU seconds of 3 repetitions of each piece's forward + backward on the same batch "
             "(random inputs of the real shapes), both versions in one process.", "",
             fmt_row(["piece"] + [f"{k} CPU s" for k in keys] + ([f"share of {keys[0]} step"] if keys else [])),
             fmt_row(["---"] * (len(keys) + 2))]
    whole = profile[keys[0]]["whole step"]
    for name in names:
        cells = [f"{profile[k].get(name, float('nan')):.3f}" for k in keys]
        lines.append(fmt_row([name] + cells + [f"{100 * profile[keys[0]].get(name, 0) / whole:.0f} %"]))
    if loading:
        lines += ["", f"Data loading, measured apart: one batch of {args.batch} windows of "
                  f"{loading['window']:,} bp read from `{args.dataset}` through GeneWindows and "
                  f"collate_windows: {loading['load one batch']:.3f} CPU s (same code in both versions)."]
    args.profile_output.parent.mkdir(parents=True, exist_ok=True)
    args.profile_output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
