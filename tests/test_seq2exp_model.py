"""Tests for seq2exp_cli.model.config and seq2exp_cli.model.seq2exp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from seq2exp_cli.errors import InputError
from seq2exp_cli.losses import beta_kl, prediction_loss, seq2exp_loss
from seq2exp_cli.model import ModelConfig, Seq2Exp, expand_mask, one_hot, recommended_resolution

SIGNALS = ["h3k27ac", "dnase", "hic"]
DATA = {"window": 240, "signal_names": SIGNALS, "feature_names": ["f0", "f1"]}


def tiny(variant="soft", **kw):
    values = dict(d_model=8, n_layers=1, promoter_bp=40, mlp_hidden=16)
    values.update(kw)
    return ModelConfig.for_data(DATA, variant, **values)


def batch(b=2, window=240, s=3, f=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, 5, (b, window), generator=g, dtype=torch.uint8)
    signals = torch.rand(b, window, s, generator=g)
    features = torch.randn(b, f, generator=g)
    blacklist = torch.zeros(b, window, dtype=torch.bool)
    blacklist[:, 10:30] = True
    blacklist[:, 110:130] = True  # overlaps the promoter (100..140): the promoter wins
    return seq, signals, features, blacklist


# ---- config ------------------------------------------------------------------------------------
def test_config_presets_and_prior_defaults():
    soft, hard = tiny("soft"), tiny("hard")
    assert (soft.beta_min, soft.prior_scale, soft.mu, soft.sigma, soft.kl_weight) == (1, 10, 0.1, 10, 0.01)
    assert (hard.beta_min, hard.prior_scale, hard.mu, hard.sigma, hard.kl_weight) == (0, 1, 0.45, 0.1, 0.01)
    assert soft.prior_offsets == [1.5, 0.2, 1.0]
    assert soft.prior_weights == pytest.approx([0.4, 0.4, 0.2])
    other = ModelConfig(window=100, promoter_bp=10, signal_names=["ATAC", "ctcf"])
    assert other.prior_weights == pytest.approx([0.5, 0.5]) and other.prior_offsets == [0.2, 1.0]
    assert soft.n_features == 2 and soft.d_model == 8
    assert ModelConfig().d_model == 128 and ModelConfig().n_layers == 4 and ModelConfig().window == 200_000
    assert recommended_resolution("cpu") > 1 and recommended_resolution("cuda:0") == 1


def test_config_roundtrip_json_safe():
    cfg = tiny("hard", resolution=4)
    text = json.dumps(cfg.to_dict())
    assert ModelConfig.from_dict(json.loads(text)) == cfg


@pytest.mark.parametrize("bad", [dict(resolution=7), dict(promoter_bp=500), dict(variant="x"),
                                 dict(prior_weights=[1.0], prior_offsets=[1.0]), dict(mu=1.5),
                                 dict(stem_pool="median"), dict(readout="sum"), dict(bin_head_stem=True)])
def test_config_validation(bad):
    with pytest.raises(InputError):
        ModelConfig.for_data(DATA, bad.pop("variant", "soft"), **bad)
    with pytest.raises(InputError):
        ModelConfig.for_data({"window": 100}, "soft")
    with pytest.raises(InputError):
        ModelConfig(window=100, promoter_bp=10, variant="signalprior")


# ---- helpers ------------------------------------------------------------------------------------
def test_max_pool_stem_keeps_a_motif_wherever_it_sits_in_the_bin():
    """stem_pool = "max": e_seq of a bin is GELU(max over the bin of the convolution), so a strong
    detector hit counts in full wherever it lies in the bin (the mean would dilute it R-fold)."""
    torch.manual_seed(0)
    model = Seq2Exp(tiny("nomask", resolution=20, stem_pool="max"))
    seq = torch.randint(0, 4, (1, 240), dtype=torch.uint8)
    conv = model.stem.seq_embed
    expected = torch.nn.functional.gelu(conv(one_hot(seq).transpose(1, 2))[..., :240].reshape(1, 8, 12, 20).amax(-1))
    assert torch.allclose(model.stem.embed_seq(seq), expected.transpose(1, 2), atol=1e-6)
    with torch.no_grad():  # channel 0 detects the 3-mer ACG
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, :, conv.kernel_size[0] // 2 - 1 : conv.kernel_size[0] // 2 + 2] = torch.eye(4)[:, :3] * 10
    background = torch.full((1, 240), 3, dtype=torch.uint8)  # poly-T: no hit
    hits = []
    for pos in (42, 50, 57):  # three places inside bin 2 (40..60)
        s = background.clone()
        s[0, pos : pos + 3] = torch.tensor([0, 1, 2])
        hits.append(model.stem.embed_seq(s)[0, :, 0])
    assert hits[0][2] > 20 and torch.equal(hits[0], hits[1]) and torch.equal(hits[0], hits[2])
    mean_model = Seq2Exp(tiny("nomask", resolution=20))
    mean_model.stem.seq_embed.load_state_dict(conv.state_dict())
    assert mean_model.stem.embed_seq(s)[0, 2, 0] < hits[0][2] / 10


def test_one_hot_and_expand_mask():
    oh = one_hot(torch.tensor([[0, 1, 2, 3, 4]], dtype=torch.uint8))
    assert torch.equal(oh[0], torch.cat([torch.eye(4), torch.zeros(1, 4)]))
    m = torch.tensor([[0.1, 0.9]])
    assert torch.equal(expand_mask(m, 3), torch.tensor([[0.1, 0.1, 0.1, 0.9, 0.9, 0.9]]))
    assert expand_mask(m, 1) is m


# ---- model ------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["soft", "hard", "nomask", "seqonly", "signalprior"])
@pytest.mark.parametrize("resolution", [1, 4])
def test_forward_shapes_and_overrides(variant, resolution):
    torch.manual_seed(0)
    model = Seq2Exp(tiny(variant, resolution=resolution))
    seq, signals, features, blacklist = batch()
    if variant == "seqonly":
        signals = signals[..., :0]
    n = 240 // resolution
    for train in (True, False):
        model.train(train)
        out = model(seq, signals, features, blacklist)
        assert out.prediction.shape == (2,) and out.kl.shape == (2,) and out.mask.shape == (2, n)
        assert torch.isfinite(out.prediction).all()
        p0, p1 = model.config.promoter_bins()
        if variant in ("nomask", "seqonly"):
            assert out.alpha is None and torch.equal(out.mask, torch.ones(2, n)) and not out.kl.any()
            continue
        assert out.alpha.shape == (2, n) and (out.alpha > 0).all() and (out.beta > 0).all()
        assert torch.all(out.mask[:, p0:p1] == 1)  # promoter on, even where blacklisted
        assert torch.all(out.mask[:, -(-10 // resolution):30 // resolution] == 0)  # blacklist off
        assert ((out.mask >= 0) & (out.mask <= 1)).all()
        if variant == "hard":
            assert set(out.mask.unique().tolist()) <= {0.0, 1.0}
        if not train:
            mean = out.alpha / (out.alpha + out.beta)
            free = torch.ones(n, dtype=torch.bool)
            free[p0:p1] = False
            free[10 // resolution:30 // resolution] = False
            expect = (mean >= 0.5).float() if variant == "hard" else mean
            assert torch.allclose(out.mask[:, free], expect[:, free])


def test_kl_averaged_over_free_positions_only():
    torch.manual_seed(0)
    model = Seq2Exp(tiny("soft")).eval()
    seq, signals, features, blacklist = batch()
    out = model(seq, signals, features, blacklist)
    cfg = model.config
    free = torch.ones(240, dtype=torch.bool)
    free[100:140] = False
    free[10:30] = False
    kl = beta_kl(out.alpha, out.beta, torch.tensor(cfg.sigma), torch.tensor(cfg.sigma * (1 - cfg.mu) / cfg.mu))
    assert torch.allclose(out.kl, kl[:, free].mean(1), rtol=1e-5)


def test_signal_prior_formula():
    torch.manual_seed(0)
    model = Seq2Exp(tiny("signalprior")).eval()
    seq, signals, features, _ = batch()
    out = model(seq, signals, features)
    w = torch.tensor([0.4, 0.4, 0.2])
    b = torch.tensor([1.5, 0.2, 1.0])
    alpha = 10 * ((signals + 1) * w).sum(-1)
    beta = 10 * ((b + 1) * w).sum()
    assert torch.allclose(out.alpha, alpha, rtol=1e-5) and torch.allclose(out.beta, beta.expand(2, 240))
    # More chromatin signal -> higher keep probability.
    assert torch.allclose(model.mask_scores(seq, signals), alpha / (alpha + beta), rtol=1e-5)


def test_soft_mask_reaches_the_predictor_through_its_pre_norm():
    """Regression: the mask used to multiply the embeddings before the predictor's first RMSNorm,
    which divides the scale out (RMSNorm(m x) = RMSNorm(x)); with the promoter bins always kept,
    the prediction did not depend on the distal mask at all, so the generator got no gradient
    from the prediction loss and only the KL shaped it."""
    torch.manual_seed(0)
    model = Seq2Exp(tiny("soft", prior_scale=0.0)).eval()
    seq, signals, features, _ = batch()
    x = torch.randn(2, 240, 8)
    first_norm = model.predictor.layers[0].norm
    assert torch.allclose(first_norm(0.1 * x), first_norm(x), atol=1e-2)  # why: the pre-norm is scale-free
    predictions = []
    for keep in (True, False):
        with torch.no_grad():
            model.mask_head.weight.zero_()
            model.mask_head.bias.copy_(torch.tensor([-30.0, 30.0] if keep else [30.0, -30.0]))
        out = model(seq, signals, features)
        distal = ~model.promoter
        assert (out.mask[:, distal] > 0.9).all() if keep else (out.mask[:, distal] < 0.1).all()
        predictions.append(out.prediction)
    # (tiny random model: the distal bins move the prediction by ~1e-4; before the fix by ~1e-6)
    assert (predictions[0] - predictions[1]).abs().min() > 2e-5
    torch.manual_seed(0)  # and the prediction loss now sends a gradient to the generator
    model = Seq2Exp(tiny("soft", prior_scale=0.0)).train()
    out = model(seq, signals, features)
    prediction_loss(out.prediction, torch.zeros(2)).backward()
    grad = sum(p.grad.abs().sum() for p in model.generator.parameters() if p.grad is not None)
    assert grad > 1e-6  # ~3e-5 here; ~6e-9 (through the norm's eps only) before the fix


@pytest.mark.parametrize("variant", ["soft", "nomask", "seqonly"])
def test_additive_readout_sums_masked_bin_contributions(variant):
    torch.manual_seed(0)
    model = Seq2Exp(tiny(variant, resolution=4, readout="additive")).eval()
    seq, signals, features, blacklist = batch()
    out = model(seq, signals, features, blacklist)
    assert out.contribution.shape == (2, 60) and (out.contribution >= 0).all()
    if variant == "soft":  # blacklisted bins: mask 0, nothing added (nomask reads every bin)
        assert torch.all(out.contribution[:, 3:7] == 0)
    # the head reads log(sum of contributions): changing one distal bin's mask moves the prediction
    assert model.head[0].in_features == 8 + 2 + 1
    assert Seq2Exp(tiny(variant, resolution=4)).eval()(seq, signals, features).contribution is None


def test_bin_head_stem_reads_the_bins_own_motif_features():
    """With bin_head_stem the bin head reads the stem's features of its bin, so a bin's
    contribution changes with its own sequence even when the predictor's output does not."""
    torch.manual_seed(0)
    cfg = tiny("nomask", resolution=4, readout="additive", bin_head_stem=True)
    model = Seq2Exp(cfg).eval()
    assert model.bin_head[0].in_features == 2 * 8 + 1 + 3
    seq, signals, features, _ = batch()
    frozen = model.predictor(torch.zeros(2, 60, 8))
    model.predictor.forward = lambda x, input_scale=None: frozen  # predictor output fixed
    base = model(seq, signals, features).contribution
    changed = seq.clone()
    changed[:, 8:12] = (changed[:, 8:12] + 1) % 4  # bin 2 only
    after = model(changed, signals, features).contribution
    moved = (after - base).abs()[0] > 1e-7
    assert moved[2] and not moved[5:].any()


