"""torchrun on CPU (gloo, 2 processes) against one process.

The stand-in model of test_training.py goes through ``training.fit`` and
``inference.predict`` in one launch (process start-up dominates the run time); a tiny real
model goes through ``seq2exp call-elements``, whose masks are sharded and streamed to rank 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

pytestmark = [
    pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available"),
    pytest.mark.slow,  # process start-up dominates: ~30-60 s on 2 shared cores
]

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    import torch
    sys.path.insert(0, {tests!r})
    from test_training import ToyConfig, ToyDataset, ToyModel, toy_loss
    from seq2exp_cli.distributed import init_distributed, rank
    from seq2exp_cli.inference import predict
    from seq2exp_cli.train_config import TrainConfig
    from seq2exp_cli.train_run import prepare_run_dir
    from seq2exp_cli.training import fit

    run, batch = Path(sys.argv[1]), int(sys.argv[2])
    cfg = TrainConfig(max_steps=6, batch_size=batch, eval_every=3, checkpoint_every=3, device="cpu",
                      lr=1e-2, warmup_steps=2)
    if rank() == 0:
        prepare_run_dir(run, force=False, resume=False)
    fit(ToyDataset(), run, ToyConfig(noisy=False), cfg, model_factory=ToyModel, loss_fn=toy_loss)

    created = init_distributed(torch.device("cpu"))  # fit keeps the group: this reuses it
    torch.manual_seed(0)
    frame = predict(ToyModel(ToyConfig()), ToyDataset(), np.arange(23)[::-1], "cpu", batch_size=3)
    if rank() == 0:
        frame.to_csv(run / "predictions.tsv", sep="\\t", index=False)
    if created:
        torch.distributed.destroy_process_group()
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("WORLD_SIZE", None)
    return env


def _torchrun(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _single(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], env=_env(), capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_ddp_fit_matches_single_process_with_the_same_global_batch(tmp_path):
    script = tmp_path / "fit_toy.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    _torchrun([str(script), str(tmp_path / "ddp"), "2"])
    _single([str(script), str(tmp_path / "one"), "4"])
    a = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6 and len(a["rng"]) == 2 and len(b["rng"]) == 1
    for key in b["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-4, atol=1e-5)
    ma = pd.read_csv(tmp_path / "ddp" / "metrics.tsv", sep="\t")
    mb = pd.read_csv(tmp_path / "one" / "metrics.tsv", sep="\t")
    assert ma["step"].tolist() == mb["step"].tolist() == [3, 6]
    assert ma["val_n"].tolist() == mb["val_n"].tolist() == [4, 4]  # gathered across ranks
    np.testing.assert_allclose(ma["val_mse"], mb["val_mse"], rtol=1e-3)
    # only rank 0 wrote: no stray temporaries, one metrics header
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [
        "last.pt", "metrics.tsv", "model.pt", "predictions.tsv", "run.json"]
    # predict: sharded across ranks, merged by rank 0 in the input order
    pa = pd.read_csv(tmp_path / "ddp" / "predictions.tsv", sep="\t")
    pb = pd.read_csv(tmp_path / "one" / "predictions.tsv", sep="\t")
    assert pa["gene_id"].tolist() == [f"G{i}" for i in range(22, -1, -1)]
    pd.testing.assert_frame_equal(pa, pb, rtol=1e-6)


# ------------------------------------------------------------------------------ call-elements

CALL_WINDOW = 100_000  # neighbouring genes lie ~40 kb apart: up to three windows cover a base


@pytest.fixture(scope="module")
def call_inputs(tmp_path_factory):
    """A prepared dataset of 11 genes (odd, so the shards differ) and a briefly trained model."""
    from click.testing import CliRunner
    from synthetic_inputs import write_synthetic_inputs

    from seq2exp_cli.cli import cli

    root = tmp_path_factory.mktemp("call")
    inputs = write_synthetic_inputs(root / "inputs", seed=0)
    genes = root / "genes.gtf"  # drop the last gene: 11 genes
    genes.write_text("".join(line for line in inputs["gtf"].read_text().splitlines(keepends=True)
                             if "GENE12" not in line))
    runner = CliRunner()
    result = runner.invoke(cli, [
        "prepare", "--fasta", str(inputs["fasta"]), "--genes", str(genes), "--expression", str(inputs["expression"]),
        "--track", f"dnase={inputs['dnase']}", "--track", f"h3k27ac={inputs['h3k27ac']}", "--hic",
        str(inputs["cool"]), "--blacklist", str(inputs["blacklist"]), "--window", str(CALL_WINDOW),
        "--split-mode", "blocks", "--block-size", "40000", "--valid-fraction", "0.25", "--test-fraction", "0.25",
        "-o", str(root / "ds")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, [
        "train", str(root / "ds"), "-o", str(root / "run"), "--d-model", "8", "--n-layers", "1", "--resolution",
        "100", "--device", "cpu", "--batch-size", "2", "--max-steps", "2", "--eval-every", "2",
        # the mask model: its scores do not depend on how genes are batched, so ranks match bit for bit
        "--variant", "soft", "--stem", "conv", "--readout", "promoter"])
    assert result.exit_code == 0, result.output
    return root / "run", root / "ds"


def _call_args(run_dir: Path, dataset: Path, out: Path, combine: str) -> list[str]:
    # 11 genes on 2 ranks with 5 per batch: shards of 6 and 5, two rounds, and rank 1 has
    # nothing left to send in the second
    return ["call-elements", str(run_dir), str(dataset), "-o", str(out / "calls.bed"), "--combine", combine,
            "--device", "cpu", "--batch-size", "5", "--top-fraction", "0.1", "-l", "100",
            "--bedgraph", str(out / "score.bdg"), "--cutoff-analysis", "--cutoff-analysis-steps", "20"]


@pytest.mark.parametrize("combine", ["max", "mean"])
def test_call_elements_under_torchrun_matches_one_process(call_inputs, tmp_path, combine):
    from click.testing import CliRunner

    from seq2exp_cli.cli import cli

    run_dir, dataset = call_inputs
    (tmp_path / "ddp").mkdir()
    (tmp_path / "one").mkdir()
    _torchrun(["-m", "seq2exp_cli", *_call_args(run_dir, dataset, tmp_path / "ddp", combine)])
    result = CliRunner().invoke(cli, _call_args(run_dir, dataset, tmp_path / "one", combine))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == ["calls.bed", "calls.cutoff_analysis.tsv", "calls.links.bedpe", "calls.links.interact",
                     "calls.links.tsv", "calls.run.json", "calls.summits.bed", "score.bdg"]
    # rank 0 alone wrote, and left no temporary (the per-gene spill) behind
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == names
    for name in names:
        if name != "calls.run.json":
            assert (tmp_path / "ddp" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    records = []
    for side in ("ddp", "one"):
        text = (tmp_path / side / "calls.run.json").read_text().replace(str(tmp_path / side), "OUT")
        record = json.loads(text)
        del record["seconds"], record["command"]
        record.pop("set_id", None)  # names the writing process
        records.append(record)
    assert records[0] == records[1] and records[0]["n_elements"] > 0


def test_call_elements_under_torchrun_fails_on_every_rank(call_inputs, tmp_path):
    run_dir, dataset = call_inputs
    (tmp_path / "calls.bed").write_text("")  # rank 0 finds an output in the way (no --force)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
           "seq2exp_cli", *_call_args(run_dir, dataset, tmp_path, "max")]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240, cwd=REPO, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2 and all("--force" in line for line in errors), proc.stderr[-3000:]
    assert sum("process 0 of 2 failed" in line for line in errors) == 1  # rank 1 reports rank 0's error
    assert "seq2exp_cli/" not in proc.stderr  # no worker traceback (torchrun's own report has none of ours)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.bed"]
