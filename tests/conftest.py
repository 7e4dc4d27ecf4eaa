"""Shared tiny fixtures, each built once per test session: synthetic inputs (seed 1, and the
seed-0 kit shared by the modules that prepare their own datasets), a prepared dataset, a tiny
trained model and a score bedGraph (seconds on a CPU)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_WINDOW = 10_000
TINY_MODEL_ARGS = ["--d-model", "8", "--n-layers", "1", "--resolution", "100", "--device", "cpu",
                   "--batch-size", "2", "--max-steps", "4", "--eval-every", "2", "--checkpoint-every", "2",
                   "--seed", "3"]


def invoke(args: list[str]):
    """Run ``seq2exp ARGS`` in-process; stdout and stderr are kept apart."""
    from seq2exp_cli.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def prepare_args(inputs: dict[str, Path], out: Path, **replace: object) -> list[str]:
    """A ``prepare`` command line over the synthetic inputs; ``replace`` swaps one flag's value
    (flag name without dashes, underscores for hyphens; None drops the flag)."""
    flags = {
        "fasta": inputs["fasta"], "genes": inputs["gtf"], "expression": inputs["expression"],
        "track": [f"dnase={inputs['dnase']}", f"h3k27ac={inputs['h3k27ac']}"], "hic": inputs["cool"],
        "blacklist": inputs["blacklist"], "window": TINY_WINDOW, "split_mode": "blocks", "block_size": 40_000,
        "valid_fraction": 0.25, "test_fraction": 0.25,
    }
    flags.update(replace)
    args = ["-q", "prepare"]
    for name, value in flags.items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            args += [f"--{name.replace('_', '-')}", str(item)]
    return args + ["-o", str(out)]


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory) -> dict[str, Path]:
    from synthetic_inputs import write_synthetic_inputs

    return write_synthetic_inputs(tmp_path_factory.mktemp("tiny_inputs"), seed=1)


@pytest.fixture(scope="session")
def kit_seed0(tmp_path_factory) -> dict[str, Path]:
    """The synthetic inputs with seed 0, shared read-only by the modules that prepare their own datasets."""
    from synthetic_inputs import write_synthetic_inputs

    return write_synthetic_inputs(tmp_path_factory.mktemp("kit_seed0"), seed=0)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_prepared") / "ds"
    result = invoke(prepare_args(tiny_inputs, out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_dataset, tmp_path_factory) -> Path:
    pytest.importorskip("seq2exp_cli.model.seq2exp")
    run_dir = tmp_path_factory.mktemp("tiny_model") / "run"
    result = invoke(["-q", "train", tiny_dataset, "-o", run_dir, *TINY_MODEL_ARGS])
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture(scope="session")
def score_bedgraph(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scores") / "scores.bdg"
    path.write_text("chrA\t0\t100\t0\nchrA\t100\t400\t0.8\nchrA\t400\t1000\t0.1\n"
                    "chrB\t0\t300\t0.9\nchrB\t300\t500\t0\n")
    return path
