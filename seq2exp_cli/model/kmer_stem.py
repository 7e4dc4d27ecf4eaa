"""K-mer stem: a learned embedding per canonical k-mer, summed over each bin.

Why k-mers: a convolution has to turn random filters into motifs from one number per gene, and
on simulated genomes without a motif database it did not (elements ranked like DNase). An
embedding row per k-mer is learned from every bin the k-mer occurs in, and a bin's features are
linear in its k-mer counts (the representation gapped-k-mer SVMs learn enhancer vocabularies
with), so a gene-level target teaches the motif vocabulary directly. Canonical k-mers (a k-mer
and its reverse complement share one row) make the features strand-symmetric.

Shapes: B batch, L window (bp), R resolution, n = L // R bins, d = d_model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: base codes as stored (A0 C1 G2 T3); anything else (N, padding) breaks a k-mer
N_BASES = 4


def kmer_ids(seq: torch.Tensor, k: int, canonical: bool = True) -> torch.Tensor:
    """Codes [B, L] -> int64 [B, L]: id (0 .. 4**k - 1) of the k-mer starting at each position,
    the smaller of it and its reverse complement when ``canonical``; 4**k where the k-mer holds an
    N or runs past the window's end."""
    codes = seq.long()
    invalid = codes >= N_BASES
    codes = codes.clamp(max=N_BASES - 1)
    length = codes.shape[1]
    padded = F.pad(codes, (0, k - 1))
    padded_invalid = F.pad(invalid, (0, k - 1), value=True)
    forward = torch.zeros_like(codes)
    reverse = torch.zeros_like(codes)
    broken = torch.zeros_like(invalid)
    for j in range(k):
        base = padded[:, j:j + length]
        forward = forward * N_BASES + base
        reverse = reverse + (N_BASES - 1 - base) * N_BASES ** j
        broken |= padded_invalid[:, j:j + length]
    ids = torch.minimum(forward, reverse) if canonical else forward
    return ids.masked_fill(broken, N_BASES ** k)


class KmerStem(nn.Module):
    """e_seq [B, n, d] = (sum over the bin's positions of E[k-mer id]) / sqrt(R), plus a
    convolution over ``neighbors`` bins on each side (an element often straddles two bins).

    The padding row (k-mers with N) is zero and never trained."""

    def __init__(self, k: int, d_model: int, resolution: int, neighbors: int = 1) -> None:
        super().__init__()
        self.k = k
        self.resolution = resolution
        self.embedding = nn.EmbeddingBag(N_BASES ** k + 1, d_model, mode="sum", padding_idx=N_BASES ** k)
        nn.init.normal_(self.embedding.weight, std=0.01)
        with torch.no_grad():
            self.embedding.weight[N_BASES ** k].zero_()
        self.context = (nn.Conv1d(d_model, d_model, 2 * neighbors + 1, padding=neighbors)
                        if neighbors > 0 else None)

    def l1(self) -> torch.Tensor:
        """Mean over embedding rows of each row's L1 norm (a scalar; the padding row is zero)."""
        return self.embedding.weight.abs().sum(1).mean()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, length = seq.shape
        ids = kmer_ids(seq, self.k).reshape(-1)  # [B * L]
        offsets = torch.arange(0, b * length, self.resolution, device=seq.device)
        e = self.embedding(ids, offsets).reshape(b, length // self.resolution, -1)
        e = e / math.sqrt(self.resolution)
        if self.context is not None:
            e = e + self.context(e.transpose(1, 2)).transpose(1, 2)
        return e
