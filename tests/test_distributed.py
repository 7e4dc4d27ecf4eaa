"""torchrun on CPU (gloo, 2 processes) against one process with the same global batch.

The stand-in model of test_training.py goes through ``training.fit`` and
``inference.predict`` in one launch (process start-up dominates the run time).
"""

from __future__ import annotations

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
    from seq2exp_cli.inference import init_distributed, predict, rank
    from seq2exp_cli.training import TrainConfig, fit, prepare_run_dir

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
