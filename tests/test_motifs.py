"""MEME motif files and seeding the stem's motif detectors from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.motifs import Motif, read_meme, write_meme
from seq2exp_cli.model import ModelConfig, Seq2Exp
from seq2exp_cli.model.motif_init import check_stem_fits, log_odds, seed_stem_filters, seeded_model_factory
from seq2exp_cli.model.seq2exp import one_hot

JASPAR_STYLE = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.3 C 0.2 G 0.2 T 0.3

MOTIF MA0004.1 Arnt
letter-probability matrix: alength= 4 w= 6 nsites= 20 E= 0
 0.200000  0.800000  0.000000  0.000000
 0.950000  0.000000  0.050000  0.000000
 0.000000  1.000000  0.000000  0.000000
 0.000000  0.000000  1.000000  0.000000
 0.000000  0.000000  0.000000  1.000000
 0.000000  0.000000  1.000000  0.000000
URL http://jaspar.genereg.net/matrix/MA0004.1

MOTIF MA0006.1
letter-probability matrix: alength= 4 w= 3 nsites= 24 E= 0
  0.5 0.5 0 0
  0 0 0 2
  1 1 1 1
"""


def test_read_meme_jaspar_style(tmp_path: Path):
    path = tmp_path / "db.meme"
    path.write_text(JASPAR_STYLE)
    motifs, background = read_meme(path)
    assert [m.name for m in motifs] == ["MA0004.1 Arnt", "MA0006.1"]
    assert motifs[0].width == 6 and motifs[1].width == 3
    assert np.allclose(background, [0.3, 0.2, 0.2, 0.3])
    assert np.allclose(motifs[1].probs.sum(1), 1) and motifs[1].probs[1, 3] == 1  # rows renormalised
    rc = motifs[0].reverse_complement()
    assert np.allclose(rc.probs[0], [0, 1, 0, 0]) and np.allclose(rc.probs[-1], [0, 0, 0.8, 0.2])


def test_write_then_read_roundtrip(tmp_path: Path):
    motifs = [Motif("M1", np.eye(4)[[0, 1, 2, 3, 3]] * 0.9 + 0.025)]
    write_meme(tmp_path / "x.meme", motifs)
    again, background = read_meme(tmp_path / "x.meme")
    assert np.allclose(again[0].probs, motifs[0].probs / motifs[0].probs.sum(1, keepdims=True), atol=1e-6)
    assert np.allclose(background, 0.25)


@pytest.mark.parametrize("text, message", [
    ("MEME version 4\n", "no 'letter-probability matrix'"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.2 0.3 0.5\n0.25 0.25 0.25 0.25\n", "4 non-negative"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 3\n0.25 0.25 0.25 0.25\n", "not the w="),
    ("ALPHABET= ACDEFGHIKLMNPQRSTVWY\nMOTIF a\n", "not DNA"),
    ("letter-probability matrix: alength= 4 w= 1\n1 0 0 0\n", "before any MOTIF"),
])
def test_read_meme_errors_name_file_and_line(tmp_path: Path, text, message):
    path = tmp_path / "bad.meme"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_meme(path)
    assert str(path) in str(info.value)


DATA = {"window": 600, "signal_names": ["dnase"], "feature_names": []}


def _motif(consensus: str) -> Motif:
    probs = np.full((len(consensus), 4), 0.01)
    for j, base in enumerate(consensus):
        probs[j, "ACGT".index(base)] = 0.97
    return Motif(consensus, probs)


def test_seeded_filters_fire_on_the_motif_on_either_strand_only():
    torch.manual_seed(0)
    cfg = ModelConfig.for_data(DATA, "soft", resolution=100, d_model=8, n_layers=1, promoter_bp=100, stem_pool="max")
    model = Seq2Exp(cfg)
    motif = _motif("TGACTCAGCAAT")
    assert seed_stem_filters(model, [motif], np.full(4, 0.25)) == 2
    rng = np.random.default_rng(1)
    seq = rng.integers(0, 4, 600)
    codes = {b: i for i, b in enumerate("ACGT")}
    seq[140:152] = [codes[b] for b in motif.name]  # forward copy in bin 1
    rc = "".join({"A": "T", "C": "G", "G": "C", "T": "A"}[b] for b in reversed(motif.name))
    seq[430:442] = [codes[b] for b in rc]  # reverse-complement copy in bin 4
    with torch.no_grad():
        x = model.stem.seq_embed(one_hot(torch.as_tensor(seq)[None]).transpose(1, 2))[0, :2, :600]
    fwd, rev = x[0].numpy(), x[1].numpy()
    assert fwd.max() > 0 and 140 <= int(fwd.argmax()) <= 152 and (fwd[:130] < 0).all()
    assert rev.max() > 0 and 430 <= int(rev.argmax()) <= 442 and (rev[:420] < 0).all()
    # a log-odds filter: the consensus scores the sum of the best column scores
    best = log_odds(motif, np.full(4, 0.25)).max(1).sum()
    assert fwd.max() == pytest.approx(0.5 * best * (1 - 0.6), rel=1e-4)


def test_seeding_refuses_what_the_stem_cannot_hold_and_factory_is_deterministic():
    cfg1 = ModelConfig.for_data(DATA, "soft", resolution=1, d_model=8, n_layers=1, promoter_bp=100)
    with pytest.raises(InputError, match="resolution > 1"):
        check_stem_fits(cfg1, 1)
    cfg = ModelConfig.for_data(DATA, "soft", resolution=100, d_model=8, n_layers=1, promoter_bp=100)
    with pytest.raises(InputError, match="at least 10"):
        check_stem_fits(cfg, 5)
    motifs = [_motif("ACGTTGCA"), _motif("TTTTAAAACCCCGGGGT")]  # the second is wider than the kernel
    build = seeded_model_factory(motifs, np.full(4, 0.25), "db.meme")
    torch.manual_seed(3)
    a = build(cfg)
    torch.manual_seed(3)
    b = build(cfg)
    assert torch.equal(a.stem.seq_embed.weight, b.stem.seq_embed.weight)
    assert a.stem.seq_embed.weight[3].abs().sum(0).gt(0).sum() == 15  # trimmed to the kernel
