"""Optional CUDA fast path: the fused selective-scan kernel of ``mamba_ssm`` (never required).

``selective_scan`` in backbone.py calls ``cuda_selective_scan`` when the tensors are on CUDA and
``mamba_ssm`` imports; everything else (CPU, or CUDA without mamba_ssm) uses the pure PyTorch
blockwise scan, which gives the same numbers to float32 rounding.
"""

from __future__ import annotations

import functools
import logging

import torch

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _kernel():
    """The mamba_ssm ``selective_scan_fn`` or None when mamba_ssm (or its CUDA build) is absent."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as err:  # ImportError, or a CUDA extension that fails to load
        logger.debug("mamba_ssm selective scan unavailable (%s); using the pure PyTorch scan", err)
        return None
    return selective_scan_fn


def has_cuda_scan() -> bool:
    """True when CUDA is available and mamba_ssm's selective-scan kernel imports."""
    return torch.cuda.is_available() and _kernel() is not None


def cuda_selective_scan(u: torch.Tensor, delta: torch.Tensor, a_mat: torch.Tensor, b_mat: torch.Tensor,
                        c_mat: torch.Tensor, d_vec: torch.Tensor) -> torch.Tensor:
    """Same contract as ``backbone.selective_scan`` (u, delta [Bt, L, Dn]; a_mat [Dn, N]; b_mat,
    c_mat [Bt, L, N]; d_vec [Dn]) -> y [Bt, L, Dn], computed by mamba_ssm's kernel, which wants
    channels-first layouts ([Bt, Dn, L] and [Bt, N, L]) and float32 A and D.
    """
    kernel = _kernel()
    if kernel is None:
        raise RuntimeError("cuda_selective_scan called but mamba_ssm is not importable; use selective_scan")
    y = kernel(u.transpose(1, 2).contiguous(), delta.transpose(1, 2).contiguous(), a_mat.float().contiguous(),
               b_mat.transpose(1, 2).contiguous(), c_mat.transpose(1, 2).contiguous(), D=d_vec.float(),
               z=None, delta_bias=None, delta_softplus=False)
    return y.transpose(1, 2)
