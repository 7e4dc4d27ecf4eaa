"""The Seq2Exp model: config, pure-PyTorch bidirectional Mamba backbone, generator/prior/mask/predictor.

Names load on first use, so ``seq2exp_cli.model.config`` (what ``--help`` needs) imports no torch.
"""

import importlib

_WHERE = {
    "BiMambaLayer": "backbone", "Mamba": "backbone", "MambaStack": "backbone", "RMSNorm": "backbone",
    "selective_scan": "backbone", "ModelConfig": "config", "default_prior": "config",
    "recommended_resolution": "config", "Seq2Exp": "seq2exp", "Seq2ExpOutput": "seq2exp",
    "expand_mask": "seq2exp", "one_hot": "seq2exp",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"seq2exp_cli.model.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'seq2exp_cli.model' has no attribute {name!r}")
