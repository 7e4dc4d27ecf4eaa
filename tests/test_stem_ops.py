"""motif_max_pool (the R > 1 max-pooled stem) against the convolution it replaces."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seq2exp_cli.model import stem_ops
from seq2exp_cli.model.stem_ops import motif_max_pool


def reference(seq, weight, bias, resolution):
    """max_pool1d of conv1d over the one-hot (code 4 all-zero): [B, L // R, d]."""
    one_hot = F.one_hot(seq.long(), 5)[..., :4].to(weight.dtype).transpose(1, 2)
    length = seq.shape[1]
    x = F.conv1d(one_hot, weight, bias, padding=weight.shape[2] // 2)[..., :length]
    return F.max_pool1d(x, resolution).transpose(1, 2)


@pytest.mark.parametrize("batch,length,resolution,kernel,d", [
    (3, 2000, 100, 15, 8),   # the stem's kernel
    (2, 1000, 50, 14, 5),    # even kernel
    (2, 999, 100, 5, 3),     # window not a multiple of R: the tail is dropped, as max pooling does
    (1, 64, 8, 1, 4),        # one tap
])
def test_matches_convolution_and_max_pool(batch, length, resolution, kernel, d, monkeypatch):
    monkeypatch.setattr(stem_ops, "CHUNK_POSITIONS", 3 * resolution)  # several chunks per window
    g = torch.Generator().manual_seed(length + kernel)
    seq = torch.randint(0, 5, (batch, length), generator=g, dtype=torch.uint8)
    seq[0, : length // 3] = 4  # a run of N: every position of those bins ties
    weight = torch.randn(d, 4, kernel, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(d, generator=g, dtype=torch.float64, requires_grad=True)
    ref = reference(seq, weight, bias, resolution)
    out = motif_max_pool(seq, weight, bias, resolution)
    assert out.shape == ref.shape == (batch, length // resolution, d)
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    upstream = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    for mine, theirs in zip(torch.autograd.grad(out, (weight, bias), upstream),
                            torch.autograd.grad(ref, (weight, bias), upstream)):
        assert torch.allclose(mine, theirs, rtol=0, atol=1e-10)


def test_float32_gradients_close():
    g = torch.Generator().manual_seed(3)
    seq = torch.randint(0, 4, (2, 4000), generator=g, dtype=torch.uint8)
    weight = torch.randn(6, 4, 15, generator=g, requires_grad=True)
    bias = torch.randn(6, generator=g, requires_grad=True)
    out, ref = motif_max_pool(seq, weight, bias, 200), reference(seq, weight, bias, 200)
    assert torch.allclose(out, ref, atol=1e-5)
    mine = torch.autograd.grad(out.sum(), weight)[0]
    theirs = torch.autograd.grad(ref.sum(), weight)[0]
    assert torch.allclose(mine, theirs, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(4)
    seq = torch.randint(0, 5, (3, 20_000), generator=g, dtype=torch.uint8)
    weight = torch.randn(16, 4, 15, generator=g, requires_grad=True)
    bias = torch.randn(16, generator=g, requires_grad=True)
    w_gpu, b_gpu = (x.detach().cuda().requires_grad_() for x in (weight, bias))
    out_cpu, out_gpu = motif_max_pool(seq, weight, bias, 200), motif_max_pool(seq.cuda(), w_gpu, b_gpu, 200)
    assert torch.allclose(out_gpu.cpu(), out_cpu, atol=1e-5)
    upstream = torch.randn(out_cpu.shape, generator=g)
    for mine, ref in zip(torch.autograd.grad(out_gpu, (w_gpu, b_gpu), upstream.cuda()),
                         torch.autograd.grad(out_cpu, (weight, bias), upstream)):
        assert torch.allclose(mine.cpu(), ref, atol=1e-3)


@pytest.mark.parametrize("resolution", [200, 7])
def test_inference_path_matches(resolution, monkeypatch):
    # without gradient the per-bin maxima are computed without arg-max (another code path)
    monkeypatch.setattr(stem_ops, "CHUNK_POSITIONS", 5 * resolution)
    g = torch.Generator().manual_seed(resolution)
    seq = torch.randint(0, 5, (2, 3000), generator=g, dtype=torch.uint8)
    weight = torch.randn(5, 4, 15, generator=g, dtype=torch.float64)
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = motif_max_pool(seq, weight, bias, resolution)
    assert torch.allclose(out, reference(seq, weight, bias, resolution), rtol=0, atol=1e-12)


def test_mean_gelu_inference_matches_convolution(monkeypatch):
    from seq2exp_cli.model.stem_ops import motif_mean_gelu

    monkeypatch.setattr(stem_ops, "CHUNK_POSITIONS", 400)
    g = torch.Generator().manual_seed(9)
    seq = torch.randint(0, 5, (2, 2000), generator=g, dtype=torch.uint8)
    weight = torch.randn(6, 4, 15, generator=g, dtype=torch.float64)
    bias = torch.randn(6, generator=g, dtype=torch.float64)
    one_hot = F.one_hot(seq.long(), 5)[..., :4].double().transpose(1, 2)
    x = F.gelu(F.conv1d(one_hot, weight, bias, padding=7)[..., :2000]).transpose(1, 2)
    expected = x.reshape(2, 20, 100, 6).mean(2)
    assert torch.allclose(motif_mean_gelu(seq, weight, bias, 100), expected, rtol=0, atol=1e-12)
