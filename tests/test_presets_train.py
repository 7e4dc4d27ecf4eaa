"""Presets, the resolved training plan, progress lines off a terminal, and JASPAR motif seeding."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seq2exp_cli.cli import cli
from seq2exp_cli.presets import CPU, LENGTH_KEYS, PRESETS, sized_length, split_preset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from synthetic_inputs import write_synthetic_inputs

    inputs = write_synthetic_inputs(tmp_path_factory.mktemp("inputs"), seed=3)
    out = tmp_path_factory.mktemp("prepared") / "ds"
    args = ["prepare", "--fasta", str(inputs["fasta"]), "--genes", str(inputs["gtf"]),
            "--expression", str(inputs["expression"]), "--track", f"dnase={inputs['dnase']}",
            "--track", f"h3k27ac={inputs['h3k27ac']}", "--window", "10000", "--split-mode", "blocks",
            "--block-size", "40000", "--valid-fraction", "0.25", "--test-fraction", "0.25", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out


def test_presets_split_into_model_training_and_length():
    cpu = split_preset("auto", "cpu")
    assert cpu.name == "cpu" and cpu.variant == "nomask" and cpu.model["resolution"] == 200
    assert cpu.training["lr"] == CPU["lr"] and set(cpu.length) <= set(LENGTH_KEYS)
    assert split_preset("auto", "cuda").name == "gpu" and split_preset("paper").model == {"resolution": 1}
    assert sized_length(cpu.length, n_train=295, global_batch=8) == {"epochs": 27, "eval_every": 37,
                                                                      "checkpoint_every": 37}
    assert sized_length(cpu.length, n_train=20_000, global_batch=8)["epochs"] == CPU["min_epochs"]
    assert sized_length({}, 10, 8) == {}


def test_quickstart_recipes_derive_from_the_cpu_preset():
    from seq2exp_cli.quickstart import RECIPE_MODEL_KEYS, RECIPES

    for key in RECIPE_MODEL_KEYS:
        if key != "resolution" and key in CPU:
            assert RECIPES["small"][key] == RECIPES["tiny"][key] == CPU[key], key
    assert RECIPES["small"]["resolution"] == CPU["resolution"] and RECIPES["small"]["lr"] == CPU["lr"]


def test_every_config_field_has_an_option():
    from seq2exp_cli.cli.train import train
    from seq2exp_cli.train_settings import DATA_FIELDS
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.train_config import TrainConfig

    options = {p.name for p in train.params}
    fields = {f.name for f in dataclasses.fields(ModelConfig)} | {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - DATA_FIELDS <= options
    assert {"d_state", "expand", "stem_pool", "min_lr", "warmup_steps", "preset"} <= options
    for name in PRESETS["cpu"]:
        assert name in options or name in LENGTH_KEYS or name == "variant", name


def test_dump_config_layers_preset_toml_and_flags(dataset, tmp_path):
    import tomllib

    config = tmp_path / "c.toml"
    config.write_text("[model]\nd_state = 4\n[training]\nwarmup_steps = 3\n")
    result = CliRunner().invoke(cli, ["train", str(dataset), "-o", str(tmp_path / "r"), "--device", "cpu",
                                      "--config", str(config), "--expand", "2", "--min-lr", "1e-4", "--dump-config"])
    assert result.exit_code == 0, result.output
    dumped = tomllib.loads(result.stdout)
    assert dumped["variant"] == "nomask" and dumped["model"]["d_model"] == CPU["d_model"]  # the cpu preset
    assert dumped["model"]["d_state"] == 4 and dumped["training"]["warmup_steps"] == 3  # the TOML
    assert dumped["model"]["expand"] == 2 and dumped["training"]["min_lr"] == 1e-4  # the flags
    assert dumped["training"]["epochs"] >= CPU["min_epochs"]  # sized to the dataset
    result = CliRunner().invoke(cli, ["train", str(dataset), "-o", str(tmp_path / "r"), "--device", "cpu",
                                      "--max-steps", "5", "--dump-config"])
    dumped = tomllib.loads(result.stdout)
    assert dumped["training"]["max_steps"] == 5 and "epochs" not in dumped["training"]
    result = CliRunner().invoke(cli, ["train", str(dataset), "-o", str(tmp_path / "r"), "--preset", "paper",
                                      "--dump-config"])
    dumped = tomllib.loads(result.stdout)
    assert dumped["model"]["d_model"] == 128 and dumped["model"]["resolution"] == 1
    assert dumped["training"]["max_steps"] == 50_000 and "epochs" not in dumped["training"]


@pytest.mark.slow
def test_default_train_in_a_log_file_prints_the_plan_and_progress_with_an_eta(dataset, tmp_path):
    run_dir = tmp_path / "run"
    log_file = tmp_path / "train.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), SEQ2EXP_PROGRESS_INTERVAL="0.01")
    with open(log_file, "w") as stderr:  # not a terminal, as under nohup or a cluster job
        done = subprocess.run([sys.executable, "-m", "seq2exp_cli", "train", str(dataset), "-o", str(run_dir),
                               "--d-model", "6", "--device", "cpu", "--patience", "1"], stderr=stderr, env=env,
                              timeout=600)
    text = log_file.read_text()
    assert done.returncode == 0, text
    assert "preset cpu: nomask, resolution 200" in text and "labelled/all genes: train" in text
    assert "per epoch" in text
    progress = [line for line in text.splitlines() if line.startswith("[seq2exp] train: step ")]
    assert progress and all("steps/s" in line for line in progress)
    assert any("ETA" in line for line in progress) and "loss" in progress[0]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["preset"] == "cpu" and record["sized_by_preset"]["epochs"] == record["train_config"]["epochs"]
    result = CliRunner().invoke(cli, ["train", str(dataset), "-o", str(run_dir), "--resume"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "run.json").read_text())["preset"] == "cpu"  # kept across the resume


def test_jaspar_reads_offline_and_parses_release_collection_taxon():
    from seq2exp_cli.io.motifs import jaspar_databases, load_motifs, parse_jaspar_spec

    releases = jaspar_databases()
    if not releases:
        pytest.skip("pyjaspar is not installed")
    assert parse_jaspar_spec("jaspar:2020:plants", list(releases)) == ("2020", "CORE", "plants")
    assert parse_jaspar_spec("jaspar", list(releases))[0] == max(releases)
    motifs, background, source = load_motifs("jaspar:2024")
    assert source == "JASPAR2024 CORE vertebrates" and len(motifs) > 800
    assert all(np.allclose(m.probs.sum(1), 1.0) for m in motifs[:50]) and background.tolist() == [0.25] * 4
    assert len({m.name.split()[0].split(".")[0] for m in motifs}) == len(motifs)  # one version per matrix
    from seq2exp_cli.errors import InputError

    with pytest.raises(InputError, match="release 1999 is not bundled"):
        load_motifs("jaspar:1999")


def test_motifs_ranked_by_enrichment_in_accessible_bases(dataset):
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.io.motifs import Motif
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.model.motif_init import choose_motifs

    data = PreparedDataset(dataset)
    # plant the most frequent 8-mer of the accessible bases as a motif: it must rank first
    train = data.labelled(data.indices("train"))
    item = data.load_gene(int(train[0]))
    seq, acc = item["seq"], np.asarray(item["signals"][:, 0], np.float32)
    cut = np.quantile(acc, 0.9)
    starts = [k for k in range(0, len(seq) - 8) if acc[k + 4] > max(cut, 0) and (seq[k:k + 8] < 4).all()]
    kmers = [tuple(seq[k:k + 8]) for k in starts]
    best = max(set(kmers), key=kmers.count)
    rng = np.random.default_rng(0)
    motifs = [Motif(f"random{k}", rng.dirichlet(np.ones(4), size=8)) for k in range(9)]
    motifs.append(Motif("planted", np.eye(4)[list(best)] * 0.97 + 0.0075))
    config = ModelConfig.for_data(data.data_config(), "hard", resolution=100, d_model=9)
    chosen, record = choose_motifs(motifs, np.full(4, 0.25), data, config, "test")
    assert record["capacity"] == 3 and len(chosen) == 3 and chosen[0].name == "planted"
    values = [c["log2_enrichment"] for c in record["chosen"]]
    assert values == sorted(values, reverse=True) and "accessible bases" in record["rule"]
    few, record = choose_motifs(motifs[:2], np.full(4, 0.25), data, config, "test")
    assert len(few) == 2 and record["rule"] == "all (they fit)"


def test_train_with_jaspar_records_the_choice(dataset, tmp_path):
    from seq2exp_cli.io.motifs import jaspar_databases

    if not jaspar_databases():
        pytest.skip("pyjaspar is not installed")
    result = CliRunner().invoke(cli, ["train", str(dataset), "-o", str(tmp_path / "r"), "--d-model", "12",
                                      "--resolution", "100", "--device", "cpu", "--max-steps", "2",
                                      "--motifs", "jaspar"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["motifs"]["source"].startswith("JASPAR") and record["motifs"]["capacity"] == 32
    assert len(record["motifs"]["chosen"]) == 32 and record["motifs"]["n_motifs"] > 800
