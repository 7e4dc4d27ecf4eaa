"""Tests for seq2exp_cli.simulate (+ simulate_genome, simulate_tracks) and `seq2exp simulate`."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from seq2exp_cli import simulate as S
from seq2exp_cli import simulate_genome as sg
from seq2exp_cli import simulate_tracks as st
from seq2exp_cli.errors import InputError, OutputExistsError

SEED = 3


def _fasta(sim_dir: Path):
    """The simulated FASTA through pysam (a core dependency; case is kept as written)."""
    import pysam

    return pysam.FastaFile(str(sim_dir / "genome.fa"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "a"
    S.simulate(out, seed=SEED, scale="tiny")
    return out


@pytest.fixture(scope="module")
def tiny_cli(tmp_path_factory) -> Path:
    """The same simulation through the command line (also the determinism twin)."""
    from seq2exp_cli.cli import cli

    out = tmp_path_factory.mktemp("sim") / "b"
    res = CliRunner().invoke(cli, ["simulate", "-o", str(out), "--seed", str(SEED), "--scale", "tiny"])
    assert res.exit_code == 0, res.output
    return out


def _manifest(d: Path) -> dict:
    return json.loads((d / "simulation.json").read_text())


def _bed(d: Path, key: str) -> pd.DataFrame:
    m = _manifest(d)
    return pd.read_csv(d / m["files"][key], sep="\t", header=None, names=m["columns"][key])


def _mini(**kw) -> S.SimParams:
    base = {"chrom_sizes": (250_000,), "genes_per_chrom": (6,), "valid_chroms": (), "test_chroms": ()}
    base.update(kw)
    return S.params_for_scale("tiny", **base)


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_files(tiny: Path, tiny_cli: Path) -> None:
    import hictkpy

    names = sorted(p.name for p in tiny.iterdir())
    assert names == sorted(p.name for p in tiny_cli.iterdir())
    for name in names:
        if name == "hic.cool":  # HDF5 stores a creation date: compare the pixels
            a = hictkpy.File(str(tiny / name), 5000)
            b = hictkpy.File(str(tiny_cli / name), 5000)
            for chrom in a.chromosomes():
                np.testing.assert_array_equal(a.fetch(chrom).to_numpy(), b.fetch(chrom).to_numpy())
        elif name == "simulation.json":
            ma, mb = _manifest(tiny), _manifest(tiny_cli)
            ma.pop("seconds"), mb.pop("seconds")
            assert ma == mb
        elif name.endswith(".gz"):  # the gzip header holds a time stamp: compare the content
            assert gzip.decompress((tiny / name).read_bytes()) == gzip.decompress((tiny_cli / name).read_bytes())
        else:
            assert (tiny / name).read_bytes() == (tiny_cli / name).read_bytes(), name


def test_different_seed_differs() -> None:
    p = _mini()
    a = S.simulate_genome(1, p)[0]
    b = S.simulate_genome(2, p)[0]
    again = S.simulate_genome(1, p)[0]
    assert a.text == again.text
    np.testing.assert_array_equal(a.dnase, again.dnase)
    assert a.text != b.text
    assert not np.array_equal(a.genes["tss"], b.genes["tss"])


# --------------------------------------------------------------------------- sequence


def test_genome_composition(tiny: Path) -> None:
    fa = _fasta(tiny)
    m = _manifest(tiny)
    text = "".join(fa.fetch(c) for c in m["chrom_sizes"])
    codes = sg.encode(text)
    comp = sg.composition(codes)
    assert 0.38 <= comp["gc"] <= 0.44
    assert 0.12 <= comp["cpg_obs_exp"] <= 0.40  # human-like CpG depletion
    lower = sum(ch.islower() for ch in text[::7]) / len(text[::7])
    assert 0.3 <= lower <= 0.6  # soft-masked repeats
    for chrom, size in m["chrom_sizes"].items():
        seq = fa.fetch(chrom)
        assert len(seq) == size
        assert seq[:1000] == "N" * 1000 and seq[-1000:] == "N" * 1000  # telomere runs
    assert comp["n_fraction"] > 0.02


def test_motifs_planted_as_recorded(tiny: Path) -> None:
    fa = _fasta(tiny)
    motifs = _bed(tiny, "truth_motifs")
    by_name = {m.name: m for m in sg.MOTIFS}
    for row in motifs.itertuples():
        codes = sg.encode(fa.fetch(row.chrom, row.start, row.end))
        if row.strand == "-":
            codes = sg.revcomp(codes)
        assert int((codes != by_name[row.name].codes).sum()) == row.mismatches <= 1
    # motif content of each element equals the formula over its planted motifs
    el = _bed(tiny, "truth_elements")
    sign = motifs["kind"].map({"activator": 1.0, "repressor": -1.0})
    weight = motifs["name"].map({m.name: m.weight for m in sg.MOTIFS}) * sign
    content = weight.groupby(motifs["region"]).sum().clip(lower=0)
    expected = el["name"].map(content).fillna(0.0)
    np.testing.assert_allclose(el["motif_content"], expected, atol=1e-9)


def test_decoys_have_no_activator_anywhere(tiny: Path) -> None:
    """Not only the recorded motifs: a <= 1-mismatch scan of each decoy finds no activator."""
    fa = _fasta(tiny)
    el = _bed(tiny, "truth_elements")
    act = np.stack([p for i in sg.ACTIVATORS for p in (sg.MOTIFS[i].codes, sg.revcomp(sg.MOTIFS[i].codes))])
    for row in el[el["class"] == "decoy"].itertuples():
        codes = sg.encode(fa.fetch(row.chrom, row.start, row.end))
        win = np.lib.stride_tricks.sliding_window_view(codes, sg.MOTIF_LEN)
        assert not ((win[:, None, :] != act[None]).sum(axis=2) <= 1).any(), row.name
    assert (el.loc[el["class"] == "functional", "n_activators"] >= 1).all()


def test_near_hits_and_plant_region() -> None:
    rng = np.random.default_rng(0)
    codes = sg.iid_bases(rng, 0.4, 400)
    lower = np.ones(400, dtype=bool)
    planted = sg.plant_region(rng, codes, lower, 50, 350, [0, 3, 4], 0.4, (0.4, 0.8))
    assert sorted(p[0] for p in planted) == [0, 3, 4]
    assert not lower[50:350].any()
    assert set(sg.near_hits(codes[50:350]).tolist()) == {p[1] - 50 for p in planted}
    with pytest.raises(ValueError):
        sg.plant_region(rng, codes, lower, 0, 30, [0, 1, 2], 0.0, (0.4, 0.8))


def test_deamination_depletes_cpg() -> None:
    rng = np.random.default_rng(1)
    codes = sg.iid_bases(rng, 0.45, 200_000)
    before = sg.composition(codes)["cpg_obs_exp"]
    sg.deaminate_cpg(rng, codes, 0.8)
    after = sg.composition(codes)["cpg_obs_exp"]
    assert before > 0.9 and after < 0.35


# --------------------------------------------------------------------------- truth and formula


def test_elements_layout(tiny: Path) -> None:
    m = _manifest(tiny)
    el = _bed(tiny, "truth_elements")
    genes = pd.read_csv(tiny / "genes.tsv", sep="\t")
    width = el["end"] - el["start"]
    assert width.between(200, 1000).all()
    counts = el["class"].value_counts()
    assert abs(counts["functional"] - counts["decoy"]) <= 1 + 0.05 * len(el)
    half = m["window"] // 2
    for row in el.itertuples():
        g = genes[genes["chrom"] == row.chrom]
        in_reach = (row.start >= g["tss"] - half + 1) & (row.end <= g["tss"] + half)
        assert in_reach.any(), row.name
        assert (np.abs(g["tss"] - (row.start + row.end) // 2) > 1000).all()  # outside promoters
    for chrom, sub in el.groupby("chrom"):
        s = sub.sort_values("start")
        assert (s["start"].to_numpy()[1:] >= s["end"].to_numpy()[:-1]).all()


def test_decoy_signal_matches_functional(tiny: Path) -> None:
    import pyBigWig

    el = _bed(tiny, "truth_elements")
    ratio = {}
    for track in ("dnase", "h3k27ac"):
        bw = pyBigWig.open(str(tiny / f"{track}.bw"))
        el[track] = [bw.stats(r.chrom, r.start, r.end, type="max")[0] for r in el.itertuples()]
        med = el.groupby("class")[track].median()
        ratio[track] = med["decoy"] / med["functional"]
        bw.close()
    assert all(0.67 < r < 1.5 for r in ratio.values()), ratio
    # signal follows activity in both classes; decoys can be as strong as the strongest
    assert np.corrcoef(np.log(el["activity"]), np.log(el["dnase"]))[0, 1] > 0.7
    assert el.loc[el["class"] == "decoy", "dnase"].max() > el.loc[el["class"] == "functional", "dnase"].median() * 2


def test_links_effect_formula(tiny: Path) -> None:
    m = _manifest(tiny)
    p = m["params"]
    links = pd.read_csv(tiny / "truth_links.tsv", sep="\t")
    el = _bed(tiny, "truth_elements").set_index("name")
    pr = _bed(tiny, "truth_promoters").set_index("name")
    regions = pd.concat([el[["activity", "motif_content"]], pr[["activity", "motif_content"]]])
    assert links["element"].isin(regions.index).all()
    r = regions.loc[links["element"]]
    np.testing.assert_allclose(
        links["effect"], r["activity"].to_numpy() * links["contact"] * r["motif_content"].to_numpy(), rtol=2e-5, atol=1e-9
    )
    # contact = power law x insulation ** k for a whole number k of TAD boundaries
    power = (1 + links["distance"].abs() / p["contact_d0"]) ** -p["contact_gamma"]
    k = np.log(links["contact"] / power) / np.log(p["insulation"])
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    decoys = el.index[el["class"] == "decoy"]
    assert (links.loc[links["element"].isin(decoys), "effect"] == 0).all()
    assert links["element"].isin(decoys).any()
    func = links[links["element"].isin(el.index[el["class"] == "functional"])]
    assert (func.groupby("element")["effect"].max() > 0).all()
    # reach: every element-gene pair inside the window is listed
    genes = pd.read_csv(tiny / "genes.tsv", sep="\t")
    half = m["window"] // 2
    n_pairs = 0
    for row in el.reset_index().itertuples():
        g = genes[genes["chrom"] == row.chrom]
        n_pairs += int(((row.start >= g["tss"] - half + 1) & (row.end <= g["tss"] + half)).sum())
    assert n_pairs == int((links["kind"] == "element").sum())


def test_expression_formula(tiny: Path) -> None:
    p = _manifest(tiny)["params"]
    links = pd.read_csv(tiny / "truth_links.tsv", sep="\t")
    truth = pd.read_csv(tiny / "truth_genes.tsv", sep="\t")
    expr = pd.read_csv(tiny / "expression.tsv", sep="\t")
    assert list(expr.columns) == ["gene_id", "value"]
    distal = truth["gene_id"].map(links.groupby("gene_id")["effect"].sum()).fillna(0.0)
    drive = p["basal"] + p["promoter_weight"] * truth["promoter_activity"] * truth["promoter_motif_content"] + distal
    noise_free = p["tpm_scale"] * drive
    np.testing.assert_allclose(truth["tpm_noise_free"], noise_free, rtol=1e-4)
    value = noise_free * 10.0 ** (p["noise_sd_log10"] * truth["noise_z"])
    np.testing.assert_allclose(expr["value"], value, rtol=1e-4)
    # the noise is modest: the noise-free log expression explains almost all variance
    y = np.log10(1 + expr["value"])
    assert np.corrcoef(y, np.log10(1 + noise_free))[0, 1] > 0.95
    assert y.std() > 0.2 and (expr["value"] > 0).all()
    assert np.abs(truth["noise_z"]).max() < 5


def test_expression_from_truth_pure() -> None:
    p = _mini()
    genes = pd.DataFrame({"gene_id": ["a", "b"], "promoter_activity": [2.0, 1.0], "promoter_motif_content": [0.5, 0.0]})
    links = pd.DataFrame({"gene_id": ["a", "a", "c"], "effect": [1.0, 0.5, 9.0]})
    out = S.expression_from_truth(genes, links, p)
    np.testing.assert_allclose(out["drive"], [p.basal + 1.0 + 1.5, p.basal])
    np.testing.assert_allclose(out["tpm_noise_free"], p.tpm_scale * out["drive"])


# --------------------------------------------------------------------------- file formats


def test_genes_gtf_matches_tsv(tiny: Path) -> None:
    tsv = pd.read_csv(tiny / "genes.tsv", sep="\t")
    assert list(tsv.columns) == ["gene_id", "name", "chrom", "tss", "strand"]
    assert set(tsv["strand"]) == {"+", "-"}
    gtf = pd.read_csv(tiny / "genes.gtf", sep="\t", header=None, comment="#")
    gene = gtf[gtf[2] == "gene"].reset_index(drop=True)
    assert len(gene) == len(tsv)
    ids = gene[8].str.extract(r'gene_id "([^"]+)"')[0]
    names = gene[8].str.extract(r'gene_name "([^"]+)"')[0]
    assert list(ids) == list(tsv["gene_id"]) and list(names) == list(tsv["name"])
    tss = np.where(gene[6] == "+", gene[3] - 1, gene[4] - 1)  # 1-based inclusive -> 0-based
    np.testing.assert_array_equal(tss, tsv["tss"])
    assert (gene[3] <= gene[4]).all()
    exons = gtf[gtf[2] == "exon"]
    assert exons[8].str.contains("transcript_id").all()


def test_fasta_opens_with_pyfaidx(tiny: Path) -> None:
    pyfaidx = pytest.importorskip("pyfaidx", reason="pyfaidx is optional (pip install 'seq2exp[peers]')")
    sizes = _manifest(tiny)["chrom_sizes"]
    assert {k: len(v) for k, v in pyfaidx.Fasta(str(tiny / "genome.fa")).items()} == sizes


def test_files_open_with_standard_readers(tiny: Path) -> None:
    import hictkpy
    import pyBigWig
    import pysam

    m = _manifest(tiny)
    sizes = m["chrom_sizes"]
    fa = pysam.FastaFile(str(tiny / "genome.fa"))
    assert dict(zip(fa.references, fa.lengths)) == sizes
    for track in ("dnase.bw", "h3k27ac.bw"):
        bw = pyBigWig.open(str(tiny / track))
        assert bw.chroms() == sizes
        vals = bw.values("chr1", 0, sizes["chr1"], numpy=True)
        assert np.nanmax(vals) > 10 * np.nanmedian(vals[vals > 0])
        bw.close()
    cool = hictkpy.File(str(tiny / "hic.cool"), 5000)
    assert cool.chromosomes() == sizes
    for key in m["files"].values():
        for name in key.values() if isinstance(key, dict) else [key]:
            assert (tiny / name).is_file(), name
    assert (tiny / "genome.fa.fai").is_file()
    assert m["split"]["valid"] and m["split"]["test"]
    held = [c for chroms in m["split"].values() for c in chroms]
    assert sorted(held) == sorted(sizes)  # whole chromosomes, each once
    assert m["window"] == 20_000 and m["hic_resolution"] == 5000
    assert m["counts"]["genes"] == 60


def test_hic_decays_with_distance_and_dumps_match(tiny: Path) -> None:
    import hictkpy

    cool = hictkpy.File(str(tiny / "hic.cool"), 5000)
    mat = cool.fetch("chr1").to_numpy().astype(float)
    diag = [np.mean(np.diagonal(mat, d)) for d in range(40)]
    assert all(a > b for a, b in itertools.pairwise(diag[:11]))
    assert diag[0] > 20 * diag[39]
    with gzip.open(tiny / "hic.chr1.RAWobserved.gz", "rt") as fh:
        dump = pd.read_csv(fh, sep="\t", header=None, names=["start1", "start2", "count"])
    i, j = dump["start1"] // 5000, dump["start2"] // 5000
    np.testing.assert_array_equal(mat[i, j], dump["count"])
    assert mat.sum() / 2 < dump["count"].sum() + np.trace(mat)  # upper triangle only, no doubles


def test_tad_insulation() -> None:
    rng = np.random.default_rng(0)
    b = st.tad_boundaries(rng, 5_000_000, 500_000)
    assert (np.diff(b) > 0).all() and b[-1] < 5_000_000
    c_in = st.contact(np.array([10_000]), np.array([0]), 5000, 1.0, 0.3)
    c_out = st.contact(np.array([10_000]), np.array([1]), 5000, 1.0, 0.3)
    np.testing.assert_allclose(c_in, 1 / 3)
    np.testing.assert_allclose(c_out, 0.3 / 3)


def test_reads_and_blacklist(tiny: Path) -> None:
    import pyBigWig

    m = _manifest(tiny)
    reads = pd.read_csv(tiny / "dnase_reads.bed", sep="\t", header=None,
                        names=["chrom", "start", "end", "name", "score", "strand"])
    assert len(reads) == m["counts"]["dnase_reads"]
    assert set(reads["strand"]) == {"+", "-"}
    assert ((reads["end"] - reads["start"]) <= m["params"]["read_length"]).all()
    for chrom, sub in reads.groupby("chrom", sort=False):
        assert sub["start"].is_monotonic_increasing and sub["end"].max() <= m["chrom_sizes"][chrom]
    el = _bed(tiny, "truth_elements")
    in_el = 0
    for chrom, sub in el.groupby("chrom"):
        r = reads.loc[reads["chrom"] == chrom, "start"].to_numpy()
        in_el += int(sum(((r >= s) & (r < e)).sum() for s, e in zip(sub["start"], sub["end"])))
    frac_bp = (el["end"] - el["start"]).sum() / sum(m["chrom_sizes"].values())
    assert in_el / len(reads) > 5 * frac_bp  # reads pile up on elements
    blk = pd.read_csv(tiny / "blacklist.bed", sep="\t", header=None, names=["chrom", "start", "end"])
    assert len(blk) >= 3
    bw = pyBigWig.open(str(tiny / "dnase.bw"))
    for r in blk.itertuples():
        assert bw.stats(r.chrom, r.start, r.end)[0] > m["params"]["dnase_peak"]  # artefact signal
    bw.close()


# --------------------------------------------------------------------------- errors and CLI


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="scale"):
        S.simulate(tmp_path / "x", seed=1, scale="huge")
    with pytest.raises(InputError, match="seed"):
        S.simulate(tmp_path / "x", seed=-1, scale="tiny")
    (tmp_path / "exists").mkdir()
    with pytest.raises(OutputExistsError):
        S.simulate(tmp_path / "exists", seed=1, scale="tiny")
    assert not (tmp_path / "x").exists()


def test_cli_refuses_existing_output(tmp_path: Path, tiny_cli: Path) -> None:
    from seq2exp_cli.cli import cli

    before = (tiny_cli / "expression.tsv").read_bytes()
    res = CliRunner().invoke(cli, ["simulate", "-o", str(tiny_cli), "--seed", "9", "--scale", "tiny"])
    assert res.exit_code == 1
    assert "already exists" in res.output and "--force" in res.output
    assert (tiny_cli / "expression.tsv").read_bytes() == before
    res = CliRunner().invoke(cli, ["simulate", "-o", str(tmp_path / "y"), "--scale", "galactic"])
    assert res.exit_code == 2


@pytest.mark.slow
def test_small_scale_generation(tmp_path: Path) -> None:
    m = S.simulate(tmp_path / "small", seed=1, scale="small")
    assert 300 <= m["counts"]["genes"] <= 400
    assert 40_000 <= m["window"] <= 100_000
    assert abs(m["counts"]["functional"] - m["counts"]["decoy"]) <= 2


def test_motif_database_holds_the_grammar_among_distractors(tiny: Path) -> None:
    from seq2exp_cli.io.motifs import read_meme

    motifs, background = read_meme(tiny / "motifs.meme")
    consensi = {"".join("ACGT"[i] for i in m.probs.argmax(1)) for m in motifs}
    grammar = {m.consensus for m in sg.MOTIFS}
    assert grammar <= consensi and len(consensi) == len(motifs) == len(grammar) + 10
    assert all(m.name.startswith("SIM") for m in motifs)  # neutral names: nothing says which act
    planted = [m for m in motifs if "".join("ACGT"[i] for i in m.probs.argmax(1)) in grammar]
    assert all(abs(float(m.probs.max(1).mean()) - (1 - 0.4 / 12)) < 1e-6 for m in planted)
    assert np.allclose(background, 0.25)
