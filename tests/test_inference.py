"""Tests for seq2exp_cli.inference: devices, compatibility checks, batched prediction, metrics
per split, model loading and mask extraction (genomic orientation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from seq2exp_cli.distributed import resolve_device
from seq2exp_cli.errors import InputError, ModelMismatchError
from seq2exp_cli.inference import (
    PREDICTION_COLUMNS,
    check_compatible,
    extract_masks,
    load_model,
    predict,
    predict_values,
    split_metrics,
)
from seq2exp_cli.metrics import regression_metrics

from test_training import ToyConfig, ToyDataset, ToyModel

WINDOW = 10_000  # a multiple of the 5-kb Hi-C bin
RESOLUTION = 100


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="not a device"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(InputError, match="GPU"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


class _Meta:
    def __init__(self, config):
        self.config = config

    def data_config(self):
        return self.config


def test_check_compatible_names_the_difference():
    trained = {"data_config": {"window": 100, "signal_names": ["dnase", "h3k27ac", "hic"],
                               "feature_names": ["promoter_dnase"], "hic_bin_size": 5000}}
    check_compatible(trained, _Meta(dict(trained["data_config"])))
    other = dict(trained["data_config"], signal_names=["dnase", "hic"], window=200)
    with pytest.raises(ModelMismatchError) as err:
        check_compatible(trained, _Meta(other))
    message = str(err.value)
    assert "missing ['h3k27ac']" in message and "window: model 100, dataset 200" in message
    assert "\n" not in message
    swapped = dict(trained["data_config"], signal_names=["h3k27ac", "dnase", "hic"])
    with pytest.raises(ModelMismatchError, match="order"):
        check_compatible(trained, _Meta(swapped))


def test_predict_matches_a_direct_forward_pass():
    torch.manual_seed(0)
    model = ToyModel(ToyConfig()).eval()
    ds = ToyDataset()
    indices = np.array([5, 1, 20, 3, 17])
    frame = predict(model, ds, indices, "cpu", batch_size=2)
    assert list(frame.columns) == PREDICTION_COLUMNS
    assert frame["gene_id"].tolist() == [f"G{i}" for i in indices]
    with torch.no_grad():
        for row, i in zip(frame.itertuples(), indices):
            g = ds.load_gene(int(i))
            out = model(torch.from_numpy(g["seq"])[None], torch.from_numpy(g["signals"])[None],
                        torch.from_numpy(g["features"])[None], torch.from_numpy(g["blacklist"])[None])
            assert row.predicted == pytest.approx(float(out.prediction), rel=1e-5, abs=1e-6)
            assert row.target == pytest.approx(float(g["target"]))
    assert model.training is False
    model.train()
    predict_values(model, ds, indices, torch.device("cpu"))
    assert model.training is True  # restored


def test_split_metrics():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"split": ["train"] * 5 + ["test"] * 5, "target": rng.normal(size=10),
                          "predicted": rng.normal(size=10)})
    frame.loc[0, "target"] = np.nan
    m = split_metrics(frame)
    assert list(m) == ["train", "test", "all"]
    assert m["train"]["n"] == 4 and m["all"]["n"] == 9
    ref = regression_metrics(frame["target"][5:], frame["predicted"][5:])
    assert m["test"]["spearman"] == pytest.approx(ref["spearman"])
    assert split_metrics(frame.assign(target=np.nan)) == {}


# ------------------------------------------------------------------------------ real model

@pytest.fixture(scope="module")
def seq2exp_mod():
    return pytest.importorskip("seq2exp_cli.model.seq2exp")


@pytest.fixture(scope="module")
def dataset(kit_seed0, tmp_path_factory):
    from seq2exp_cli.cli import cli
    from seq2exp_cli.dataset import PreparedDataset

    inputs = kit_seed0
    out = tmp_path_factory.mktemp("prepared") / "ds"
    args = ["prepare", "--fasta", str(inputs["fasta"]), "--genes", str(inputs["gtf"]),
            "--expression", str(inputs["expression"]), "--track", f"dnase={inputs['dnase']}",
            "--track", f"h3k27ac={inputs['h3k27ac']}", "--hic", str(inputs["cool"]),
            "--blacklist", str(inputs["blacklist"]), "--window", str(WINDOW), "--split-mode", "blocks",
            "--block-size", "40000", "--valid-fraction", "0.25", "--test-fraction", "0.25", "-o", str(out)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return PreparedDataset(out)


@pytest.fixture(scope="module")
def run_dir(dataset, seq2exp_mod, tmp_path_factory):
    """A model.pt written the way training writes it (untrained weights)."""
    from seq2exp_cli.checkpoints import save_checkpoint
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.train_run import model_payload as _model_payload

    torch.manual_seed(1)
    config = ModelConfig.for_data(dataset.data_config(), "soft", d_model=8, n_layers=1, resolution=RESOLUTION)
    model = seq2exp_mod.Seq2Exp(config)
    path = tmp_path_factory.mktemp("run")
    save_checkpoint(_model_payload(model, config, config.to_dict(), dataset.data_config(), 3, {"mse": 0.5}),
                    path / "model.pt")
    return path


def test_load_model_round_trip_and_refusals(run_dir, dataset, tmp_path):
    model, meta = load_model(run_dir, "cpu")
    assert not model.training and meta["step"] == 3 and "state_dict" not in meta
    check_compatible(meta, dataset)
    stored = torch.load(run_dir / "model.pt", weights_only=True)["state_dict"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, stored[key])
    evil = tmp_path / "model.pt"
    torch.save({"format": "seq2exp-model", "obj": Path("x")}, evil)
    with pytest.raises(ModelMismatchError, match="arbitrary Python objects"):
        load_model(tmp_path, "cpu")
    payload = torch.load(run_dir / "model.pt", weights_only=True)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, evil)
    with pytest.raises(ModelMismatchError, match="weights do not fit"):
        load_model(evil, "cpu")


def test_extract_masks_in_genomic_orientation(run_dir, dataset, seq2exp_mod):
    model, _ = load_model(run_dir, "cpu")
    indices = dataset.indices("all")
    masks = list(extract_masks(model, dataset, indices, "cpu", batch_size=3))
    assert [m.index for m in masks] == indices.tolist()
    seen_minus = seen_clipped = False
    for m in masks:
        chrom, start, end, strand = dataset.genomic_window(m.index)
        assert m.chrom == chrom and m.scores.dtype == np.float32 and len(m.scores) == m.end - m.start
        assert 0 <= m.start < m.end <= dataset.chrom_sizes[chrom]
        g = dataset.load_gene(m.index)
        with torch.no_grad():
            binned = model.mask_scores(torch.from_numpy(g["seq"])[None], torch.from_numpy(g["signals"])[None],
                                       torch.from_numpy(g["blacklist"])[None])
        per_bp = seq2exp_mod.expand_mask(binned, RESOLUTION)[0].numpy()  # transcription orientation
        if strand == "-":
            seen_minus = True
            genomic = per_bp[::-1]  # index i is genomic end - 1 - i
        else:
            genomic = per_bp
        seen_clipped |= (m.start, m.end) != (start, end)
        np.testing.assert_allclose(m.scores, genomic[m.start - start : m.end - start], rtol=1e-6, atol=1e-7)
        # blacklisted bases score 0, in genomic coordinates
        black = dataset.blacklist_mask(chrom, m.start, m.end)
        assert np.all(m.scores[black] == 0)
    assert seen_minus and seen_clipped