def test_additive_readout_sends_the_prediction_gradient_to_every_kept_bin():
    """The additive readout's point: the prediction loss reaches each distal bin's mask directly,
    not only through what the Mamba stack carries to the promoter."""
    seq, signals, features, _ = batch()
    grads = {}
    for readout in ("promoter", "additive"):
        torch.manual_seed(0)
        model = Seq2Exp(tiny("soft", readout=readout, prior_scale=0.0)).train()
        out = model(seq, signals, features)
        out.mask.retain_grad()
        prediction_loss(out.prediction, torch.full((2,), 5.0)).backward()
        grads[readout] = out.mask.grad[:, ~model.promoter].abs()
    assert (grads["additive"] > 0).all()
    # far-from-promoter bins: the stack's reach decays with distance, the sum's does not
    far = torch.cat([grads["additive"][:, :20], grads["additive"][:, -20:]], 1).mean()
    far_promoter = torch.cat([grads["promoter"][:, :20], grads["promoter"][:, -20:]], 1).mean()
    assert far > 10 * far_promoter


def test_mask_scores_eval_mean_without_promoter_override():
    torch.manual_seed(0)
    model = Seq2Exp(tiny("soft", resolution=4)).train()
    seq, signals, features, blacklist = batch()
    scores = model.mask_scores(seq, signals, blacklist)
    assert model.training  # mode untouched
    model.eval()
    out = model(seq, signals, features, blacklist)
    mean = out.alpha / (out.alpha + out.beta)
    assert scores.shape == (2, 60)
    assert torch.all(scores[:, 3:7] == 0)
    keep = [25, 26, 27, 32, 33, 34]  # promoter bins (25..34) not mostly blacklisted (28..31)
    assert torch.allclose(scores[:, keep], mean[:, keep])  # promoter: the model's own value, not 1
    assert not torch.all(scores[:, keep] == 1)
    assert torch.all(scores[:, 28:32] == 0)


