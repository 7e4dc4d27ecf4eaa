"""The max-pooled motif convolution of the R > 1 stem, computed from the base codes directly.

``motif_max_pool(seq, weight, bias, R)`` equals
``F.max_pool1d(F.conv1d(one_hot(seq), weight, bias, padding=K // 2)[..., :L], R)`` (the stem's
per-bin maximum of its K-bp motif detectors) to float32 rounding, at a fraction of the cost:

- Forward. A convolution of a one-hot input is a sum of table look-ups: the output at t is
  ``sum_k W[:, seq[t - K//2 + k], k]``. Taps are grouped ``KMER`` at a time, so each group is one
  look-up of the k-mer that starts there in a table of 5^KMER rows (the sum of that k-mer's
  weights; code 4, N or padding, weighs 0). ``embedding_bag`` adds the ceil(K / KMER) look-ups
  per position without building the one-hot (4x the input) or its im2col (60x) copies, and the
  per-bin maximum is taken chunk by chunk, so the per-bp detector outputs (B x L x d floats, 300 MB
  for 8 windows of 200 kb at d 48) never exist at once.
- Backward. Only the arg-max position of each (window, bin, channel) receives a gradient, so
  ``dW[d, c, k] = sum over (window, bin) of g * [seq at argmax + k - K//2 == c]``: one scatter of
  B x n x d x K values, instead of a dense B x d x L gradient and a full convolution backward.

Ties (equal maxima inside a bin) send the gradient to the first maximum, as max pooling does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: taps per table look-up; 5^4 = 625 rows x d floats per table stays in the L2 cache
KMER = 4
#: windows x positions per chunk of the forward pass (a multiple of the resolution is used)
CHUNK_POSITIONS = 25_000
#: code of N / padding (dataset.BASE_N); its one-hot row is all zeros
CODE_N = 4


def _kmer_tables(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """[groups * 5^KMER, d]: row j * 5^KMER + code of (c_0..c_{KMER-1}) = sum_i W[:, c_i, KMER j + i].

    weight [d, 4, K]; a zero row for code N and zero taps past K make padding weigh nothing."""
    d, _, k = weight.shape
    padded = weight.new_zeros(groups * KMER, 5, d)
    padded[:k, :4] = weight.permute(2, 1, 0)
    rows = torch.arange(5**KMER, device=weight.device)
    digits = [(rows // 5 ** (KMER - 1 - i)) % 5 for i in range(KMER)]
    tables = [sum(padded[KMER * j + i][digits[i]] for i in range(KMER)) for j in range(groups)]
    return torch.cat(tables, 0)


def _kmer_codes(seq: torch.Tensor, kernel: int, groups: int) -> torch.Tensor:
    """int32 [B, L + groups * KMER - 1 - KMER + 1]: the code of the k-mer starting at each padded
    position (left padding K // 2, N everywhere outside the window)."""
    pad = kernel // 2
    right = groups * KMER - 1 - pad
    codes = F.pad(seq.to(torch.int32).clamp(0, CODE_N), (pad, right), value=CODE_N)
    span = codes.shape[1] - KMER + 1
    kmers = codes[:, :span].clone()
    for i in range(1, KMER):
        kmers.mul_(5).add_(codes[:, i:i + span])
    return kmers


def _shifted_kmers(seq: torch.Tensor, kernel: int, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(k-mer codes [B, L + ...], table rows [B, L, groups]): group j of the detector at output t
    reads the k-mer at padded position t + KMER j, from its own block of 5^KMER table rows."""
    length = seq.shape[1]
    kmers = _kmer_codes(seq, kernel, groups)
    shifted = torch.stack([kmers[:, KMER * j:KMER * j + length] + j * 5**KMER for j in range(groups)], -1)
    return kmers, shifted


def _chunks(n_bins: int, resolution: int):
    """(first bin, end bin) of each chunk of about CHUNK_POSITIONS positions."""
    step = max(1, CHUNK_POSITIONS // resolution)
    return ((lo, min(lo + step, n_bins)) for lo in range(0, n_bins, step))


def _max_values(seq: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, resolution: int) -> torch.Tensor:
    """Forward without gradient: the per-bin maxima only. Each chunk's rows are ordered offset in
    the bin first, so the maximum runs over the outer dimension (contiguous rows, vectorised)."""
    b, length = seq.shape
    d, _, kernel = weight.shape
    n_bins = length // resolution
    groups = -(-kernel // KMER)
    tables = _kmer_tables(weight, groups)
    _, shifted = _shifted_kmers(seq, kernel, groups)
    values = weight.new_empty(b, n_bins, d)
    for row in range(b):
        for lo, hi in _chunks(n_bins, resolution):
            rows = shifted[row, lo * resolution:hi * resolution].view(hi - lo, resolution, groups)
            acc = F.embedding_bag(rows.transpose(0, 1).reshape(-1, groups), tables, mode="sum")
            values[row, lo:hi] = acc.view(resolution, (hi - lo) * d).amax(0).view(hi - lo, d)
    return values + bias


@torch.no_grad()
def motif_mean_gelu(seq: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, resolution: int) -> torch.Tensor:
    """Inference (no gradient) of the ``mean`` stem: the per-bin mean of GELU(one-hot convolution),
    [B, L // R, d], from the same table look-ups, chunk by chunk (offset in the bin first, so the
    mean runs over contiguous rows)."""
    b, length = seq.shape
    d, _, kernel = weight.shape
    n_bins = length // resolution
    groups = -(-kernel // KMER)
    tables = _kmer_tables(weight, groups)
    _, shifted = _shifted_kmers(seq, kernel, groups)
    values = weight.new_empty(b, n_bins, d)
    for row in range(b):
        for lo, hi in _chunks(n_bins, resolution):
            rows = shifted[row, lo * resolution:hi * resolution].view(hi - lo, resolution, groups)
            acc = F.embedding_bag(rows.transpose(0, 1).reshape(-1, groups), tables, mode="sum").add_(bias)
            values[row, lo:hi] = F.gelu(acc).view(resolution, (hi - lo) * d).mean(0).view(hi - lo, d)
    return values


class _MotifMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, seq, weight, bias, resolution: int):  # type: ignore[override]
        b, length = seq.shape
        d, _, kernel = weight.shape
        n_bins = length // resolution
        groups = -(-kernel // KMER)
        tables = _kmer_tables(weight.detach(), groups)
        kmers, shifted = _shifted_kmers(seq, kernel, groups)
        values = weight.new_empty(b, n_bins, d)
        where = torch.empty(b, n_bins, d, dtype=torch.int64, device=seq.device)
        for row in range(b):
            for lo, hi in _chunks(n_bins, resolution):
                acc = F.embedding_bag(shifted[row, lo * resolution:hi * resolution], tables, mode="sum")
                torch.max(acc.view(hi - lo, resolution, d), 1, out=(values[row, lo:hi], where[row, lo:hi]))
        ctx.save_for_backward(kmers, where)
        ctx.shape = (kernel, resolution, groups)
        return values + bias

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        kmers, where = ctx.saved_tensors
        kernel, resolution, groups = ctx.shape
        b, n_bins, d = grad.shape
        grad = grad.contiguous()
        # the arg-max detector of (window, bin, channel) sits at output t = bin * R + where
        start = where + (torch.arange(n_bins, device=grad.device) * resolution)[:, None]  # [B, n, d]
        shifts = torch.arange(groups, device=grad.device) * KMER
        read = torch.gather(kmers, 1, (start[..., None] + shifts).view(b, -1)).view(b, n_bins, d, groups).long()
        # gradient of each table row: g summed over the arg-maxes that looked it up
        rows = (shifts // KMER * 5**KMER + read) * d + torch.arange(d, device=grad.device)[:, None]
        grad_tables = grad.new_zeros(groups * 5**KMER * d)
        grad_tables.index_add_(0, rows.view(-1), grad[..., None].expand(-1, -1, -1, groups).reshape(-1))
        # a table row is the sum of its digits' weights: W[:, c, KMER j + i] collects the rows of
        # group j whose digit i is c
        grad_tables = grad_tables.view((groups,) + (5,) * KMER + (d,))
        grad_w = grad.new_zeros(groups, KMER, 5, d)
        for i in range(KMER):
            others = tuple(1 + k for k in range(KMER) if k != i)
            grad_w[:, i] = grad_tables.sum(others)
        grad_w = grad_w.view(groups * KMER, 5, d)[:kernel, :4].permute(2, 1, 0)
        return None, grad_w.contiguous(), grad.sum((0, 1)), None


def motif_max_pool(seq: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, resolution: int) -> torch.Tensor:
    """Per-bin maximum of the one-hot convolution (see the module docstring).

    seq: integer codes [B, L] (A0 C1 G2 T3, 4 = N/padding); weight [d, 4, K]; bias [d].
    Returns [B, L // R, d] float (before the stem's GELU). Differentiable in weight and bias;
    without gradient (inference) the arg-max, the forward's costliest part, is skipped."""
    if not (torch.is_grad_enabled() and (weight.requires_grad or bias.requires_grad)):
        with torch.no_grad():
            return _max_values(seq, weight, bias, resolution)
    return _MotifMaxPool.apply(seq, weight, bias, resolution)
