"""De novo motifs: planted in accessible DNA they are found; in random DNA nothing is."""

from __future__ import annotations

import numpy as np
from seq2exp_cli.model.motif_discovery import _disjoint_windows, _revcomp, discover_motifs

WINDOW = 20_000
PLANTED = "TTGACGTCATGG"  # not a palindrome, so its strand can be checked


class FakeDataset:
    """Just what discover_motifs reads: windows of codes with one DNase track."""

    signal_names = ["dnase", "hic"]

    def __init__(self, n_genes: int, plant: bool, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(n_genes):
            seq = rng.integers(0, 4, WINDOW).astype(np.uint8)
            signal = np.zeros((WINDOW, 2), dtype=np.float16)
            for start in rng.choice(WINDOW // 500 - 1, 8, replace=False) * 500 + 200:
                signal[start:start + 200, 0] = 5.0
                if plant:
                    site = np.array(["ACGT".index(b) for b in PLANTED], dtype=np.uint8)
                    if rng.random() < 0.5:
                        site = (3 - site)[::-1]
                    mutated = site.copy()
                    j = rng.integers(0, len(site))
                    if rng.random() < 0.3:  # some sites carry one mismatch
                        mutated[j] = (mutated[j] + 1) % 4
                    at = start + 60 + int(rng.integers(0, 60))
                    seq[at:at + len(site)] = mutated
            self.items.append({"seq": seq, "signals": signal})

    def indices(self, split: str) -> np.ndarray:
        return np.arange(len(self.items))

    def labelled(self, indices: np.ndarray) -> np.ndarray:
        return indices

    def genomic_window(self, i: int):
        return "chr1", i * WINDOW, (i + 1) * WINDOW, "+"

    def load_gene(self, i: int) -> dict:
        return self.items[i]


def _score(probs: np.ndarray, word: str) -> float:
    """Best mean probability of ``word`` (either strand) placed inside the PWM."""
    best = 0.0
    for w in (word, "".join("TGCA"["ACGT".index(b)] for b in reversed(word))):
        for off in range(-len(w) + 6, probs.shape[0] - 5):
            cols = [(j, "ACGT".index(w[j - off])) for j in range(max(0, off), min(probs.shape[0], off + len(w)))]
            best = max(best, float(np.mean([probs[j, b] for j, b in cols])))
    return best


def test_a_planted_motif_is_found_with_its_sites() -> None:
    data = FakeDataset(40, plant=True)
    motifs, background, record = discover_motifs(data, max_motifs=8)
    assert motifs, record
    assert _score(motifs[0].probs, PLANTED) > 0.8
    assert record["chosen"][0]["sites"] >= 0.6 * 40 * 8
    assert np.isclose(background.sum(), 1.0)


def test_random_dna_gives_no_motif() -> None:
    motifs, _, record = discover_motifs(FakeDataset(40, plant=False), max_motifs=8)
    assert motifs == [] and record["chosen"] == []


def test_discovery_is_deterministic() -> None:
    data = FakeDataset(20, plant=True, seed=3)
    first, _, a = discover_motifs(data, max_motifs=4)
    second, _, b = discover_motifs(data, max_motifs=4)
    assert a == b and all(np.array_equal(x.probs, y.probs) for x, y in zip(first, second))


def test_overlapping_windows_are_sampled_once() -> None:
    class Overlapping(FakeDataset):
        def genomic_window(self, i: int):
            return "chr1", i * WINDOW // 2, i * WINDOW // 2 + WINDOW, "+"

    data = Overlapping(10, plant=False)
    kept = _disjoint_windows(data, data.indices("train"), limit=100)
    assert list(kept) == [0, 2, 4, 6, 8]


def test_reverse_complement_of_a_kmer() -> None:
    # ACGTTGCA -> reverse complement TGCAACGT, codes A0 C1 G2 T3
    encode = lambda s: int("".join(str("ACGT".index(b)) for b in s), 4)  # noqa: E731
    assert _revcomp(encode("ACGTTGCA"), 8) == encode("TGCAACGT")


def test_denovo_without_an_accessibility_track_seeds_nothing(caplog) -> None:
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.model.motif_init import motif_seeding

    data = FakeDataset(4, plant=False)
    data.signal_names = ["hic"]
    config = ModelConfig(stem="kmer", resolution=200, readout="factorized", variant="nomask")
    chosen, record, factory = motif_seeding("denovo", data, config)
    assert chosen == [] and factory is None and config.motif_channels == 0
    assert "training without motif channels" in caplog.text


def test_denovo_seeds_the_motif_channels_of_a_kmer_stem() -> None:
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.model.motif_init import motif_seeding

    config = ModelConfig(stem="kmer", resolution=200, readout="factorized", variant="nomask")
    chosen, record, factory = motif_seeding("denovo", FakeDataset(40, plant=True), config)
    assert chosen and config.motif_channels == 2 * len(chosen) and record["source"] == "denovo"
    model = factory(config)
    assert model.stem.motif_scan.weight.abs().sum() > 0


def test_revcomp_table_matches_the_scalar_form() -> None:
    from seq2exp_cli.model.motif_discovery import revcomp_table

    table = revcomp_table(4)
    assert all(table[i] == _revcomp(i, 4) for i in range(256))
