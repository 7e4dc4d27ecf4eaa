"""Tests for seq2exp_cli.training (and train_optim, train_batches, train_run), with a tiny
stand-in model and dataset defined here (the real model is exercised end to end in test_cli_train_predict.py)."""

from __future__ import annotations

import json
import math
import random
from collections import namedtuple
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seq2exp_cli.checkpoints import LAST_FORMAT, MODEL_FORMAT
from seq2exp_cli.errors import InputError, ModelMismatchError, OutputExistsError, TrainingError
from seq2exp_cli.metrics import regression_metrics
from seq2exp_cli.train_batches import epoch_batches
from seq2exp_cli.train_config import TrainConfig
from seq2exp_cli.train_optim import WarmupCosine, effective_warmup, param_groups
from seq2exp_cli.train_run import prepare_run_dir
from seq2exp_cli.training import fit

# ------------------------------------------------------------------------------ stand-ins

Output = namedtuple("Output", "prediction kl mask alpha beta")


@dataclass
class ToyConfig:
    """Stand-in for ModelConfig: to_dict, kl_weight, variant."""

    width: int = 8
    n_signals: int = 2
    kl_weight: float = 0.01
    variant: str = "toy"
    noisy: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class ToyModel(torch.nn.Module):
    """Embeds one-hot DNA + signals, adds Beta-like noise in training (uses the global RNG)."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = torch.nn.Linear(4 + config.n_signals, config.width)
        self.norm = torch.nn.LayerNorm(config.width)
        self.A_log = torch.nn.Parameter(torch.zeros(config.width, 2))
        self.D = torch.nn.Parameter(torch.ones(config.width))
        self.head = torch.nn.Linear(config.width, 1)

    def forward(self, seq, signals, features, blacklist):
        onehot = torch.nn.functional.one_hot(seq.long(), 5)[..., :4].float()
        h = self.norm(self.embed(torch.cat([onehot, signals], -1)))  # [B, L, W]
        mask = torch.ones(h.shape[:2])
        if self.training and self.config.noisy:
            mask = torch.rand(h.shape[:2])  # the RNG draw a resume must reproduce
        h = h * mask.unsqueeze(-1) * self.D + self.A_log.sum()
        pred = self.head(h.mean(1)).squeeze(-1)
        kl = (mask - 0.5).pow(2).mean(1)
        return Output(pred, kl, mask, mask, mask)


def toy_loss(output, target):
    pred = torch.nn.functional.mse_loss(output.prediction, target)
    kl = output.kl.mean()
    return pred + 0.01 * kl, {"prediction": pred.detach(), "kl": kl.detach()}


class ToyDataset:
    """Duck-typed PreparedDataset: 24 genes, window 32, two signals, target = signal mean."""

    def __init__(self, n: int = 24, window: int = 32, seed: int = 0, valid_labelled: bool = True,
                 nan_signal: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.path = Path("toy")
        self.window = window
        self.chrom_sizes = {"chr1": 10_000}
        self._seq = rng.integers(0, 5, (n, window)).astype(np.uint8)
        self._signals = rng.random((n, window, 2)).astype(np.float32)
        target = self._signals.mean((1, 2)) * 3.0
        if nan_signal:  # a corrupt track: the forward pass overflows
            self._signals[:] = np.inf
        split = np.array(["train"] * (n - 8) + ["valid"] * 4 + ["test"] * 4)
        if not valid_labelled:
            target[split == "valid"] = np.nan
        self.genes = pd.DataFrame({
            "gene_id": [f"G{i}" for i in range(n)], "name": [f"g{i}" for i in range(n)], "chrom": "chr1",
            "tss": 100 + 200 * np.arange(n), "strand": np.where(np.arange(n) % 2, "-", "+"),
            "target": target, "split": split,
        })

    def indices(self, split="all"):
        if split == "all":
            return np.arange(len(self.genes))
        return np.flatnonzero(self.genes["split"].to_numpy() == split)

    def labelled(self, indices):
        indices = np.asarray(indices)
        return indices[np.isfinite(self.genes["target"].to_numpy()[indices])]

    def data_config(self):
        return {"window": self.window, "signal_names": ["a", "b"], "feature_names": []}

    def genomic_window(self, i):
        tss = int(self.genes.at[i, "tss"])
        return "chr1", tss - self.window // 2, tss - self.window // 2 + self.window, self.genes.at[i, "strand"]

    def load_gene(self, i):
        return {"seq": self._seq[i], "signals": self._signals[i], "features": np.zeros(0, np.float32),
                "target": np.float32(self.genes.at[i, "target"]), "blacklist": np.zeros(self.window, bool),
                "index": int(i)}


def _fit(tmp_path, name="run", resume=False, dataset=None, progress=None, **overrides):
    cfg = TrainConfig(**{"max_steps": 6, "batch_size": 4, "eval_every": 3, "checkpoint_every": 1,
                         "device": "cpu", "lr": 1e-2, "warmup_steps": 2, **overrides})
    run_dir = prepare_run_dir(tmp_path / name, force=False, resume=resume)
    return fit(dataset or ToyDataset(), run_dir, ToyConfig(), cfg, resume=resume, progress=progress,
               model_factory=ToyModel, loss_fn=toy_loss)


class Crash(Exception):
    """Raised from a progress callback: the run dies in the middle of a step."""


def _fit_cut_and_resume(tmp_path, name, crash_step, **overrides):
    """Run until step ``crash_step`` starts reporting, die there, then resume to the end."""
    def crash(info):
        if info.get("step") == crash_step and "loss" in info:
            raise Crash

    with pytest.raises(Crash):
        _fit(tmp_path, name, progress=crash, **overrides)
    # last.pt holds the step before (checkpoint_every=1 writes after a step completes)
    assert torch.load(tmp_path / name / "last.pt", weights_only=True)["step"] == crash_step - 1
    return _fit(tmp_path, name, resume=True, **overrides)


# ------------------------------------------------------------------------------ optimiser, schedule


def test_param_groups_exclude_bias_norm_ssm_params():
    model = ToyModel(ToyConfig())
    decay, no_decay = param_groups(model, 1e-6)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decay["params"]} == {"embed.weight", "head.weight"}
    assert {names[id(p)] for p in no_decay["params"]} == {"embed.bias", "norm.weight", "norm.bias", "A_log", "D",
                                                          "head.bias"}
    assert decay["weight_decay"] == 1e-6 and no_decay["weight_decay"] == 0.0


def test_warmup_cosine_schedule_and_short_run_cap():
    cfg = TrainConfig()
    assert effective_warmup(cfg, 50_000) == 5000
    assert effective_warmup(cfg, 100) == 10  # capped at 10 % of a short run
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupCosine(opt, 5e-4, 1e-4, 10, 100)
    assert sched.lr_at(0) == pytest.approx(5e-5)
    assert sched.lr_at(9) == pytest.approx(5e-4)
    assert sched.lr_at(55) == pytest.approx(1e-4 + 0.5 * 4e-4 * (1 + math.cos(math.pi * 0.5)))
    assert sched.lr_at(100) == pytest.approx(1e-4)
    assert sched.lr_at(500) == pytest.approx(1e-4)
    lrs = [sched.lr_at(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert sched.apply(3) == opt.param_groups[0]["lr"]


def test_train_config_rejects_unknown_and_bad_values():
    with pytest.raises(InputError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(InputError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": 0})
    cfg = TrainConfig.from_dict({"betas": [0.8, 0.9], "patience": 3})
    assert cfg.betas == (0.8, 0.9) and TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_epoch_batches_are_full_deterministic_permutations():
    a = epoch_batches(10, 4, seed=5, epoch=0)
    assert a.shape == (3, 4)
    assert sorted(a.ravel()[:10].tolist()) == list(range(10))
    assert np.array_equal(a, epoch_batches(10, 4, seed=5, epoch=0))
    assert not np.array_equal(a, epoch_batches(10, 4, seed=5, epoch=1))
    assert epoch_batches(3, 8, 0, 0).shape == (1, 8)  # fewer genes than one batch: wrap around


# ------------------------------------------------------------------------------ fit


def test_fit_writes_run_files_and_learns(tmp_path):
    seen = []
    result = _fit(tmp_path, max_steps=30, eval_every=10, progress=seen.append, lr=3e-2)
    run = tmp_path / "run"
    assert result.steps == 30 and 1 <= result.best_step <= 30
    model = torch.load(run / "model.pt", weights_only=True)
    assert model["format"] == MODEL_FORMAT and model["step"] == result.best_step
    assert model["model_config"]["width"] == 8 and model["data_config"]["window"] == 32
    assert set(model["val_metrics"]) >= {"mse", "mae", "pearson", "spearman"}
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["format"] == LAST_FORMAT and last["step"] == 30 and len(last["rng"]) == 1
    metrics = pd.read_csv(run / "metrics.tsv", sep="\t")
    assert metrics["step"].tolist() == [10, 20, 30]
    assert metrics["val_mse"].min() == pytest.approx(model["val_metrics"]["mse"], rel=1e-5)
    losses = [s["loss"] for s in seen if "loss" in s]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # it learns
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished" and record["seed"] == 2222 and record["derived"]["warmup_steps"] == 2
    assert record["train_config"]["lr"] == 3e-2 and "torch" in record["versions"]
    assert [s["step"] for s in seen if "loss" in s] == list(range(1, 31))
    assert all(s["lr"] > 0 and s["genes_per_s"] > 0 for s in seen if "loss" in s)


def test_fit_model_pt_holds_best_weights(tmp_path):
    _fit(tmp_path, max_steps=9, eval_every=3)
    run = tmp_path / "run"
    payload = torch.load(run / "model.pt", weights_only=True)
    model = ToyModel(ToyConfig())
    model.load_state_dict(payload["state_dict"])
    ds = ToyDataset()
    from seq2exp_cli.inference import predict_values

    valid = ds.labelled(ds.indices("valid"))
    pred = predict_values(model, ds, valid, torch.device("cpu"), batch_size=3)
    mse = regression_metrics(ds.genes["target"].to_numpy()[valid], pred)["mse"]
    assert mse == pytest.approx(payload["val_metrics"]["mse"], rel=1e-6)


def test_fit_is_deterministic_and_resume_is_bit_identical(tmp_path):
    _fit(tmp_path, "full", max_steps=8)

    _fit_cut_and_resume(tmp_path, "cut", 5, max_steps=8)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert b["step"] == 8
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    ma = pd.read_csv(tmp_path / "full" / "metrics.tsv", sep="\t")
    mb = pd.read_csv(tmp_path / "cut" / "metrics.tsv", sep="\t")
    assert ma[["step", "val_mse"]].equals(mb[["step", "val_mse"]])


def test_fit_early_stopping(tmp_path):
    result = _fit(tmp_path, max_steps=60, eval_every=1, patience=2, lr=0.5, warmup_steps=0)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.tsv", sep="\t")
    assert result.stopped_early and result.steps < 60
    assert metrics["best"].tolist()[-2:] == [0, 0]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "stopped_early"


def test_fit_errors(tmp_path):
    with pytest.raises(InputError, match="valid split has no labelled genes"):
        _fit(tmp_path, "a", dataset=ToyDataset(valid_labelled=False))
    _fit(tmp_path, "b", max_steps=2)
    before = (tmp_path / "b" / "model.pt").read_bytes()
    with pytest.raises(TrainingError, match="non-finite loss at step 1"):
        _fit(tmp_path, "c", dataset=ToyDataset(nan_signal=True))
    assert json.loads((tmp_path / "c" / "run.json").read_text())["status"] == "failed"
    assert not (tmp_path / "c" / "model.pt").exists()
    with pytest.raises(OutputExistsError, match="--resume"):
        prepare_run_dir(tmp_path / "b", force=False, resume=False)
    with pytest.raises(InputError, match="nothing to resume"):
        prepare_run_dir(tmp_path / "fresh", force=False, resume=True)
    assert (tmp_path / "b" / "model.pt").read_bytes() == before
    prepare_run_dir(tmp_path / "b", force=True, resume=False)
    assert not (tmp_path / "b" / "model.pt").exists()


def test_resume_with_other_model_settings_is_refused(tmp_path):
    _fit(tmp_path, max_steps=2)
    cfg = TrainConfig(max_steps=4, batch_size=4, eval_every=2, device="cpu")
    with pytest.raises(ModelMismatchError, match="width"):
        fit(ToyDataset(), tmp_path / "run", ToyConfig(width=16), cfg, resume=True,
            model_factory=ToyModel, loss_fn=toy_loss)


def test_weight_average_follows_its_formula():
    from seq2exp_cli.train_optim import WeightAverage

    torch.manual_seed(0)
    model = ToyModel(ToyConfig())
    start = {k: v.clone() for k, v in model.state_dict().items()}
    average = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(model)
    for name, value in average.model.state_dict().items():
        torch.testing.assert_close(value, start[name] + 0.1)  # 0.9 * w + 0.1 * (w + 1)
    assert not any(p.requires_grad for p in average.model.parameters())


def test_fit_with_ema_saves_averaged_weights_and_resumes_bit_identical(tmp_path):
    _fit(tmp_path, "full", max_steps=8, eval_every=8, ema_decay=0.8)
    full_model = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    last = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    # model.pt holds the average, which differs from the trained weights
    assert any(not torch.equal(full_model["state_dict"][k], last["model"][k]) for k in last["model"])
    for key, value in last["ema"].items():
        assert torch.equal(full_model["state_dict"][key], value), key

    _fit_cut_and_resume(tmp_path, "cut", 5, max_steps=8, eval_every=8, ema_decay=0.8)
    again = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for key in last["ema"]:
        assert torch.equal(last["ema"][key], again["ema"][key]), key
    assert _fit(tmp_path, "plain", max_steps=2).steps == 2  # off by default: no average kept
    assert torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["ema"] is None


def test_shift_windows_moves_each_row_and_fills_with_n():
    from seq2exp_cli.train_batches import shift_windows

    seq = torch.arange(20, dtype=torch.uint8).remainder(4).repeat(3, 1)
    signals = torch.arange(20, dtype=torch.float32)[None, :, None].repeat(3, 1, 2) + 1
    black = torch.zeros(3, 20, dtype=torch.bool)
    black[:, 5] = True
    torch.manual_seed(0)
    out = shift_windows({"seq": seq, "signals": signals, "blacklist": black, "target": torch.ones(3)}, 3)
    assert torch.equal(out["target"], torch.ones(3))
    for row in range(3):
        # the signal value tells where each output base came from: input position = value - 1
        moved = out["signals"][row, :, 0]
        kept = moved > 0
        offset = int((torch.arange(20)[kept] - (moved[kept] - 1)).unique().item())
        assert -3 <= offset <= 3
        assert torch.equal(out["seq"][row, kept], seq[row, (moved[kept] - 1).long()])
        assert (out["seq"][row, ~kept] == 4).all() and int((~kept).sum()) == abs(offset)
        assert bool(out["blacklist"][row, 5 + offset]) and int(out["blacklist"][row].sum()) == 1
    torch.manual_seed(0)
    again = shift_windows({"seq": seq, "signals": signals, "blacklist": black}, 3)
    assert torch.equal(again["seq"], out["seq"])  # from the (checkpointed) torch RNG


def test_fit_with_shifts_resumes_bit_identical(tmp_path):
    _fit(tmp_path, "full", max_steps=6, max_shift=2)

    _fit_cut_and_resume(tmp_path, "cut", 4, max_steps=6, max_shift=2)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    plain = _fit(tmp_path, "plain", max_steps=6)
    c = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)
    assert plain.steps == 6 and any(not torch.equal(a["model"][k], c["model"][k]) for k in a["model"])
