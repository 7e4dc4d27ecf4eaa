"""Training speed and peak memory of the default soft model, with a baseline in the same run.

Each configuration runs in its own fresh process (so peak RSS belongs to it alone) and times
whole optimiser steps exactly as ``training.fit`` takes them: forward, ``seq2exp_loss``,
backward, gradient clipping, AdamW with the reference parameter groups. Inputs are random
tensors of the real shapes (window 200 kb, 3 signals, 2 features, batch 8), so the numbers do
not depend on disk speed (data loading is measured by bench_loading.py).

    python benchmarks/bench_train.py                       # CPU, writes results/bench_train_cpu.md
    python benchmarks/bench_train.py --device cuda --output results/bench_train_gpu.md

At R = 1 on CPU a single step of the 200-kb model takes minutes, so that row times 1 step
(after no warm-up); the other rows take 1 warm-up step and then ``--steps`` timed steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one(args: argparse.Namespace) -> dict:
    """Run one configuration in this process; return its measurements."""
    import torch

    from seq2exp_cli.inference import autocast, resolve_device
    from seq2exp_cli.losses import seq2exp_loss
    from seq2exp_cli.model.config import ModelConfig, recommended_resolution
    from seq2exp_cli.model.seq2exp import Seq2Exp
    from seq2exp_cli.training import TrainConfig, param_groups

    device = resolve_device(args.device)
    data_config = {"window": args.window, "signal_names": ["dnase", "h3k27ac", "hic"],
                   "feature_names": ["promoter_dnase", "promoter_h3k27ac"], "hic_bin_size": 5000,
                   "normalization": "log1p", "target_transform": "log10p1"}
    # default: the resolution `seq2exp train` picks on this device (100 bp on CPU, 1 on CUDA)
    resolution = args.resolution if args.resolution is not None else recommended_resolution(device.type)
    overrides = {"resolution": resolution}
    config = ModelConfig.for_data(data_config, args.variant, **overrides)
    torch.manual_seed(0)
    model = Seq2Exp(config).to(device)
    train = TrainConfig()
    optimizer = torch.optim.AdamW(param_groups(model, train.weight_decay), lr=train.lr, betas=train.betas)
    g = torch.Generator().manual_seed(1)
    b, length = args.batch, args.window
    seq = torch.randint(0, 5, (b, length), generator=g, dtype=torch.uint8).to(device)
    signals = torch.log1p(torch.rand(b, length, 3, generator=g) * 5).to(device)
    features = torch.rand(b, 2, generator=g).to(device)
    blacklist = torch.zeros(b, length, dtype=torch.bool).to(device)
    target = torch.rand(b, generator=g).to(device)

    def step() -> None:
        with autocast(device):
            output = model(seq, signals, features, blacklist)
            loss, _ = seq2exp_loss(output, target.float(), config.kl_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.train()
    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - t0) / args.steps
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    out = {
        "variant": args.variant, "resolution": config.resolution, "window": args.window, "batch": b,
        "d_model": config.d_model, "n_layers": config.n_layers,
        "params": sum(p.numel() for p in model.parameters()), "timed_steps": args.steps,
        "warmup_steps": args.warmup, "s_per_step": seconds, "steps_per_s": 1.0 / seconds,
        "genes_per_s": b / seconds, "peak_rss_gib": peak_rss, "device": str(device),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--window", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed steps at the default resolution")
    parser.add_argument("--skip-r1", action="store_true", help="leave out the R = 1 row")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "bench_train_cpu.md")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per configuration")
    parser.add_argument("--memory-cap-gib", type=float, default=12.0, help="address-space cap per configuration (CPU)")
    # internal: run a single configuration
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="soft", help=argparse.SUPPRESS)
    parser.add_argument("--resolution", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return

    base = [sys.executable, __file__, "--one", "--device", args.device, "--window", str(args.window),
            "--batch", str(args.batch)]
    plan = [
        ("soft, default resolution", ["--variant", "soft", "--steps", str(args.steps)]),
        ("nomask, default resolution (baseline)", ["--variant", "nomask", "--steps", str(args.steps)]),
    ]
    if not args.skip_r1:
        plan.append(("soft, R = 1", ["--variant", "soft", "--resolution", "1", "--steps", "1", "--warmup", "0"]))
    rows = []
    cap = int(args.memory_cap_gib * 2**30)

    def limit_memory() -> None:  # a configuration that needs more fails instead of swapping the machine
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    while plan:
        label, extra = plan.pop(0)
        print(f"running: {label}", file=sys.stderr, flush=True)
        t0 = time.time()
        try:
            proc = subprocess.run(base + extra, capture_output=True, text=True, timeout=args.timeout,
                                  env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
                                  preexec_fn=limit_memory if args.device == "cpu" else None)
        except subprocess.TimeoutExpired:
            rows.append({"label": label, "error": f"over {args.timeout} s"})
            continue
        if proc.returncode != 0:
            rows.append({"label": label, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]})
            if "R = 1" in label and "batch" not in label and args.batch > 1:
                # batch 8 at 1 bp does not fit under the cap: measure one gene per step instead
                plan.append(("soft, R = 1, batch 1", ["--variant", "soft", "--resolution", "1", "--steps", "1",
                                                       "--warmup", "0", "--batch", "1"]))
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["label"], row["wall_s"] = label, time.time() - t0
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    ok = {r["label"]: r for r in rows if "error" not in r}
    lines = [
        f"# bench_train ({args.device})", "",
        f"`python benchmarks/bench_train.py --device {args.device}` on {platform.node() or 'this machine'}: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs (shared with other jobs), "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}.",
        f"Window {args.window:,} bp, batch {args.batch}, random inputs of the real shapes; whole optimiser steps "
        "(forward, loss, backward, clipping, AdamW). Peak RSS is the process's maximum resident memory.", "",
        "| configuration | R | d_model x layers | params | timed steps | s/step | steps/s | genes/s | peak RSS GiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['label']} | | | | | failed: {r['error']} | | | |")
            continue
        lines.append(
            f"| {r['label']} | {r['resolution']} | {r['d_model']} x {r['n_layers']} | {r['params']:,} | "
            f"{r['timed_steps']} | {r['s_per_step']:.2f} | {r['steps_per_s']:.4f} | {r['genes_per_s']:.3f} | "
            f"{r['peak_rss_gib']:.2f} |"
        )
    lines.append("")
    soft = ok.get("soft, default resolution")
    if soft and "nomask, default resolution (baseline)" in ok:
        base_row = ok["nomask, default resolution (baseline)"]
        lines.append(f"- soft / nomask time per step: {soft['s_per_step'] / base_row['s_per_step']:.2f}x "
                     f"(the generator stack and the Beta mask on top of the predictor); peak memory "
                     f"{soft['peak_rss_gib'] / base_row['peak_rss_gib']:.2f}x.")
    r1_label = "soft, R = 1" if "soft, R = 1" in ok else "soft, R = 1, batch 1"
    if soft and r1_label in ok:
        r1 = ok[r1_label]
        per_gene = (r1["s_per_step"] / r1["batch"]) / (soft["s_per_step"] / soft["batch"])
        lines.append(f"- R = 1 / R = {soft['resolution']} time per gene: {per_gene:.1f}x (batch {r1['batch']} vs "
                     f"{soft['batch']}); peak memory {r1['peak_rss_gib'] / soft['peak_rss_gib']:.2f}x. The R = 1 row "
                     "is a single step without warm-up (first-call allocation included).")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
