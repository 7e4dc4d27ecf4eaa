"""The k-mer stem and the factorized readout: ids, shapes, and which inputs each factor sees."""

import itertools

import numpy as np
import pytest
import torch

from seq2exp_cli.evaluation import average_precision
from seq2exp_cli.model.config import ModelConfig
from seq2exp_cli.model.kmer_stem import KmerStem, kmer_ids
from seq2exp_cli.model.seq2exp import Seq2Exp

COMPLEMENT = {0: 3, 1: 2, 2: 1, 3: 0}


def naive_ids(codes: list[int], k: int) -> list[int]:
    out = []
    for t in range(len(codes)):
        word = codes[t:t + k]
        if len(word) < k or any(c > 3 for c in word):
            out.append(4 ** k)
            continue
        forward = sum(c * 4 ** (k - 1 - j) for j, c in enumerate(word))
        rc = [COMPLEMENT[c] for c in reversed(word)]
        reverse = sum(c * 4 ** (k - 1 - j) for j, c in enumerate(rc))
        out.append(min(forward, reverse))
    return out


def test_kmer_ids_match_a_naive_count():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 5, size=(2, 60))
    got = kmer_ids(torch.from_numpy(codes).to(torch.uint8), 4)
    for row in range(2):
        assert got[row].tolist() == naive_ids(codes[row].tolist(), 4)


def test_kmer_ids_are_strand_symmetric():
    seq = torch.tensor([[0, 1, 2, 2, 3, 1, 0, 0]], dtype=torch.uint8)
    rc = torch.tensor([[3 - int(c) for c in reversed(seq[0])]], dtype=torch.uint8)
    k = 3
    fwd = kmer_ids(seq, k)[0, : 8 - k + 1].tolist()
    rev = kmer_ids(rc, k)[0, : 8 - k + 1].tolist()
    assert sorted(fwd) == sorted(rev)


def test_every_canonical_kmer_has_a_distinct_id():
    k = 3
    words = list(itertools.product(range(4), repeat=k))
    seq = torch.tensor([list(w) for w in words], dtype=torch.uint8)
    ids = kmer_ids(seq, k)[:, 0].tolist()
    canonical = {min(w, tuple(COMPLEMENT[c] for c in reversed(w))) for w in words}
    assert len(set(ids)) == len(canonical)


def test_kmer_stem_shape_and_padding_row():
    stem = KmerStem(k=4, d_model=8, resolution=10, neighbors=0)
    seq = torch.full((2, 50), 4, dtype=torch.uint8)  # all N: every k-mer is the padding row
    out = stem(seq)
    assert out.shape == (2, 5, 8)
    assert torch.count_nonzero(out) == 0


def factorized(variant: str = "nomask") -> Seq2Exp:
    torch.manual_seed(0)
    config = ModelConfig.preset(variant, window=2000, resolution=100, d_model=8, n_layers=1, d_state=4, expand=1,
                                signal_names=["dnase", "h3k27ac"], n_features=1, stem="kmer", kmer_size=6,
                                readout="factorized", promoter_bp=200)
    return Seq2Exp(config)


@pytest.mark.parametrize("variant", ["soft", "hard", "nomask", "signalprior", "seqonly"])
def test_factorized_readout_runs_every_variant(variant):
    model = factorized(variant)
    seq = torch.randint(0, 5, (3, 2000), dtype=torch.uint8)
    out = model(seq, torch.rand(3, 2000, 2), torch.rand(3, 1))
    assert out.prediction.shape == (3,) and out.contribution.shape == (3, 20)
    assert model.predictor is None
    out.prediction.sum().backward()
    assert model.stem.seq_embed.embedding.weight.grad is not None
    shares = model.contribution_scores(seq, torch.rand(3, 2000, 2), torch.rand(3, 1))
    assert torch.allclose(shares.sum(1), torch.ones(3))


def test_factorized_gate_reads_sequence_only_and_activity_signals_only():
    """Changing the signals leaves the gate alone; changing the sequence leaves the activity alone:
    the gate cannot re-learn the signals."""
    model = factorized().eval()
    seq = torch.randint(0, 4, (2, 2000), dtype=torch.uint8)
    signals = torch.rand(2, 2000, 2)
    features = torch.rand(2, 1)
    gates, activities = [], []
    # the gate head also scores one all-N bin per forward (the null gate): keep the batch's calls
    model.gate_head.register_forward_hook(lambda m, i, o: gates.append(o.detach()) if o.shape[0] == 2 else None)
    model.activity_head.register_forward_hook(lambda m, i, o: activities.append(o.detach()))
    model(seq, signals, features)
    model(seq, signals * 3 + 1, features)
    model(torch.randint(0, 4, (2, 2000), dtype=torch.uint8), signals, features)
    assert torch.equal(gates[0], gates[1]) and not torch.equal(gates[0], gates[2])
    assert torch.equal(activities[0], activities[2]) and not torch.equal(activities[0], activities[1])


