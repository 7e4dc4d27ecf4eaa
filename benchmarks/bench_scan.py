"""Benchmark the pure-PyTorch selective scan on CPU (forward + backward, d_model = 128, batch 1).

Each measurement runs in a fresh subprocess so its peak resident memory (VmHWM from
/proc/self/status, which includes torch's allocations, unlike tracemalloc) is its own.
Measurements:
  1. one Mamba block (one direction) at L = 65,536: ours vs mambapy's MambaBlock (pscan), and vs
     the sequential loop over positions (timed at a shorter L, scaled linearly, labelled so);
  2. our bidirectional layer at L = 200,000 (goal: within 8 GB);
  3. forward throughput of the whole Seq2Exp model (soft) for R = 1, 16, 128.
Writes benchmarks/results/bench_scan_cpu.md. Usage: python benchmarks/bench_scan.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_scan_cpu.md"


def _peak_rss_gb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 ** 2
    return float("nan")


def _child(kind: str, length: int, resolution: int) -> dict:
    """Run one measurement in this (fresh) process and return its numbers."""
    import torch

    # One intra-op thread for every row: on a shared 2-core machine two spinning threads per job
    # made timings swing 10x; the same setting for ours, mambapy and the loop keeps ratios fair.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    d = 128
    if kind == "ours_block":
        from seq2exp_cli.model.backbone import Mamba
        model = Mamba(d)
    elif kind == "mambapy_block":
        from mambapy.mamba import MambaBlock, MambaConfig
        model = MambaBlock(MambaConfig(d_model=d, n_layers=1))
    elif kind == "bilayer":
        from seq2exp_cli.model.backbone import BiMambaLayer
        model = BiMambaLayer(d)
    elif kind == "loop_block":
        from seq2exp_cli.model import backbone

        def loop_scan(u, delta, a_mat, b_mat, c_mat, d_vec=None, **_):
            # The sequential reference: one Python iteration per position.
            h = u.new_zeros(u.shape[0], u.shape[2], a_mat.shape[1])
            ys = []
            for t in range(u.shape[1]):
                h = torch.exp(delta[:, t, :, None] * a_mat) * h + (delta[:, t] * u[:, t])[..., None] * b_mat[:, t, None, :]
                ys.append((h * c_mat[:, t, None, :]).sum(-1))
            return torch.stack(ys, 1) + u * d_vec

        backbone.selective_scan = loop_scan
        model = backbone.Mamba(d)
    elif kind == "model_forward":
        from seq2exp_cli.model import ModelConfig, Seq2Exp
        cfg = ModelConfig(window=length, resolution=resolution, signal_names=["h3k27ac", "dnase", "hic"],
                          promoter_bp=min(2000, length))
        model = Seq2Exp(cfg).eval()
        seq = torch.randint(0, 5, (1, length), dtype=torch.uint8)
        sig = torch.rand(1, length, 3)
        feats = torch.zeros(1, 0)
        with torch.no_grad():
            model(seq, sig, feats)  # warm-up
            t0 = time.perf_counter()
            model(seq, sig, feats)
            fwd = time.perf_counter() - t0
        return {"forward_s": fwd, "backward_s": 0.0, "peak_gb": _peak_rss_gb()}
    else:
        raise ValueError(kind)
    warm = torch.randn(1, 256, d)  # first-call set-up costs (allocator, kernels) kept out of the timing
    model(warm).sum().backward()
    model.zero_grad()
    x = torch.randn(1, length, d)
    t0 = time.perf_counter()
    y = model(x)
    t1 = time.perf_counter()
    y.square().mean().backward()
    t2 = time.perf_counter()
    return {"forward_s": t1 - t0, "backward_s": t2 - t1, "peak_gb": _peak_rss_gb()}


def measure(kind: str, length: int, resolution: int = 1, timeout: int = 1800) -> dict:
    """Run _child in a fresh interpreter; returns its dict (or an 'error' entry)."""
    cmd = [sys.executable, __file__, "--child", kind, str(length), str(resolution)]
    print(f"running {kind} L={length} R={resolution} ...", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {res}", file=sys.stderr, flush=True)
    return res


def _fmt(res: dict) -> str:
    if "error" in res:
        return f"| failed: {res['error']} | | | |"
    total = res["forward_s"] + res["backward_s"]
    return f"| {res['forward_s']:.2f} | {res['backward_s']:.2f} | {total:.2f} | {res['peak_gb']:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "L", "R"))
    parser.add_argument("--quick", action="store_true", help="shorter sequences (smoke test)")
    args = parser.parse_args()
    if args.child:
        kind, length, res = args.child
        print(json.dumps(_child(kind, int(length), int(res))))
        return
    import torch

    long_l = 8192 if args.quick else 65_536
    loop_l = 512 if args.quick else 2048
    bi_l = 16_384 if args.quick else 200_000
    model_l = 12_288 if args.quick else 196_608  # divisible by 16 and 128
    model_l_r1 = 4096 if args.quick else 32_768  # R = 1 is GPU territory: a shorter window on CPU
    ours = measure("ours_block", long_l)
    mp = measure("mambapy_block", long_l)
    loop = measure("loop_block", loop_l)
    bi = measure("bilayer", bi_l)
    rows = [f"| ours, Mamba block | {long_l:,} " + _fmt(ours),
            f"| mambapy MambaBlock (pscan) | {long_l:,} " + _fmt(mp),
            f"| sequential loop (measured) | {loop_l:,} " + _fmt(loop)]
    lines = ["# Selective scan on CPU: forward + backward, d_model = 128, batch 1", "",
             f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
             "1 intra-op thread per measurement; the machine's 2 cores were shared with other jobs, "
             "so absolute times are noisy; ratios were measured back to back.",
             "Peak memory: VmHWM of a fresh process per row (includes the interpreter and torch, ~0.3 GB).",
             "", "| what | L | forward s | backward s | total s | peak GB |", "|---|---|---|---|---|---|", *rows]
    ratios = []
    if "error" not in ours and "error" not in loop:
        scale = long_l / loop_l
        loop_total = (loop["forward_s"] + loop["backward_s"]) * scale
        lines.append(f"| sequential loop, **scaled linearly** from L = {loop_l:,} | {long_l:,} | "
                     f"{loop['forward_s'] * scale:.1f} | {loop['backward_s'] * scale:.1f} | {loop_total:.1f} | (not measured) |")
        ratios.append(f"- speed-up vs the sequential loop (scaled): "
                      f"{loop_total / (ours['forward_s'] + ours['backward_s']):.1f}x (goal >= 100x)")
    if "error" not in ours and "error" not in mp:
        ratios.append(f"- speed-up vs mambapy: {(mp['forward_s'] + mp['backward_s']) / (ours['forward_s'] + ours['backward_s']):.2f}x "
                      f"(goal >= 3x); peak memory ours / mambapy: {ours['peak_gb'] / mp['peak_gb']:.2f} (goal <= 0.33)")
    lines.append(f"| ours, bidirectional layer | {bi_l:,} " + _fmt(bi))
    if "error" not in bi:
        ratios.append(f"- bidirectional layer at L = {bi_l:,}: peak {bi['peak_gb']:.2f} GB (goal <= 8 GB)")
    lines += ["", "## Ratios", "", *ratios, "", "## Whole Seq2Exp (soft, d = 128, 4 + 4 layers), forward only, batch 1",
              "", "| R | window bp | bins | forward s | bp / s | peak GB |", "|---|---|---|---|---|---|"]
    for r, length in ((128, model_l), (16, model_l), (1, model_l_r1)):
        res = measure("model_forward", length, r)
        if "error" in res:
            lines.append(f"| {r} | {length:,} | {length // r:,} | failed: {res['error']} | | |")
        else:
            lines.append(f"| {r} | {length:,} | {length // r:,} | {res['forward_s']:.2f} | "
                         f"{length / res['forward_s']:,.0f} | {res['peak_gb']:.2f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
