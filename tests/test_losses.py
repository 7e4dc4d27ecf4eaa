"""Tests for seq2exp_cli.losses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from seq2exp_cli.losses import beta_kl, prediction_loss, seq2exp_loss


def test_beta_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    a1, b1, a2, b2 = (torch.rand(50, generator=g, dtype=torch.float64) * 20 + 0.05 for _ in range(4))
    ref = torch.distributions.kl_divergence(torch.distributions.Beta(a1, b1), torch.distributions.Beta(a2, b2))
    assert torch.allclose(beta_kl(a1, b1, a2, b2), ref, rtol=1e-10, atol=1e-10)


def test_beta_kl_zero_for_same_and_positive_otherwise():
    a = torch.tensor([0.5, 2.0, 10.0])
    assert torch.allclose(beta_kl(a, a + 1, a, a + 1), torch.zeros(3), atol=1e-5)
    assert (beta_kl(a, a + 1, a + 1, a) > 0).all()


def test_beta_kl_broadcast_and_gradcheck():
    a1 = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    b1 = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    r_a, r_b = torch.tensor(10.0, dtype=torch.float64), torch.tensor(90.0, dtype=torch.float64)
    assert beta_kl(a1 + 1, b1 + 1, r_a, r_b).shape == (3, 4)
    assert torch.autograd.gradcheck(lambda x, y: beta_kl(x + 0.5, y + 0.5, r_a, r_b), (a1, b1))


def test_prediction_loss_ignores_nan_and_is_smooth_l1():
    pred = torch.tensor([0.0, 1.0, 5.0], requires_grad=True)
    target = torch.tensor([0.5, float("nan"), 1.0])
    loss = prediction_loss(pred, target)
    assert loss.item() == pytest.approx((0.5 * 0.25 + (4.0 - 0.5)) / 2)
    loss.backward()
    assert pred.grad[1] == 0
    all_nan = prediction_loss(pred, torch.full((3,), float("nan")))
    assert all_nan.item() == 0.0 and all_nan.requires_grad


def test_seq2exp_loss_combines_parts():
    out = SimpleNamespace(prediction=torch.tensor([1.0, 2.0]), kl=torch.tensor([3.0, 5.0]))
    total, parts = seq2exp_loss(out, torch.tensor([1.0, float("nan")]), kl_weight=0.5)
    assert parts["prediction"] == 0.0 and parts["kl"] == 3.0
    assert total.item() == pytest.approx(1.5) and parts["total"] == pytest.approx(1.5)
