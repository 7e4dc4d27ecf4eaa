"""Pure loss functions of Seq2Exp (tensors in, tensors out; no module state)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def beta_kl(a1: torch.Tensor, b1: torch.Tensor, a2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(Beta(a1, b1) || Beta(a2, b2)), elementwise over broadcast shapes.

    KL = ln B(a2,b2) - ln B(a1,b1) + (a1-a2) psi(a1) + (b1-b2) psi(b1) + (a2-a1+b2-b1) psi(a1+b1).
    """
    s1 = a1 + b1
    log_beta1 = torch.lgamma(a1) + torch.lgamma(b1) - torch.lgamma(s1)
    log_beta2 = torch.lgamma(a2) + torch.lgamma(b2) - torch.lgamma(a2 + b2)
    return (log_beta2 - log_beta1 + (a1 - a2) * torch.digamma(a1) + (b1 - b2) * torch.digamma(b1)
            + (a2 - a1 + b2 - b1) * torch.digamma(s1))


def prediction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SmoothL1 (beta 1.0) mean over samples whose target is not NaN; 0 (with grad) when none.

    pred, target: [B]. Returns a scalar.
    """
    keep = ~torch.isnan(target)
    if not bool(keep.any()):
        return pred.sum() * 0.0
    return F.smooth_l1_loss(pred[keep], target[keep], beta=1.0)


def seq2exp_loss(output: Any, target: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss = prediction_loss + kl_weight * mean over labelled samples of output.kl
    (+ output.penalty, the model's own regulariser, when it has one).

    output: a Seq2ExpOutput (prediction [B], kl [B], penalty scalar or None); target: [B] (NaN = unlabelled).
    Returns (total scalar tensor, {"total", "prediction", "kl"} as floats for logging).
    """
    pred_loss = prediction_loss(output.prediction, target)
    keep = ~torch.isnan(target)
    kl = output.kl[keep].mean() if bool(keep.any()) else output.kl.sum() * 0.0
    total = pred_loss + kl_weight * kl
    penalty = getattr(output, "penalty", None)
    if penalty is not None:
        total = total + penalty
    return total, {"total": float(total.detach()), "prediction": float(pred_loss.detach()),
                   "kl": float(kl.detach())}
