"""The Python API (seq2exp_cli.api, docs/api.md) on the tiny shared fixtures: each function
returns what its command writes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_MODEL_ARGS, TINY_WINDOW, invoke
from seq2exp_cli.errors import InputError


def test_import_of_the_package_stays_light():
    code = ("import sys, seq2exp_cli; from seq2exp_cli import call_elements; "
            "print(int('torch' in sys.modules), int('pandas' in sys.modules), callable(call_elements))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "0", "True"]


def test_prepare_dataset_writes_what_the_command_writes(tiny_inputs, tiny_dataset, tmp_path):
    from seq2exp_cli import prepare_dataset

    data = prepare_dataset(
        tiny_inputs["fasta"], tiny_inputs["gtf"], tmp_path / "ds",
        tracks={"dnase": tiny_inputs["dnase"], "h3k27ac": tiny_inputs["h3k27ac"]},
        expression=tiny_inputs["expression"], hic=tiny_inputs["cool"], blacklist=tiny_inputs["blacklist"],
        window=TINY_WINDOW, split_mode="blocks", block_size=40_000, valid_fraction=0.25, test_fraction=0.25,
    )
    assert data.path == tmp_path / "ds"
    for name in ("genes.tsv", "regions.tsv", "blacklist.bed", "arrays/seq.u8", "arrays/tracks.f16", "arrays/hic.f32"):
        assert (data.path / name).read_bytes() == (tiny_dataset / name).read_bytes(), name


def test_prepare_dataset_refuses_an_unknown_option(tiny_inputs, tmp_path):
    from seq2exp_cli import prepare_dataset

    with pytest.raises(InputError, match="windw"):
        prepare_dataset(tiny_inputs["fasta"], tiny_inputs["gtf"], tmp_path / "ds", windw=10_000)


def test_resolve_settings_merges_values_over_the_preset(tiny_dataset):
    from seq2exp_cli import resolve_settings
    from seq2exp_cli.dataset import PreparedDataset

    data = PreparedDataset(tiny_dataset)
    plan = resolve_settings(data, preset="cpu", config={"training": {"lr": 1e-3, "seed": 5}},
                            values={"d_model": 8, "seed": 7, "device": "cpu"})
    assert plan.model_config.d_model == 8
    assert plan.train_config.lr == 1e-3 and plan.train_config.seed == 7  # values win over the config
    with pytest.raises(InputError, match="d_modle"):
        resolve_settings(data, values={"d_modle": 8})


def _tiny_settings() -> dict:
    """TINY_MODEL_ARGS as keyword arguments."""
    pairs = dict(zip(TINY_MODEL_ARGS[::2], TINY_MODEL_ARGS[1::2]))
    return {flag[2:].replace("-", "_"): (value if flag == "--device" else int(value)) for flag, value in pairs.items()}


def test_train_gives_the_commands_model(tiny_dataset, tiny_model, tmp_path):
    from seq2exp_cli import train

    result = train(tiny_dataset, tmp_path / "run", **_tiny_settings())
    assert result.fit.steps == 4 and result.best_metrics
    assert (tmp_path / "run" / "model.pt").read_bytes() == (tiny_model / "model.pt").read_bytes()


def test_predict_returns_the_commands_table(tiny_dataset, tiny_model, tmp_path):
    from seq2exp_cli import predict
    from seq2exp_cli.inference import PREDICTION_COLUMNS

    out = tmp_path / "p.tsv"
    assert invoke(["-q", "predict", tiny_model, tiny_dataset, "-o", out, "--device", "cpu"]).exit_code == 0
    written = pd.read_csv(out, sep="\t")
    result = predict(tiny_model, tiny_dataset, device="cpu")
    assert list(result.table.columns) == PREDICTION_COLUMNS
    assert result.table["gene_id"].tolist() == written["gene_id"].tolist()
    np.testing.assert_allclose(result.table["predicted"], written["predicted"], rtol=1e-5)
    assert set(result.metrics) <= {"test"}


def test_call_elements_returns_tables_and_writes_the_commands_files(tiny_dataset, tiny_model, tmp_path):
    from seq2exp_cli import call_elements, write_elements

    out = tmp_path / "cli" / "calls.narrowPeak"
    out.parent.mkdir()
    result = invoke(["-q", "call-elements", tiny_model, tiny_dataset, "-o", out, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    calls = call_elements(tiny_model, tiny_dataset, name="calls", device="cpu")
    assert list(calls.elements.columns)[:3] == ["chrom", "start", "end"]
    assert len(calls.elements) == len(out.read_text().splitlines())
    assert calls.links is not None and "TargetGene" in calls.links.columns
    mine = tmp_path / "api" / "calls.narrowPeak"
    mine.parent.mkdir()
    paths = write_elements(calls, mine)
    assert set(paths) == {"narrowPeak", "summits", "links", "bedpe", "interact"}
    for kind, path in paths.items():
        assert path.read_bytes() == (out.parent / path.name).read_bytes(), kind


def test_call_elements_from_a_score_file(score_bedgraph):
    from seq2exp_cli import call_elements

    calls = call_elements(scores=score_bedgraph, cutoff=0.5, min_length=100)
    assert calls.elements[["chrom", "start", "end"]].values.tolist() == [["chrA", 100, 400], ["chrB", 0, 300]]
    assert calls.links is None and calls.score == "file"
    with pytest.raises(InputError, match="run_dir and dataset"):
        call_elements(scores=score_bedgraph, dataset="somewhere")
