"""The sequence null of call-elements (elements.null): the shuffle, and p/q on hand-built models.

Models are built by hand on a small prepared dataset whose genome is iid random bases with a
planted palindromic 8-mer: a score that cannot read sequence must give p = 1, a random model on
iid bases (where the null holds exactly) must rarely pass q < 0.05, and a score keyed to the
planted motif must give its elements small q.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from seq2exp_cli.elements.null import NullSettings, ShuffledGenome, sequence_null_pvalues
from seq2exp_cli.sequence_shuffle import dinucleotide_shuffle, shuffle_blocks

WINDOW = 10_000
RESOLUTION = 100
MOTIF = "TGACGTCA"  # its own reverse complement: both strands read the same word
# planted motif starts, relative to each gene's TSS (clear of the promoter's DNase peak)
OFFSETS = (-4250, -2750, -1250, 1750, 3250)


def dinucleotide_counts(codes: np.ndarray) -> np.ndarray:
    counts = np.zeros((5, 5), np.int64)
    np.add.at(counts, (codes[:-1], codes[1:]), 1)
    return counts


def test_dinucleotide_shuffle_keeps_doublets_and_is_uniform() -> None:
    rng = np.random.default_rng(0)
    codes = rng.choice(5, size=300, p=[0.3, 0.2, 0.2, 0.25, 0.05]).astype(np.uint8)
    for seed in range(20):
        out = dinucleotide_shuffle(codes, np.random.default_rng(seed))
        assert out[0] == codes[0] and out[-1] == codes[-1]
        assert np.array_equal(dinucleotide_counts(out), dinucleotide_counts(codes))
    assert not np.array_equal(dinucleotide_shuffle(codes, np.random.default_rng(1)), codes)
    # ACAGA: doublets AC, CA, AG, GA; the only sequences with them are ACAGA and AGACA
    small = np.array([0, 1, 0, 2, 0], np.uint8)
    seen = {tuple(dinucleotide_shuffle(small, np.random.default_rng(s)).tolist()) for s in range(200)}
    assert seen == {(0, 1, 0, 2, 0), (0, 2, 0, 1, 0)}
    # uniform: 8 sequences share the doublets of AACCAGGA-like words; each near 1/k of draws
    word = np.array([0, 0, 1, 1, 0, 2, 2, 0, 3, 0], np.uint8)
    draws = [tuple(dinucleotide_shuffle(word, np.random.default_rng(s)).tolist()) for s in range(3000)]
    values, counts = np.unique(np.array(draws), axis=0, return_counts=True)
    expected = 3000 / len(values)
    assert len(values) > 2 and np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    assert np.array_equal(dinucleotide_shuffle(np.array([2, 3], np.uint8), rng), [2, 3])


# ------------------------------------------------------------------------------ datasets


def _read_fasta(path: Path) -> dict[str, str]:
    records: dict[str, list[str]] = {}
    name = None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            records[name] = []
        elif name is not None:
            records[name].append(line.strip())
    return {k: "".join(v) for k, v in records.items()}


def _prepare(tmp: Path, planted: bool) -> tuple[Path, list[tuple[str, int]]]:
    from seq2exp_cli.cli import cli
    from seq2exp_cli.io.fasta import write_fasta
    from synthetic_inputs import SYNTHETIC_GENES, gene_tss, write_synthetic_inputs

    inputs = write_synthetic_inputs(tmp / "inputs", seed=3)
    sites: list[tuple[str, int]] = []
    if planted:
        genome = {k: list(v) for k, v in _read_fasta(inputs["fasta"]).items()}
        for gene in SYNTHETIC_GENES:
            for offset in OFFSETS:
                at = gene_tss(gene) + offset
                genome[gene[2]][at : at + len(MOTIF)] = MOTIF
                sites.append((gene[2], at))
        write_fasta(inputs["fasta"], {k: "".join(v) for k, v in genome.items()})
    out = tmp / "ds"
    args = ["prepare", "--fasta", str(inputs["fasta"]), "--genes", str(inputs["gtf"]),
            "--expression", str(inputs["expression"]), "--track", f"dnase={inputs['dnase']}",
            "--track", f"h3k27ac={inputs['h3k27ac']}", "--hic", str(inputs["cool"]),
            "--blacklist", str(inputs["blacklist"]), "--window", str(WINDOW), "--split-mode", "blocks",
            "--block-size", "40000", "--valid-fraction", "0.25", "--test-fraction", "0.25", "-o", str(out)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, sites


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _prepare(tmp_path_factory.mktemp("planted"), planted=True)


@pytest.fixture(scope="module")
def random_bases(tmp_path_factory):
    return _prepare(tmp_path_factory.mktemp("iid"), planted=False)[0]


# ------------------------------------------------------------------------------ models


def _config(dataset_dir: Path, variant: str, **kw):
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.model.config import ModelConfig

    data = PreparedDataset(dataset_dir)
    values = dict(d_model=8, n_layers=1, resolution=RESOLUTION, stem_pool="max", stem_kernel=9, mlp_hidden=8)
    values.update(kw)
    return ModelConfig.for_data(data.data_config(), variant, **values), data


def _motif_stem(model) -> None:
    """Stem channel 0 = 1 on an exact MOTIF, <= -1 elsewhere (GELU(max) ~0); the others constant."""
    conv = model.stem.seq_embed
    conv.weight.zero_()
    conv.bias.fill_(1.0)
    off = (conv.weight.shape[2] - len(MOTIF)) // 2
    for pos, base in enumerate(MOTIF):
        conv.weight[0, :, off + pos] = -1.0
        conv.weight[0, "ACGT".index(base), off + pos] = 1.0
    conv.bias[0] = -(len(MOTIF) - 1.0)


@torch.no_grad()
def motif_model(dataset_dir: Path, score: str):
    """A model whose ``score`` rises on bins holding MOTIF (and, less, on DNase)."""
    from seq2exp_cli.model.seq2exp import Seq2Exp

    torch.manual_seed(0)
    if score == "contribution":
        config, data = _config(dataset_dir, "nomask", readout="additive", bin_head_stem=True)
        model = Seq2Exp(config)
        _motif_stem(model)
        first, second = model.bin_head[0], model.bin_head[2]
        first.weight.zero_()
        first.bias.zero_()
        d, n_signals = config.d_model, config.n_signals
        first.weight[0, d + 1 + n_signals] = 4.0                 # e_seq channel 0: the motif
        first.weight[1, d + 1 + config.signal_names.index("dnase")] = 1.0
        second.weight.zero_()
        second.weight[0, :2] = 1.0
        second.bias.fill_(-2.0)
    else:
        config, data = _config(dataset_dir, "soft", prior_scale=1.0)
        model = Seq2Exp(config)
        _motif_stem(model)
        for layer in model.generator.layers:
            layer.mixer.out_proj.weight.zero_()                   # generator = its final RMSNorm
        model.mask_head.weight.zero_()
        model.mask_head.bias.zero_()
        model.mask_head.weight[1, 0] = 6.0                        # alpha logit reads the motif channel
    return model.eval(), config, data


@torch.no_grad()
def blind_model(dataset_dir: Path, variant: str):
    """signalprior (mask = prior), or soft with its mask head zeroed: scores ignore sequence."""
    from seq2exp_cli.model.seq2exp import Seq2Exp

    torch.manual_seed(0)
    config, data = _config(dataset_dir, variant)
    model = Seq2Exp(config)
    if variant == "soft":
        model.mask_head.weight.zero_()
    return model.eval(), config, data


def save_run(model, config, data, directory: Path) -> Path:
    from seq2exp_cli.checkpoints import save_checkpoint
    from seq2exp_cli.train_run import model_payload as _model_payload

    directory.mkdir(parents=True, exist_ok=True)
    save_checkpoint(_model_payload(model, config, config.to_dict(), data.data_config(), 1, {"mse": 0.0}),
                    directory / "model.pt")
    return directory


def call(run_dir: Path, dataset_dir: Path, out: Path, score: str, *extra: str) -> "pd.DataFrame":
    import pandas as pd

    from seq2exp_cli.cli import cli
    from seq2exp_cli.io.bed import read_table

    out.parent.mkdir(parents=True, exist_ok=True)
    result = CliRunner().invoke(cli, ["call-elements", str(run_dir), str(dataset_dir), "-o", str(out), "--device",
                                      "cpu", "--score", score, "-l", "100", "--force", *extra])
    assert result.exit_code == 0, result.output
    table = read_table(out, "narrowPeak")
    return table if len(table) else pd.DataFrame(columns=table.columns)


def carries_motif(peaks, sites) -> np.ndarray:
    return np.array([any(c == chrom and start < at + len(MOTIF) and at < end for c, at in sites)
                     for chrom, start, end in peaks[["chrom", "start", "end"]].itertuples(index=False)])


# ------------------------------------------------------------------------------ tests


def test_shuffled_genome_keeps_each_block_and_follows_the_strand(planted) -> None:
    from seq2exp_cli.dataset import COMPLEMENT, PreparedDataset

    data = PreparedDataset(planted[0])
    view = ShuffledGenome(data, 500, (7, 1))
    rid = 0
    own, shuffled = data.region_track(rid, "seq"), view.region_codes(rid)
    assert not np.array_equal(own, shuffled)
    for b in range(0, own.shape[0], 500):
        assert np.array_equal(dinucleotide_counts(own[b : b + 500]), dinucleotide_counts(shuffled[b : b + 500]))
    assert np.array_equal(shuffled, ShuffledGenome(data, 500, (7, 1)).region_codes(rid))     # seeded
    for strand in ("+", "-"):
        gene = int(np.flatnonzero((data.genes["strand"] == strand).to_numpy())[0])
        rid = int(data.genes["region"][gene])
        chrom, w_start, w_end, _ = data.genomic_window(gene)
        r_start = int(data.regions["start"][rid])
        genomic = view.region_codes(rid)[w_start - r_start : w_end - r_start] if w_start >= r_start else None
        seq = view.load_gene(gene)["seq"]
        if genomic is not None and w_end <= int(data.regions["end"][rid]):
            expected = COMPLEMENT[genomic][::-1] if strand == "-" else genomic
            assert np.array_equal(seq, expected)
        original = data.load_gene(gene)
        for key in ("signals", "features", "blacklist"):
            assert np.array_equal(view.load_gene(gene)[key], original[key])


def test_shuffle_blocks_handles_n_runs_and_short_tails() -> None:
    rng = np.random.default_rng(2)
    codes = rng.choice(4, size=2_345).astype(np.uint8)
    codes[100:590] = 4                     # a block of N with a few bases: the rejection fallback
    out = shuffle_blocks(codes, 500, np.random.default_rng(3))
    for b in range(0, codes.shape[0], 500):
        x, y = codes[b : b + 500], out[b : b + 500]
        assert x[0] == y[0] and x[-1] == y[-1] and np.array_equal(dinucleotide_counts(x), dinucleotide_counts(y))


@pytest.mark.parametrize("variant", ["signalprior", "soft"])
def test_a_score_blind_to_sequence_gets_p_1(planted, tmp_path, variant) -> None:
    model, config, data = blind_model(planted[0], variant)
    run = save_run(model, config, data, tmp_path / "run")
    peaks = call(run, planted[0], tmp_path / "el" / "b.bed", "mask", "--top-fraction", "0.1")
    assert len(peaks) >= 5
    assert (peaks["pValue"] == 0).all() and (peaks["qValue"] == 0).all()      # p = q = 1 exactly
    passed = call(run, planted[0], tmp_path / "el" / "q.bed", "mask", "--top-fraction", "0.1", "-q", "0.05")
    assert len(passed) == 0


@pytest.mark.parametrize("score", ["mask", "contribution"])
def test_a_random_model_on_iid_bases_rarely_passes(random_bases, score) -> None:
    """On iid bases the null holds exactly (the genome is a draw from each element's doublet
    class), whatever the model reads: few calls may pass q < 0.05."""
    from seq2exp_cli.elements.combine import combine_gene_scores
    from seq2exp_cli.elements import call_region_table, cutoff_for_fraction, first_region_rows, score_histogram
    from seq2exp_cli.inference import extract_masks
    from seq2exp_cli.model.seq2exp import Seq2Exp

    torch.manual_seed(5)
    kw = dict(readout="additive", bin_head_stem=True) if score == "contribution" else {}
    config, data = _config(random_bases, "soft", prior_scale=0.1, **kw)
    model = Seq2Exp(config).eval()
    indices = data.indices("all")
    track = combine_gene_scores(data.regions, extract_masks(model, data, indices, "cpu", 4, score=score),
                                data.chrom_sizes, "max", blacklist=data.region_blacklist)
    cutoff = cutoff_for_fraction(score_histogram(track), 0.3)
    regions = call_region_table(track, cutoff, 100, 0)
    elements = regions.take(first_region_rows(regions))
    assert len(elements) >= 20
    result = sequence_null_pvalues(model, data, track, elements, cutoff, 100, 0, score=score, indices=indices,
                                   batch_size=4, settings=NullSettings(shuffles=3, seed=1))
    np.testing.assert_allclose(result.score, np.asarray(elements["summit_score"]))
    assert (result.statistic != 0).any() and len(result.null) >= 20     # the model does read the sequence
    q = 10.0 ** -result.qscore
    print(f"{score}: {len(elements)} elements, {(q < 0.05).mean():.3f} pass q < 0.05, "
          f"p quartiles {np.quantile(10.0 ** -result.pscore, [0.25, 0.5, 0.75]).round(3).tolist()}")
    assert (q < 0.05).mean() <= 0.05


@pytest.mark.slow
@pytest.mark.parametrize("score", ["mask", "contribution"])
def test_elements_with_the_planted_motif_get_small_q(planted, tmp_path, score) -> None:
    dataset_dir, sites = planted
    model, config, data = motif_model(dataset_dir, score)
    run = save_run(model, config, data, tmp_path / "run")
    # few elements are called on a genome without the motif, and the smallest p is
    # 1 / (1 + their number): five null genomes give enough of them
    shuffles = ["--null-shuffles", "6"]
    peaks = call(run, dataset_dir, tmp_path / "el" / "m.bed", score, "--top-fraction", "0.12", *shuffles)
    motif = carries_motif(peaks, sites)
    assert motif.sum() >= 30 and (~motif).sum() >= 5                # both kinds are called
    q = 10.0 ** -peaks["qValue"].to_numpy()
    assert np.median(q[motif]) < 0.05 and (q[motif] < 0.05).mean() >= 0.8
    assert (~motif[q < 0.05]).mean() <= 0.1                          # few false discoveries among the passing
    assert np.median(q[~motif]) > 0.05 and q.max() > 3 * q.min()     # the column spreads
    assert ((peaks["peak"] >= 0) & (peaks["peak"] < peaks["end"] - peaks["start"])).all()
    passed = call(run, dataset_dir, tmp_path / "el" / "q.bed", score, "--top-fraction", "0.12", "-q", "0.05",
                  *shuffles)
    assert 0 < len(passed) < len(peaks)                             # -q changes the set
    assert carries_motif(passed, sites).mean() >= 0.9
    assert (10.0 ** -passed["qValue"] <= 0.05 + 1e-9).all()
    again = call(run, dataset_dir, tmp_path / "el" / "m2.bed", score, "--top-fraction", "0.12", *shuffles)
    assert again["pValue"].tolist() == peaks["pValue"].tolist()     # seeded: the same shuffles