def test_hard_straight_through_reaches_generator_without_kl():
    torch.manual_seed(0)
    model = Seq2Exp(tiny("hard")).train()
    seq, signals, features, blacklist = batch()
    out = model(seq, signals, features, blacklist)
    total, _ = seq2exp_loss(out, torch.tensor([1.0, -1.0]), kl_weight=0.0)
    total.backward()
    grad = model.mask_head.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_seqonly_ignores_signals_and_seeded_determinism():
    seq, signals, features, blacklist = batch()
    torch.manual_seed(3)
    model = Seq2Exp(tiny("seqonly")).eval()
    a = model(seq, signals[..., :0], features).prediction
    b = model(seq, signals[..., :0] * 0, features).prediction
    assert torch.equal(a, b)
    preds = []
    for _ in range(2):
        torch.manual_seed(42)
        m = Seq2Exp(tiny("soft")).train()
        preds.append(m(seq, signals, features, blacklist))
    assert torch.equal(preds[0].prediction, preds[1].prediction) and torch.equal(preds[0].mask, preds[1].mask)


def test_bad_input_shapes_raise_input_error():
    model = Seq2Exp(tiny("soft"))
    seq, signals, features, _ = batch()
    with pytest.raises(InputError):
        model(seq[:, :100], signals, features)
    with pytest.raises(InputError):
        model(seq, signals[..., :2], features)
    with pytest.raises(InputError):
        model(seq, signals, features[:, :1])


