"""End to end through the command line: prepare -> train (tiny real model) -> predict, on
generated inputs; plus every bad input the train and predict commands must refuse in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from click.testing import CliRunner

from seq2exp_cli.cli import cli

pytest.importorskip("seq2exp_cli.model.seq2exp")

WINDOW = 10_000  # a multiple of the 5-kb Hi-C bin
TINY = ["--preset", "paper", "--d-model", "8", "--n-layers", "1", "--resolution", "100", "--device", "cpu",
        "--batch-size", "2"]


def run(args: list[str]):
    return CliRunner().invoke(cli, args)


@pytest.fixture(scope="module")
def inputs(kit_seed0):
    return kit_seed0


def prepare_args(inputs, out: Path, window: int = WINDOW, extra: tuple[str, ...] = ()) -> list[str]:
    return ["prepare", "--fasta", str(inputs["fasta"]), "--genes", str(inputs["gtf"]),
            "--expression", str(inputs["expression"]), "--track", f"dnase={inputs['dnase']}",
            "--track", f"h3k27ac={inputs['h3k27ac']}", "--hic", str(inputs["cool"]),
            "--blacklist", str(inputs["blacklist"]), "--window", str(window), "--split-mode", "blocks",
            "--block-size", "40000", "--valid-fraction", "0.25", "--test-fraction", "0.25", *extra, "-o", str(out)]


@pytest.fixture(scope="module")
def dataset(inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    result = run(prepare_args(inputs, out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "model"
    result = run(["train", str(dataset), "-o", str(run_dir), *TINY, "--max-steps", "4", "--eval-every", "2"])
    assert result.exit_code == 0, result.output
    return run_dir


def test_train_writes_the_run_directory(trained, dataset):
    assert sorted(p.name for p in trained.iterdir()) == ["last.pt", "metrics.tsv", "model.pt", "run.json"]
    model = torch.load(trained / "model.pt", weights_only=True)
    assert model["format"] == "seq2exp-model" and model["step"] in (2, 4)
    assert model["model_config"]["d_model"] == 8 and model["model_config"]["resolution"] == 100
    assert model["data_config"]["window"] == WINDOW and model["variant"] == "soft"
    metrics = pd.read_csv(trained / "metrics.tsv", sep="\t")
    assert metrics["step"].tolist() == [2, 4]
    assert model["val_metrics"]["mse"] == pytest.approx(metrics["val_mse"].min(), rel=1e-5)
    record = json.loads((trained / "run.json").read_text())
    assert record["status"] == "finished" and record["device"] == "cpu" and record["seed"] == 2222
    assert record["train_config"]["batch_size"] == 2 and record["timings"]["train_steps_per_s"] > 0
    last = torch.load(trained / "last.pt", weights_only=True)
    assert last["step"] == 4 and set(last["rng"][0]) >= {"torch", "numpy", "python"}


def test_predict_writes_tsv_and_metrics_checked_against_scipy(trained, dataset, tmp_path):
    out = tmp_path / "predictions.tsv"
    result = run(["predict", str(trained), str(dataset), "-o", str(out), "--split", "all", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, sep="\t")
    assert list(frame.columns) == ["gene_id", "name", "chrom", "tss", "strand", "split", "target", "predicted"]
    genes = pd.read_csv(dataset / "genes.tsv", sep="\t")
    assert frame["gene_id"].tolist() == genes["gene_id"].tolist()
    assert frame["target"].isna().sum() == genes["target"].isna().sum() > 0
    record = json.loads((tmp_path / "predictions.metrics.json").read_text())
    assert set(record["metrics"]) == {"train", "valid", "test", "all"}
    for split, m in record["metrics"].items():
        part = frame if split == "all" else frame[frame["split"] == split]
        part = part.dropna(subset=["target"])
        assert m["n"] == len(part)
        assert m["mse"] == pytest.approx(np.mean((part["predicted"] - part["target"]) ** 2), rel=1e-4)
        assert m["mae"] == pytest.approx(np.mean(np.abs(part["predicted"] - part["target"])), rel=1e-4)
        if len(part) > 2:
            rho = scipy.stats.spearmanr(part["target"], part["predicted"])[0]
            assert (m["spearman"] is None and math.isnan(rho)) or m["spearman"] == pytest.approx(rho, abs=1e-4)
    assert "MSE" in result.output  # the table on stderr (CliRunner mixes the streams)
    # the validation metrics of model.pt are reproduced by predict
    model = torch.load(trained / "model.pt", weights_only=True)
    assert record["metrics"]["valid"]["mse"] == pytest.approx(model["val_metrics"]["mse"], rel=1e-4)


def test_predict_to_stdout_and_default_split(trained, dataset):
    result = CliRunner().invoke(cli, ["-q", "predict", str(trained), str(dataset), "-o", "-", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith(("gene_id", "ENSG"))]
    assert lines[0].startswith("gene_id\tname") and len(lines) > 1
    assert all(line.split("\t")[5] == "test" for line in lines[1:])


def test_predict_on_unlabelled_data_has_no_metrics(inputs, trained, tmp_path):
    genes = pd.read_csv(inputs["genes_tsv"], sep="\t") if inputs["genes_tsv"].suffix != ".gtf" else None
    ds = tmp_path / "nolabels"
    args = [a for a in prepare_args(inputs, ds)]
    i = args.index("--expression")
    del args[i : i + 2]
    result = run(args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "p.tsv"
    result = run(["predict", str(trained), str(ds), "-o", str(out), "--split", "all", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, sep="\t")["target"].isna().all()
    assert not (tmp_path / "p.metrics.json").exists() and "no metrics" in result.output
    del genes


def test_predict_refuses_a_mismatched_dataset(inputs, trained, tmp_path):
    ds = tmp_path / "wide"
    assert run(prepare_args(inputs, ds, window=2 * WINDOW)).exit_code == 0
    result = run(["predict", str(trained), str(ds), "-o", str(tmp_path / "p.tsv"), "--device", "cpu"])
    assert result.exit_code == 1
    assert "window: model 10000, dataset 20000" in result.output and "Traceback" not in result.output


def test_predict_refuses_foreign_files(dataset, tmp_path):
    run_dir = tmp_path / "notours"
    run_dir.mkdir()
    torch.save({"format": "seq2exp-model", "thing": Path("x")}, run_dir / "model.pt")
    result = run(["predict", str(run_dir), str(dataset), "-o", str(tmp_path / "p.tsv")])
    assert result.exit_code == 1 and "arbitrary Python objects" in result.output
    assert len(result.output.strip().splitlines()) == 1
    torch.save({"weights": torch.zeros(3)}, run_dir / "model.pt")
    result = run(["predict", str(run_dir), str(dataset), "-o", str(tmp_path / "p.tsv")])
    assert result.exit_code == 1 and "not a seq2exp checkpoint" in result.output


def test_train_refuses_existing_output_and_bad_config(dataset, trained, tmp_path):
    result = run(["train", str(dataset), "-o", str(trained), *TINY, "--max-steps", "2"])
    assert result.exit_code == 1 and "--resume" in result.output and "--force" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nlearning_rate = 0.1\n")
    result = run(["train", str(dataset), "-o", str(tmp_path / "r"), "--config", str(bad)])
    assert result.exit_code == 1 and "learning_rate" in result.output
    bad.write_text("[training\n")
    result = run(["train", str(dataset), "-o", str(tmp_path / "r"), "--config", str(bad)])
    assert result.exit_code == 1 and "not valid TOML" in result.output


def test_config_file_and_command_line_precedence(dataset, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('variant = "nomask"\n[model]\nd_model = 16\nn_layers = 1\n'
                      "[training]\nlr = 0.001\nmax_steps = 7\npatience = 3\n")
    result = CliRunner().invoke(cli, ["train", str(dataset), "-o", str(tmp_path / "r"), "--config", str(config),
                                      "--max-steps", "9", "--resolution", "100", "--dump-config"])
    assert result.exit_code == 0, result.output
    import tomllib

    dumped = tomllib.loads(result.stdout)
    assert dumped["variant"] == "nomask"
    assert dumped["model"]["d_model"] == 16 and dumped["model"]["resolution"] == 100
    assert dumped["training"]["lr"] == 0.001 and dumped["training"]["max_steps"] == 9
    assert dumped["training"]["patience"] == 3 and dumped["training"]["seed"] == 2222
    assert not (tmp_path / "r").exists()


def test_train_refuses_an_empty_validation_split(dataset, tmp_path):
    # prepare itself refuses such splits; a hand-edited genes.tsv must still be caught by train
    import shutil

    ds = tmp_path / "novalid"
    shutil.copytree(dataset, ds)
    genes = pd.read_csv(ds / "genes.tsv", sep="\t", dtype=str, keep_default_na=False)
    genes["split"] = genes["split"].replace({"valid": "train"})
    genes.to_csv(ds / "genes.tsv", sep="\t", index=False)
    result = run(["train", str(ds), "-o", str(tmp_path / "r"), *TINY, "--max-steps", "2"])
    assert result.exit_code == 1 and "valid split has no labelled genes" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_additive_readout_with_seeded_motifs_then_contribution_elements(dataset, trained, tmp_path):
    """train --readout additive --bin-head-stem --motifs FILE, then call-elements scores elements by each bin's share
    of the gene's predicted input (auto); the paper's readout has no such score and -p needs a null."""
    from seq2exp_cli.io.motifs import Motif, write_meme

    probs = np.full((10, 4), 0.01)
    probs[np.arange(10), [0, 1, 2, 3, 3, 2, 1, 0, 0, 1]] = 0.97
    write_meme(tmp_path / "db.meme", [Motif("M1", probs)])
    run_dir = tmp_path / "additive"
    result = run(["train", str(dataset), "-o", str(run_dir), *TINY, "--max-steps", "2", "--eval-every", "2",
                  "--readout", "additive", "--bin-head-stem", "--motifs", str(tmp_path / "db.meme")])
    assert result.exit_code == 0, result.output
    model = torch.load(run_dir / "model.pt", weights_only=False)
    assert model["model_config"]["readout"] == "additive" and model["model_config"]["bin_head_stem"] is True
    out = tmp_path / "el" / "x.bed"
    out.parent.mkdir()
    result = run(["call-elements", str(run_dir), str(dataset), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "el" / "x.run.json").read_text())["score"] == "contribution"
    peaks = pd.read_csv(out, sep="\t", header=None)
    assert len(peaks) > 0 and peaks[4].between(0, 1000).all()
    result = run(["call-elements", str(run_dir), str(dataset), "-o", str(tmp_path / "el" / "p.bed"), "-p", "0.5"])
    assert result.exit_code == 0, result.output                    # contribution scores have the sequence null
    kept = pd.read_csv(tmp_path / "el" / "p.bed", sep="\t", header=None) if (tmp_path / "el" / "p.bed").stat().st_size else None
    assert kept is None or (kept[7] >= -np.log10(0.5) - 1e-9).all()
    result = run(["call-elements", str(trained), str(dataset), "-o", str(tmp_path / "el" / "m.bed"),
                  "--score", "contribution"])
    assert result.exit_code == 1 and "readout 'promoter'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = run(["train", str(dataset), "-o", str(tmp_path / "r1"), "--d-model", "8", "--n-layers", "1",
                  "--resolution", "1", "--stem", "conv", "--readout", "promoter", "--device", "cpu",
                  "--motifs", str(tmp_path / "db.meme")])
    assert result.exit_code == 1 and "resolution > 1" in result.output and not (tmp_path / "r1").exists()
    result = run(["train", str(dataset), "-o", str(tmp_path / "r2"), *TINY, "--bin-head-stem"])
    assert result.exit_code == 1 and "bin_head_stem needs readout 'additive'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "r2").exists()