@pytest.mark.slow
def test_factorized_model_learns_a_planted_kmer():
    """Bins carry equal signal; only those holding a planted 6-mer add to the target. After
    training (with the k-mer L1), the contribution ranks planted bins above the others at every
    distance from the TSS (within a bin column the activity is the same for every gene)."""
    rng = np.random.default_rng(0)
    n_genes, window, resolution = 256, 2000, 100
    seq = rng.integers(0, 4, size=(n_genes, window)).astype(np.uint8)
    motif = np.array([0, 2, 3, 3, 1, 2], dtype=np.uint8)  # AGTTCG
    planted = rng.random((n_genes, window // resolution)) < 0.3
    for g, b in zip(*np.nonzero(planted)):
        seq[g, b * resolution + 40 : b * resolution + 46] = motif
    target = np.log1p(planted.sum(1) + 0.5).astype(np.float32)
    signals = torch.ones(n_genes, window, 2)
    model = factorized()
    model.config.kmer_l1 = 0.1
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    seq_t, target_t = torch.from_numpy(seq), torch.from_numpy(target)
    features = torch.zeros(n_genes, 1)
    for _ in range(400):
        idx = torch.from_numpy(rng.choice(n_genes, 16, replace=False))
        out = model(seq_t[idx], signals[idx], features[idx])
        loss = torch.nn.functional.mse_loss(out.prediction, target_t[idx]) + out.penalty
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        contribution = model.eval()(seq_t, signals, features).contribution.numpy()
    p0, p1 = model.config.promoter_bins()
    columns = [b for b in range(window // resolution) if not p0 <= b < p1]
    per_column = [average_precision(planted[:, b], contribution[:, b]) for b in columns]
    assert np.mean(per_column) > 0.8  # chance: 0.3


def test_kmer_l1_penalty_in_training_only():
    config = factorized().config
    config.kmer_l1 = 0.5
    model = Seq2Exp(config)
    seq = torch.randint(0, 4, (2, 2000), dtype=torch.uint8)
    out = model.train()(seq, torch.rand(2, 2000, 2), torch.rand(2, 1))
    expected = 0.5 * model.stem.seq_embed.embedding.weight.abs().sum(1).mean()
    assert torch.allclose(out.penalty, expected)
    assert model.eval()(seq, torch.rand(2, 2000, 2), torch.rand(2, 1)).penalty is None
    from seq2exp_cli.losses import seq2exp_loss

    total, parts = seq2exp_loss(out, torch.zeros(2), kl_weight=0.0)
    assert total.item() == pytest.approx(parts["prediction"] + expected.item(), rel=1e-5)


def test_motif_channels_are_seeded_and_never_trained():
    from seq2exp_cli.io.motifs import Motif
    from seq2exp_cli.model.motif_init import seeded_model_factory

    probs = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    motifs = [Motif("m1", probs), Motif("m2", probs[::-1].copy())]
    config = factorized().config
    config.motif_channels = 4
    model = seeded_model_factory(motifs, np.full(4, 0.25), "db.meme")(config)
    before = model.stem.motif_scan.weight.clone()
    assert torch.count_nonzero(before[:4]) > 0
    out = model(torch.randint(0, 4, (2, 2000), dtype=torch.uint8), torch.rand(2, 2000, 2), torch.rand(2, 1))
    out.prediction.sum().backward()
    assert model.stem.motif_scan.weight.grad is None
    assert model.gate_head[0].in_features == 8 + 4
    config.motif_channels = 2
    with pytest.raises(Exception, match="motif_channels = 4"):
        seeded_model_factory(motifs, np.full(4, 0.25), "db.meme")(config)


def test_evidence_is_what_the_sequence_adds_above_a_sequence_of_n():
    """A bin of N has no evidence; the contribution share of a factorized model ranks by evidence."""
    model = factorized().eval()
    seq = torch.randint(0, 4, (2, 2000), dtype=torch.uint8)
    seq[:, 500:900] = 4  # bins 5-8 all N: bins 6 and 7 see only N, their neighbours included
    with torch.no_grad():
        out = model(seq, torch.rand(2, 2000, 2), torch.rand(2, 1))
    assert torch.all(out.evidence[:, 6:8] == 0)
    assert torch.all(out.evidence <= out.contribution + 1e-7)
