"""seq2exp_cli.checkpoints: weights-only files, RNG state round trips, atomic saves."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from seq2exp_cli.checkpoints import (
    CHECKPOINT_VERSION,
    LAST_FORMAT,
    MODEL_FORMAT,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from seq2exp_cli.errors import ModelMismatchError


def test_rng_state_roundtrip_through_weights_only_file(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    np.random.normal()  # leaves a cached gaussian in numpy's state
    state = capture_rng_state()
    save_checkpoint({"format": "x", "rng": state}, tmp_path / "s.pt")
    expected = (torch.rand(3), np.random.normal(size=3), random.random())
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)
    restore_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.normal(size=3), expected[1])
    assert random.random() == expected[2]


def test_load_checkpoint_refuses_arbitrary_pickle_and_foreign_files(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": MODEL_FORMAT, "obj": Path("x")}, evil)  # needs unpickling a class
    with pytest.raises(ModelMismatchError, match="arbitrary Python objects"):
        load_checkpoint(evil, MODEL_FORMAT)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelMismatchError, match="evil|plain|not a"):
        load_checkpoint(plain, MODEL_FORMAT)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ModelMismatchError, match="not a seq2exp checkpoint"):
        load_checkpoint(other, MODEL_FORMAT)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(ModelMismatchError):
        load_checkpoint(text, MODEL_FORMAT)
    with pytest.raises(ModelMismatchError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt", MODEL_FORMAT)


def test_save_checkpoint_failure_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_checkpoint({"format": "a", "v": torch.ones(2)}, path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint({"format": "b"}, path)
    assert torch.load(path, weights_only=True)["format"] == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary left


def test_load_checkpoint_checks_the_format_and_version(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"format": LAST_FORMAT, "checkpoint_version": CHECKPOINT_VERSION, "step": 3}, path)
    assert load_checkpoint(path, LAST_FORMAT)["step"] == 3
    with pytest.raises(ModelMismatchError, match="expected"):
        load_checkpoint(path, MODEL_FORMAT)
    save_checkpoint({"format": LAST_FORMAT, "checkpoint_version": CHECKPOINT_VERSION + 1}, path)
    with pytest.raises(ModelMismatchError, match="retrain"):
        load_checkpoint(path, LAST_FORMAT)