def test_state_dict_roundtrip_weights_only(tmp_path: Path):
    torch.manual_seed(0)
    model = Seq2Exp(tiny("hard", resolution=4)).eval()
    path = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict(), "config": model.config.to_dict()}, path)
    blob = torch.load(path, weights_only=True)
    clone = Seq2Exp(ModelConfig.from_dict(blob["config"])).eval()
    clone.load_state_dict(blob["state_dict"])
    seq, signals, features, blacklist = batch()
    assert torch.equal(model(seq, signals, features, blacklist).prediction,
                       clone(seq, signals, features, blacklist).prediction)


@pytest.fixture
def one_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-off costs on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_tiny_model_fits_planted_motif(one_thread):
    """8 synthetic genes whose expression is the number of copies of a motif: training loss -> ~0."""
    g = torch.Generator().manual_seed(0)
    window, motif = 120, torch.tensor([0, 3, 2, 1, 0, 3])  # ATGCAT
    seq = torch.randint(0, 4, (8, window), generator=g)
    target = torch.zeros(8)
    for i in range(8):
        copies = i % 4
        for c in range(copies):
            pos = 10 + 25 * c
            seq[i, pos:pos + 6] = motif
        target[i] = float(copies)
    signals = torch.rand(8, window, 2, generator=g)
    torch.manual_seed(0)
    cfg = ModelConfig(window=window, signal_names=["h3k27ac", "dnase"], d_model=16, n_layers=1,
                      promoter_bp=20, mlp_hidden=32)
    model = Seq2Exp(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    features = torch.zeros(8, 0)
    for _ in range(150):
        opt.zero_grad()
        total, _ = seq2exp_loss(model(seq, signals, features), target, kl_weight=0.0)
        total.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = prediction_loss(model(seq, signals, features).prediction, target).item()
    assert final < 0.01
