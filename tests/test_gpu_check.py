"""benchmarks/gpu_check.sh argument handling, checked on CPU through --dry-run (no GPU needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
STAGES = ["cuda-tests", "paper-step-pure", "mamba-ssm", "paper-step-mamba-ssm", "data", "torchrun-nccl",
          "call-elements"]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_dry_run_lists_every_stage_within_eight_minutes(tmp_path):
    result = run("--dry-run", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--batch", "4",
                 "--steps", "3", "--skip-install")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"gpu_check dry run: out={tmp_path / 'out'} work={tmp_path / 'work'} batch=4 steps=3 "
                        "install=0")
    assert [re.match(r"stage (\S+)", line).group(1) for line in lines if line.startswith("stage ")] == STAGES
    total = int(re.fullmatch(r"total limit (\d+)s", lines[-1]).group(1))
    assert total <= 8 * 60
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()  # a dry run writes nothing
    assert "--device cuda" in result.stdout and str(tmp_path / "work") in result.stdout


def test_help():
    result = run("--help")
    assert result.returncode == 0 and "--dry-run" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--batch", "0"], "--batch 0: give a whole number >= 1"),
    (["--steps", "two"], "--steps two: give a whole number >= 1"),
    (["--out"], "--out needs a directory"),
    (["--bogus"], "unknown option --bogus"),
])
def test_bad_arguments_exit_2_with_one_message(args, message):
    result = run("--dry-run", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"gpu_check: {message}"


def test_refuses_to_start_without_a_gpu(tmp_path):
    # a machine without nvidia-smi (or whose torch sees no GPU) gets one line, and nothing is written
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    result = run("--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"))
    assert result.returncode == 2
    assert "gpu_check: no nvidia-smi" in result.stderr
    assert not (tmp_path / "out").exists()
