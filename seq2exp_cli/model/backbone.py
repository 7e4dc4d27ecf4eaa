"""Bidirectional Mamba backbone in pure PyTorch (Mamba v1 mixer, Caduceus-style bidirectionality).

Reads top to bottom: the selective scan (a custom autograd Function that never loops over
positions and never stores the (L, d_inner, d_state) state tensor), then RMSNorm, the Mamba
mixer, the bidirectional layer and the residual stack.

Shapes use: Bt batch, L positions, Dn = d_inner channels, N = d_state.

The selective scan computes, for every channel d and state n,
    s_t = exp(Delta_t A) s_{t-1} + Delta_t B_t u_t,      y_t = <C_t, s_t> + D u_t.
Algorithm (forward): the sequence is cut into blocks of ``block`` positions processed one after
the other with the state carried between them; only the state at each block start is saved.
Inside a block the positions are grouped into ``block // chunk`` chunks of ``chunk`` positions.
A chunked scan then runs in three vectorised steps:
  1. intra-chunk: ``chunk`` steps, step k advancing *all* chunks of the block by one position
     at once (a loop over the offset inside a chunk, never over the sequence), giving the local
     state from a zero start and the running product of decays P (products of numbers <= 1:
     they only shrink, so nothing overflows and nothing is ever divided by them);
  2. inter-chunk: a log-depth (Hillis-Steele) scan over the chunk summaries gives every
     chunk's true start state;
  3. correction: s_t = local_t + P_t * start(chunk of t), one vectorised multiply-add.
Backward recomputes each block from its saved start state (newest block first) and runs the
adjoint recurrence  g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1}  with the same chunked scan in
reverse. Peak memory is O(L Dn + (L / block) Dn N + block Dn N) instead of O(L Dn N).
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

# Positions per block: block tensors are (Bt, BLOCK, Dn, N); 1024 x 256 x 16 floats = 16 MB per
# tensor, small enough to stay in cache-friendly sizes on CPU, large enough to amortise the
# Python overhead of one block (about CHUNK + log2(BLOCK / CHUNK) tensor operations).
BLOCK = 1024
# Positions per chunk inside a block (the length of the intra-chunk step loop).
CHUNK = 32
# Forward keeps every block's states for backward (instead of recomputing them from the block's
# start state) when they take at most this many bytes: short sequences (a 200-kb window at
# R = 200 is 1,000 positions) then skip a third of the backward's work for a few MB.
KEEP_STATES_BYTES = 64 << 20
# Block and chunk for such short sequences: block memory no longer matters there, and smaller
# block tensors stay in cache (~10 % faster at 8 x 1,000 positions x 48 x 8 states).
SHORT_BLOCK = 512
SHORT_CHUNK = 16


# ---------------------------------------------------------------------------------------------
# Chunked linear-recurrence scan:  h_t = a_t * h_{t-1} + b_t
# Block tensors use an offset-major layout [Bt, chunk, n_chunks, ...]: position c*chunk + k sits
# at [:, k, c], so the intra-chunk step k touches one contiguous slice for all chunks at once.
# ---------------------------------------------------------------------------------------------
def _doubling_scan_(a: torch.Tensor, b: torch.Tensor) -> None:
    """In-place inclusive Hillis-Steele scan along dim 1 of the pairs (a, b).

    a, b: [Bt, K, M]. Afterwards b[:, k] = sum_j (prod_{j<i<=k} a_i) b_j and a[:, k] = prod_{i<=k} a_i.
    Used on chunk summaries only (K = block // chunk), so its log factor costs little.
    """
    k = 1
    n = a.shape[1]
    while k < n:
        # Out-of-place right-hand sides: source and destination overlap.
        b[:, k:] = torch.addcmul(b[:, k:], a[:, k:], b[:, :-k])
        a[:, k:] = a[:, k:] * a[:, :-k]
        k *= 2


def chunked_scan_(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """Solve h_t = a_t h_{t-1} + b_t for every position, in place (``a`` and ``b`` are overwritten).

    a, b: [Bt, chunk, n_chunks, M] contiguous, offset-major (position c * chunk + k at [:, k, c]);
    h0: [Bt, M] the state before the first position (after the last one when ``reverse``: then
    h_t = a_t h_{t+1} + b_t, run from the end). Returns h in ``b``'s storage, same shape.
    """
    tc = b.shape[1]
    # 1. intra-chunk local scan from a zero start, all chunks at once; a becomes the running
    #    decay product P (only shrinks: no overflow, and it is never divided by).
    offsets = range(tc - 2, -1, -1) if reverse else range(1, tc)
    prev = 1 if reverse else -1
    for k in offsets:
        b[:, k].addcmul_(a[:, k], b[:, k + prev])
        a[:, k].mul_(a[:, k + prev])
    # 2. chunk summaries (last offset in scan order) -> every chunk's start state.
    last = 0 if reverse else tc - 1
    pa = a[:, last].clone()
    pb = b[:, last].clone()
    if reverse:
        pa, pb = pa.flip(1), pb.flip(1)
    _doubling_scan_(pa, pb)
    ends = torch.addcmul(pb, pa, h0[:, None])  # state after each chunk, scan order
    starts = torch.cat([h0[:, None], ends[:, :-1]], 1)
    if reverse:
        starts = starts.flip(1)
    # 3. correction: h_t = local_t + P_t * start(chunk of t).
    return b.addcmul_(a, starts[:, None])


def _to_chunks(x: torch.Tensor, s: int, e: int, tc: int, shift: int = 0) -> torch.Tensor:
    """Positions s+shift : e+shift of x [Bt, L, ...] (zeros past e or past L), zero-padded to a
    multiple of tc and laid out offset-major: [Bt, tc, n_chunks, ...]."""
    length = x.shape[1]
    part = x[:, min(s + shift, length):min(e + shift, length)]
    n_pos = -(-(e - s) // tc) * tc
    if part.shape[1] < n_pos:
        # Zero Delta gives decay 1 and input 0: padded positions leave the recurrence unchanged.
        pad = part.new_zeros((part.shape[0], n_pos - part.shape[1]) + tuple(part.shape[2:]))
        part = torch.cat([part, pad], 1)
    return part.reshape((part.shape[0], n_pos // tc, tc) + tuple(part.shape[2:])).transpose(1, 2).contiguous()


def _from_chunks(x: torch.Tensor, t_len: int) -> torch.Tensor:
    """Inverse of _to_chunks: [Bt, tc, n_chunks, ...] -> [Bt, t_len, ...]."""
    bt, tc, nc = x.shape[:3]
    return x.transpose(1, 2).reshape((bt, tc * nc) + tuple(x.shape[3:]))[:, :t_len]


class _SelectiveScanFn(torch.autograd.Function):
    """Autograd Function for the blockwise selective scan (see the module docstring).

    States are laid out [..., N, Dn] (state index outside, channel inside): every broadcast
    product and reduction then runs along contiguous channels, which vectorises on CPU."""

    @staticmethod
    def forward(ctx, u, delta, a_mat, b_mat, c_mat, d_vec, block: int, chunk: int):  # type: ignore[override]
        bt, length, dn = u.shape
        n = a_mat.shape[1]
        a_t = a_mat.t().contiguous()  # [N, Dn]
        y = torch.empty_like(u)
        h = u.new_zeros(bt, n * dn)
        starts = []
        keep = bt * (-(-length // chunk) * chunk) * dn * n * u.element_size() <= KEEP_STATES_BYTES
        kept = []
        for s in range(0, length, block):
            e = min(s + block, length)
            starts.append(h)
            dlt = _to_chunks(delta, s, e, chunk)  # [Bt, tc, nc, Dn]
            d_a = torch.exp(dlt[..., None, :] * a_t)  # [Bt, tc, nc, N, Dn]
            d_bu = (dlt * _to_chunks(u, s, e, chunk))[..., None, :] * _to_chunks(b_mat, s, e, chunk)[..., None]
            tc, nc = dlt.shape[1:3]
            hs = chunked_scan_(d_a.view(bt, tc, nc, n * dn), d_bu.view(bt, tc, nc, n * dn), h)
            hs = hs.view(bt, tc, nc, n, dn)
            if keep:
                kept.append(hs)
            # y_t = <C_t, s_t>: sum over the state index
            yb = (hs * _to_chunks(c_mat, s, e, chunk)[..., None]).sum(-2)
            y[:, s:e] = _from_chunks(yb, e - s)
            # Padded positions are identities, so the last stored state is the block's end state.
            h = hs[:, -1, -1].reshape(bt, n * dn).clone()
        y = y + u * d_vec
        ctx.save_for_backward(u, delta, a_mat, b_mat, c_mat, d_vec, torch.stack(starts))
        ctx.block, ctx.chunk = block, chunk
        ctx.kept = kept  # intermediates, not inputs or outputs: kept on ctx
        return y

    @staticmethod
    def backward(ctx, dy):  # type: ignore[override]
        u, delta, a_mat, b_mat, c_mat, d_vec, starts = ctx.saved_tensors
        block, chunk = ctx.block, ctx.chunk
        bt, length, dn = u.shape
        n = a_mat.shape[1]
        a_t = a_mat.t().contiguous()  # [N, Dn]
        dy = dy.contiguous()
        du = dy * d_vec
        d_d = (dy * u).sum((0, 1))
        ddelta = torch.zeros_like(delta)
        d_at = torch.zeros_like(a_t)
        d_bmat = torch.zeros_like(b_mat)
        d_cmat = torch.zeros_like(c_mat)
        carry = u.new_zeros(bt, n * dn)  # exp(Delta_e A) g_e from the block after this one
        for i in range(starts.shape[0] - 1, -1, -1):
            s = i * block
            e = min(s + block, length)
            t_len = e - s
            dlt = _to_chunks(delta, s, e, chunk)
            ub = _to_chunks(u, s, e, chunk)
            bb = _to_chunks(b_mat, s, e, chunk)[..., None]  # [Bt, tc, nc, N, 1]
            cb = _to_chunks(c_mat, s, e, chunk)[..., None]
            dyb = _to_chunks(dy, s, e, chunk)
            tc, nc = dlt.shape[1:3]
            dlt_u = dlt * ub
            if ctx.kept:
                hs = ctx.kept[i]
            else:  # recompute the states of this block from its saved start state
                d_a = torch.exp(dlt[..., None, :] * a_t)
                d_bu = dlt_u[..., None, :] * bb
                hs = chunked_scan_(d_a.view(bt, tc, nc, n * dn), d_bu.view(bt, tc, nc, n * dn), starts[i])
                hs = hs.view(bt, tc, nc, n, dn)
            # Adjoint g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1}; the decay of the block's last
            # position is 1 here (the next block's decay is inside ``carry``).
            dlt_next = _to_chunks(delta[:, :e], s, e, chunk, shift=1)
            a_rev = torch.exp(dlt_next[..., None, :] * a_t)
            c_dy = dyb[..., None, :] * cb
            g = chunked_scan_(a_rev.view(bt, tc, nc, n * dn), c_dy.view(bt, tc, nc, n * dn), carry, reverse=True)
            g = g.view(bt, tc, nc, n, dn)
            carry = (torch.exp(delta[:, s, None, :] * a_t) * g[:, 0, 0]).reshape(bt, n * dn)
            # dC_t = sum_d dy_t,d s_t,n,d ; dB_t = sum_d g_t,n,d Delta_t,d u_t,d
            d_cmat[:, s:e] = _from_chunks((hs * dyb[..., None, :]).sum(-1), t_len)
            d_bmat[:, s:e] = _from_chunks((g * dlt_u[..., None, :]).sum(-1), t_len)
            d_dltu = (g * bb).sum(-2)  # d(Delta u): [Bt, tc, nc, Dn]
            # d(Delta A)_t = g_t * exp(Delta_t A) s_{t-1} = g_t * (s_t - Delta_t B_t u_t).
            gh = dlt_u[..., None, :] * bb
            torch.sub(hs, gh, out=gh)
            gh.mul_(g)
            d_dlt = d_dltu * ub + (gh * a_t).sum(-2)
            ddelta[:, s:e] = _from_chunks(d_dlt, t_len)
            du[:, s:e] += _from_chunks(d_dltu * dlt, t_len)
            d_at += (gh * dlt[..., None, :]).sum((0, 1, 2))
        ctx.kept = []  # a second backward (retain_graph) recomputes from the start states
        return du, ddelta, d_at.t(), d_bmat, d_cmat, d_d, None, None


def selective_scan(u: torch.Tensor, delta: torch.Tensor, a_mat: torch.Tensor, b_mat: torch.Tensor,
                   c_mat: torch.Tensor, d_vec: torch.Tensor | None = None, block: int | None = None,
                   chunk: int | None = None) -> torch.Tensor:
    """Mamba v1 selective scan without a Python loop over positions.

    u: [Bt, L, Dn] input; delta: [Bt, L, Dn] step sizes (already positive, e.g. softplus'd);
    a_mat: [Dn, N] (negative: A = -exp(A_log)); b_mat, c_mat: [Bt, L, N]; d_vec: [Dn] skip weights
    (None = no skip). ``block`` / ``chunk``: positions per block / per chunk (see module doc;
    None: BLOCK / CHUNK, or SHORT_BLOCK / SHORT_CHUNK when the states are kept for backward).
    Returns y: [Bt, L, Dn] with y_t = <C_t, s_t> + D u_t. Differentiable in all tensor inputs.
    When ``mamba_ssm`` is importable and the tensors are on CUDA, its fused kernel is used.
    """
    if d_vec is None:
        d_vec = u.new_zeros(u.shape[-1])
    if u.is_cuda:
        from seq2exp_cli.model.cuda_scan import cuda_selective_scan, has_cuda_scan

        if has_cuda_scan():
            return cuda_selective_scan(u, delta, a_mat, b_mat, c_mat, d_vec)
    if block is None or chunk is None:
        bt, length, dn = u.shape
        short = bt * length * dn * a_mat.shape[1] * u.element_size() <= KEEP_STATES_BYTES
        block = block if block is not None else (SHORT_BLOCK if short else BLOCK)
        chunk = chunk if chunk is not None else (SHORT_CHUNK if short else CHUNK)
    if block < 1 or chunk < 1:
        raise ValueError(f"selective_scan: block ({block}) and chunk ({chunk}) must be positive")
    # Whole chunks per block, so only the last block of a sequence is ever padded.
    block = max(chunk, block - block % chunk)
    return _SelectiveScanFn.apply(u.contiguous(), delta.contiguous(), a_mat.contiguous(), b_mat.contiguous(),
                                  c_mat.contiguous(), d_vec.contiguous(), block, chunk)


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """Root-mean-square layer norm over the last dim: x / rms(x) * weight. x: [..., d]."""

    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SSMCore(nn.Module):
    """The direction-specific part of a Mamba mixer: causal depthwise conv, SiLU, x_proj, dt_proj,
    softplus Delta, A = -exp(A_log), D skip and the selective scan. x: [Bt, L, Dn] -> y [Bt, L, Dn].

    Reference init: A_log = log(1..N) per channel, D = 1, dt_proj weight ~ U(+-dt_rank^-0.5), dt_proj
    bias = softplus^-1(dt) with dt ~ logUniform[dt_min, dt_max] (floored at 1e-4).
    """

    def __init__(self, d_inner: int, d_state: int = 16, d_conv: int = 4, dt_rank: int = 8,
                 dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        super().__init__()
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, dt_rank
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        std = dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=1e-4)
        with torch.no_grad():
            # softplus^-1(dt) = dt + log(1 - exp(-dt)), written with expm1 for accuracy.
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(d_inner))
        # Read by the optimiser set-up in training.py: no weight decay on these.
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D._no_weight_decay = True  # type: ignore[attr-defined]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        # Causal depthwise conv: pad both sides, keep the first L outputs. [Bt, Dn, L] layout.
        x = self.conv1d(x.transpose(1, 2))[..., :length].transpose(1, 2)
        x = F.silu(x)
        dt, b_mat, c_mat = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        a_mat = -torch.exp(self.A_log.float())
        return selective_scan(x, delta, a_mat, b_mat, c_mat, self.D.float())


class Mamba(nn.Module):
    """One-direction Mamba v1 mixer: in_proj -> [x, z]; y = SSMCore(x); out_proj(y * SiLU(z)).

    x: [Bt, L, d_model] -> [Bt, L, d_model]. d_inner = expand * d_model, dt_rank = ceil(d_model/16).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2) -> None:
        super().__init__()
        d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.core = SSMCore(d_inner, d_state, d_conv, math.ceil(d_model / 16))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xi, z = self.in_proj(x).chunk(2, dim=-1)
        return self.out_proj(self.core(xi) * F.silu(z))


class BiMambaMixer(nn.Module):
    """Caduceus-style bidirectional mixer: Mamba(x) + flip(Mamba'(flip(x))) where the reverse copy
    shares in_proj and out_proj with the forward one (separate conv, x_proj, dt_proj, A_log, D).

    Because both projections are linear and bias-free, the two outputs are summed before out_proj
    (out_proj(a) + out_proj(b) = out_proj(a + b)) and in_proj runs once. x: [Bt, L, d] -> same.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2) -> None:
        super().__init__()
        d_inner = expand * d_model
        dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.fwd = SSMCore(d_inner, d_state, d_conv, dt_rank)
        self.rev = SSMCore(d_inner, d_state, d_conv, dt_rank)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xi, z = self.in_proj(x).chunk(2, dim=-1)
        y = self.fwd(xi) + self.rev(xi.flip(1)).flip(1)
        return self.out_proj(y * F.silu(z))


class BiMambaLayer(nn.Module):
    """Pre-norm residual block: x + BiMambaMixer(RMSNorm(x)). x: [Bt, L, d] -> same.

    With ``scale`` [Bt, L] (the information-bottleneck mask): s * x + BiMambaMixer(s * RMSNorm(x)).
    The scale is applied after the norm because RMSNorm(s * x) = RMSNorm(x) for any s > 0: a soft
    mask multiplied into the input before a pre-norm block would not reach the mixer at all.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = RMSNorm(d_model, eps)
        self.mixer = BiMambaMixer(d_model, d_state, d_conv, expand)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        if scale is None:
            return x + self.mixer(self.norm(x))
        s = scale[..., None].to(x.dtype)
        return s * x + self.mixer(s * self.norm(x))


class MambaStack(nn.Module):
    """``n_layers`` BiMambaLayers followed by a final RMSNorm. x: [Bt, L, d] -> [Bt, L, d].

    ``input_scale`` [Bt, L] (optional) scales what the first layer reads at each position (see
    BiMambaLayer): position t contributes in proportion to input_scale[t]. Later layers are not
    scaled, since their inputs at t already mix in other positions.
    """

    def __init__(self, d_model: int, n_layers: int = 4, d_state: int = 16, d_conv: int = 4,
                 expand: int = 2, eps: float = 1e-5) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BiMambaLayer(d_model, d_state, d_conv, expand, eps) for _ in range(n_layers))
        self.norm_f = RMSNorm(d_model, eps)

    def forward(self, x: torch.Tensor, input_scale: torch.Tensor | None = None) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            x = layer(x, input_scale if k == 0 else None)
        return self.norm_f(x)
