"""The Seq2Exp model: config, pure-PyTorch bidirectional Mamba backbone, generator/prior/mask/predictor."""

from seq2exp_cli.model.backbone import BiMambaLayer, Mamba, MambaStack, RMSNorm, selective_scan
from seq2exp_cli.model.config import ModelConfig, default_prior, recommended_resolution
from seq2exp_cli.model.seq2exp import Seq2Exp, Seq2ExpOutput, expand_mask, one_hot

__all__ = ["BiMambaLayer", "Mamba", "MambaStack", "ModelConfig", "RMSNorm", "Seq2Exp", "Seq2ExpOutput",
           "default_prior", "expand_mask", "one_hot", "recommended_resolution", "selective_scan"]
