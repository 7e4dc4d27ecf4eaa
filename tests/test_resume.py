"""Kill -9 a real ``python -m seq2exp_cli train`` after it has written a checkpoint, resume it,
and check the final weights are bit-identical to an uninterrupted run with the same seed (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from seq2exp_cli.cli import cli

pytest.importorskip("seq2exp_cli.model.seq2exp")

REPO = Path(__file__).resolve().parents[1]
STEPS = 30
ARGS = ["--d-model", "8", "--n-layers", "1", "--resolution", "100", "--device", "cpu", "--batch-size", "2",
        "--max-steps", str(STEPS), "--eval-every", "10", "--checkpoint-every", "1", "--seed", "7"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from synthetic_inputs import write_synthetic_inputs

    inputs = write_synthetic_inputs(tmp_path_factory.mktemp("inputs"), seed=1)
    out = tmp_path_factory.mktemp("prepared") / "ds"
    args = ["prepare", "--fasta", str(inputs["fasta"]), "--genes", str(inputs["gtf"]),
            "--expression", str(inputs["expression"]), "--track", f"dnase={inputs['dnase']}",
            "--track", f"h3k27ac={inputs['h3k27ac']}", "--hic", str(inputs["cool"]),
            "--window", "10000", "--split-mode", "blocks", "--block-size", "40000",
            "--valid-fraction", "0.25", "--test-fraction", "0.25", "-o", str(out)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def _command(dataset: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "seq2exp_cli", "-q", "train", str(dataset), "-o", str(run_dir), *ARGS, *extra]


def _env() -> dict[str, str]:
    # one thread: the same reduction order in every process, and kind to shared CPUs
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def _last_step(run_dir: Path) -> int:
    try:
        return int(torch.load(run_dir / "last.pt", weights_only=True)["step"])
    except Exception:  # not written yet (only ever whole: the rename is atomic)
        return -1


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(dataset, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    victim = subprocess.Popen(_command(dataset, cut), env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    deadline = time.time() + 240
    # kill it soon after its third checkpoint, at whatever point of a step it has reached
    while _last_step(cut) < 3 and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if victim.poll() is not None:
        pytest.fail(f"the run finished before it could be killed: {victim.stderr.read()[-1000:]!r}")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    victim.stderr.close()
    killed_at = _last_step(cut)
    assert 3 <= killed_at < STEPS
    # the model file of a killed run is whole and loadable
    if (cut / "model.pt").exists():
        assert torch.load(cut / "model.pt", weights_only=True)["format"] == "seq2exp-model"

    reference = subprocess.run(_command(dataset, full), env=_env(), capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr[-2000:]
    resumed = subprocess.run(_command(dataset, cut, "--resume"), env=_env(), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = torch.load(full / "last.pt", weights_only=True)
    b = torch.load(cut / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == STEPS
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    ma = torch.load(full / "model.pt", weights_only=True)
    mb = torch.load(cut / "model.pt", weights_only=True)
    assert ma["step"] == mb["step"]
    for key in ma["state_dict"]:
        assert torch.equal(ma["state_dict"][key], mb["state_dict"][key]), key
    # metrics.tsv: the same evaluations, none repeated
    assert (full / "metrics.tsv").read_text().splitlines()[0] == (cut / "metrics.tsv").read_text().splitlines()[0]
    steps_a = [line.split("\t")[0] for line in (full / "metrics.tsv").read_text().splitlines()[1:]]
    steps_b = [line.split("\t")[0] for line in (cut / "metrics.tsv").read_text().splitlines()[1:]]
    assert steps_a == steps_b == ["10", "20", "30"]
    assert not list(cut.glob(".*.tmp"))
