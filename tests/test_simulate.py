"""Tests for the simulator (seq2exp_cli.simulate: pipeline, genome, tracks, grammar) and `seq2exp simulate`."""

from __future__ import annotations

import gzip
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from seq2exp_cli import simulate as S
from seq2exp_cli.simulate import genome as sg
from seq2exp_cli.simulate import grammar as gr
from seq2exp_cli.simulate import tracks as st
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


def _grammar(d: Path) -> gr.Grammar:
    """The grammar a simulation recorded in simulation.json."""
    return gr.Grammar(tuple(gr.Motif(m["name"], m["kind"], m["consensus"], m["weight"]) for m in _manifest(d)["motifs"]))


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
    grammar = _grammar(tiny)
    assert grammar == S.grammar_for(SEED, S.params_for_scale("tiny"))  # the seed's grammar, recorded
    by_name = {m.name: m for m in grammar.motifs}
    for row in motifs.itertuples():
        codes = sg.encode(fa.fetch(row.chrom, row.start, row.end))
        if row.strand == "-":
            codes = sg.revcomp(codes)
        assert int((codes != by_name[row.name].codes).sum()) == row.mismatches <= 1
        assert row.kind == by_name[row.name].kind
    assert set(motifs["name"]) == set(by_name)  # every motif of the grammar is planted somewhere
    # motif content of each candidate equals the formula over its planted motifs
    el = _bed(tiny, "truth_candidates")
    sign = motifs["kind"].map({"activator": 1.0, "repressor": -1.0, "insulator": 0.0})
    weight = motifs["name"].map({m.name: m.weight for m in grammar.motifs}) * sign
    content = weight.groupby(motifs["region"]).sum().clip(lower=0)
    expected = el["name"].map(content).fillna(0.0)
    np.testing.assert_allclose(el["motif_content"], expected, atol=1e-9)
    counts = motifs[motifs["region"].isin(el["name"])].groupby(["region", "kind"]).size().unstack(fill_value=0)
    for kind, column in (("activator", "n_activators"), ("repressor", "n_repressors"), ("insulator", "n_insulators")):
        have = el["name"].map(counts[kind] if kind in counts else pd.Series(dtype=int)).fillna(0)
        np.testing.assert_array_equal(el[column], have)


def test_non_activating_classes_have_no_activator_anywhere(tiny: Path) -> None:
    """Not only the recorded motifs: a <= 1-mismatch scan of each decoy, insulator and inert
    candidate finds no activator."""
    fa = _fasta(tiny)
    el = _bed(tiny, "truth_candidates")
    grammar = _grammar(tiny)
    act = grammar.patterns[[k for i in grammar.activators for k in (2 * i, 2 * i + 1)]]
    quiet = el[el["class"].isin(["decoy", "insulator", "inert"])]
    assert set(quiet["class"]) == {"decoy", "insulator", "inert"}
    for row in quiet.itertuples():
        codes = sg.encode(fa.fetch(row.chrom, row.start, row.end))
        win = np.lib.stride_tricks.sliding_window_view(codes, gr.MOTIF_LEN)
        assert not ((win[:, None, :] != act[None]).sum(axis=2) <= 1).any(), row.name
    assert (el.loc[el["class"].isin(["functional", "orphan", "closed"]), "n_activators"] >= 1).all()


def test_near_hits_and_plant_region() -> None:
    rng = np.random.default_rng(0)
    grammar = gr.draw_grammar(5, (3, 3), (1, 1), (0.5, 1.3), (0.6, 1.2))
    codes = sg.iid_bases(rng, 0.4, 400)
    lower = np.ones(400, dtype=bool)
    planted = sg.plant_region(rng, grammar, codes, lower, 50, 350, [0, 2, 3], 0.4, (0.4, 0.8))
    assert sorted(p[0] for p in planted) == [0, 2, 3]
    assert not lower[50:350].any()
    assert set(sg.near_hits(codes[50:350], grammar).tolist()) == {p[1] - 50 for p in planted}
    # the scan uses the grammar it is given: another seed's motifs are not found here
    other = gr.draw_grammar(6, (3, 3), (1, 1), (0.5, 1.3), (0.6, 1.2))
    assert sg.near_hits(codes[50:350], other).size == 0
    with pytest.raises(ValueError):
        sg.plant_region(rng, grammar, codes, lower, 0, 30, [0, 1, 2], 0.0, (0.4, 0.8))


def test_near_hits_matches_a_brute_force_scan() -> None:
    """The pigeonhole pre-filter loses no window within one mismatch (N bases included)."""
    rng = np.random.default_rng(7)
    grammar = gr.draw_grammar(2, (6, 6), (3, 3), (0.5, 1.3), (0.6, 1.2))
    for _ in range(200):
        codes = sg.iid_bases(rng, 0.45, int(rng.integers(12, 400)))
        for _ in range(int(rng.integers(0, 4))):
            off = int(rng.integers(0, codes.size - 11))
            codes[off:off + 12] = grammar.patterns[int(rng.integers(len(grammar.patterns)))]
            codes[off + int(rng.integers(12))] = int(rng.integers(5))  # one substitution, maybe N
        win = np.lib.stride_tricks.sliding_window_view(codes, gr.MOTIF_LEN)
        for k in (0, 1, 2):
            brute = np.flatnonzero(((win[:, None, :] != grammar.patterns[None]).sum(axis=2) <= k).any(axis=1))
            np.testing.assert_array_equal(sg.near_hits(codes, grammar, k), brute)


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


def test_candidate_classes(tiny: Path) -> None:
    m = _manifest(tiny)
    cand = _bed(tiny, "truth_candidates")
    el = _bed(tiny, "truth_elements")
    genes = pd.read_csv(tiny / "genes.tsv", sep="\t")
    counts = cand["class"].value_counts()
    assert set(counts.index) == {"functional", "decoy", "orphan", "closed", "insulator", "inert"}
    assert {k: int(v) for k, v in counts.items()} == {k: m["counts"][k] for k in counts.index}
    # the fractions of SimParams, within rounding per chromosome (orphans: where there is room)
    n = len(cand)
    for cls, frac in (("functional", 0.35), ("decoy", 0.35), ("closed", 0.1), ("insulator", 0.1)):
        assert abs(counts[cls] - frac * n) <= 3, cls
    assert 0 < counts["orphan"] <= round(0.05 * n) + 3
    # truth_elements.bed: the functional and decoy rows, in the same columns as always
    pairs = cand[cand["class"].isin(["functional", "decoy"])]
    np.testing.assert_array_equal(el[["chrom", "start", "end", "name", "class"]].to_numpy(),
                                  pairs[["chrom", "start", "end", "name", "class"]].to_numpy())
    half = m["window"] // 2
    for chrom, start, end, name, cls in cand[["chrom", "start", "end", "name", "class"]].itertuples(index=False):
        tss = genes.loc[genes["chrom"] == chrom, "tss"]
        in_reach = ((start >= tss - half + 1) & (end <= tss + half)).any()
        overlaps_window = ((end > tss - half + 1) & (start < tss + half)).any()
        if cls == "orphan":
            assert not overlaps_window, name  # outside every gene's window
        else:
            assert in_reach, name
    accessible = cand["class"].isin(["functional", "decoy", "orphan", "insulator"])
    assert (cand.loc[accessible, "activity"] > 0).all() and (cand.loc[~accessible, "activity"] == 0).all()
    assert (cand.loc[cand["class"] == "insulator", "n_insulators"] >= 1).all()
    assert (cand.loc[cand["class"] != "insulator", "n_insulators"] == 0).all()
    inert = cand[cand["class"] == "inert"]
    assert (inert[["n_activators", "n_repressors", "n_insulators"]] == 0).all().all()
    for chrom, sub in cand.groupby("chrom"):
        s = sub.sort_values("start")
        assert (s["start"].to_numpy()[1:] >= s["end"].to_numpy()[:-1]).all()


def test_closed_candidates_have_no_signal(tiny: Path) -> None:
    import pyBigWig

    cand = _bed(tiny, "truth_candidates")
    bw = pyBigWig.open(str(tiny / "dnase.bw"))
    peak = {cls: np.median([bw.stats(r.chrom, r.start, r.end, type="max")[0]
                            for r in cand[cand["class"] == cls].itertuples()])
            for cls in ("functional", "closed", "inert", "orphan")}
    bw.close()
    assert peak["closed"] < 0.2 * peak["functional"] and peak["inert"] < 0.2 * peak["functional"], peak
    assert 0.5 < peak["orphan"] / peak["functional"] < 2, peak


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
    el = _bed(tiny, "truth_candidates").set_index("name")
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
    inactive = el.index[el["class"] != "functional"]
    assert (links.loc[links["element"].isin(inactive), "effect"] == 0).all()
    for cls in ("decoy", "closed", "insulator", "inert"):  # in reach, listed, no effect
        assert links["element"].isin(el.index[el["class"] == cls]).any(), cls
    assert not links["element"].isin(el.index[el["class"] == "orphan"]).any()  # no gene in reach
    func = links[links["element"].isin(el.index[el["class"] == "functional"])]
    assert (func.groupby("element")["effect"].max() > 0).all()
    # the candidate file's summary columns agree with the links
    by_element = links[links["kind"] == "element"].groupby("element")["effect"]
    np.testing.assert_allclose(el["effect_max"], el.index.map(by_element.max()).fillna(0.0), rtol=2e-5, atol=1e-9)
    np.testing.assert_array_equal(el["genes_in_reach"], el.index.map(by_element.size()).fillna(0))
    assert ((el["effect_max"] > 0) == (el["class"] == "functional")).all()
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


# --------------------------------------------------------------------------- grammar and databases


def test_grammar_is_drawn_per_seed() -> None:
    p = S.params_for_scale("tiny")
    grammars = [S.grammar_for(seed, p) for seed in range(12)]
    assert S.grammar_for(3, p) == grammars[3]  # a seed fixes its grammar
    assert len({tuple(m.consensus for m in g.motifs) for g in grammars}) == 12
    assert {len(g.activators) for g in grammars} <= {3, 4, 5, 6} and len({len(g.activators) for g in grammars}) > 1
    assert {len(g.repressors) for g in grammars} <= {1, 2, 3} and len({len(g.repressors) for g in grammars}) > 1
    for g in grammars:
        gr.check_grammar(g)
        assert len(g.insulators) == 1 and all(len(m.consensus) == 12 for m in g.motifs)
        assert all(0.5 <= g.motifs[i].weight <= 1.3 for i in g.activators)
        assert all(0.6 <= g.motifs[i].weight <= 1.2 for i in g.repressors)
        # a copy with one substitution is never within one mismatch of another motif
        codes = g.patterns
        dist = (codes[:, None, :] != codes[None, :, :]).sum(axis=2)
        same = np.arange(len(codes))[:, None] // 2 == np.arange(len(codes))[None, :] // 2
        assert dist[~same].min() >= 5


def test_grammar_checks_reject_bad_motifs() -> None:
    good = S.grammar_for(1, S.params_for_scale("tiny"))
    first = good.motifs[0]

    def with_first(consensus: str) -> gr.Grammar:
        return gr.Grammar((gr.Motif(first.name, first.kind, consensus, first.weight),) + good.motifs[1:])

    second = good.motifs[1].consensus
    near_copy = second[:3] + "ACGT"[("ACGT".index(second[3]) + 1) % 4] + second[4:]  # 1 mismatch away
    for bad in (near_copy, "TGACTTAAGTCA", "ATATATATATAT", "AAAACTGTCAGT", "ACGTTGCAGTCA"):
        with pytest.raises(ValueError):
            gr.check_grammar(with_first(bad))
    shifted = second[1:] + "A"  # the second motif moved by one base
    with pytest.raises(ValueError):
        gr.check_grammar(with_first(shifted))


def test_motif_databases(tiny: Path) -> None:
    from seq2exp_cli.io.motifs import read_meme

    m = _manifest(tiny)
    grammar = _grammar(tiny)
    exact, background = read_meme(tiny / m["files"]["motifs_exact"])
    noisy, _ = read_meme(tiny / m["files"]["motifs_noisy"])
    assert m["files"]["motifs"] == m["files"]["motifs_noisy"]
    assert np.allclose(background, 0.25)
    assert len(exact) == len(grammar.motifs) and len(noisy) == len(grammar.motifs) + m["params"]["database_distractors"]
    assert len(noisy) - len(exact) >= 100
    for db in (exact, noisy):
        assert [x.name for x in db] == [f"MOTIF{k + 1:04d}" for k in range(len(db))]  # neutral names
    table = pd.read_csv(tiny / m["files"]["truth_grammar"], sep="\t")
    assert list(table.columns) == m["columns"]["truth_grammar"]
    assert list(table["name"]) == [x.name for x in grammar.motifs]
    exact_by_id = {x.name: x for x in exact}
    noisy_by_id = {x.name: x for x in noisy}
    for motif, row in zip(grammar.motifs, table.itertuples()):
        pwm = gr.planted_pwm(motif, m["params"]["motif_mutation_prob"])  # what the planted copies imply
        np.testing.assert_allclose(exact_by_id[row.exact_id].probs, pwm, atol=1e-6)
        np.testing.assert_allclose(noisy_by_id[row.noisy_id].probs, pwm, atol=1e-6)
        rec = next(r for r in m["motifs"] if r["name"] == motif.name)
        assert (rec["exact_id"], rec["noisy_id"]) == (row.exact_id, row.noisy_id)
    # shuffled: the grammar's motifs are not a block at either end of the noisy file
    positions = sorted(int(i[5:]) for i in table["noisy_id"])
    assert positions != list(range(1, len(positions) + 1))
    assert positions != list(range(len(noisy) - len(positions) + 1, len(noisy) + 1))
    distractors = [x for x in noisy if x.name not in set(table["noisy_id"])]
    widths = [x.width for x in distractors]
    assert min(widths) >= 8 and max(widths) <= 20 and len(set(widths)) > 8
    ic = np.array([gr.information_content(x.probs).mean() for x in distractors])
    assert 0.9 < np.median(ic) < 1.6 and ic.min() > 0.3  # JASPAR-like, not random strings
    assert all(not gr.resembles_grammar(x.probs, grammar) for x in distractors)  # none is a planted motif


def test_databases_differ_between_seeds() -> None:
    p = S.params_for_scale("tiny")
    a = gr.motif_databases(1, S.grammar_for(1, p), 0.4, 20)
    b = gr.motif_databases(2, S.grammar_for(2, p), 0.4, 20)
    assert len(a["noisy"]) == len(S.grammar_for(1, p).motifs) + 20
    assert any(x.probs.shape != y.probs.shape or not np.allclose(x.probs, y.probs) for x, y in zip(a["noisy"], b["noisy"]))
    again = gr.motif_databases(1, S.grammar_for(1, p), 0.4, 20)
    assert all(np.array_equal(x.probs, y.probs) and x.source == y.source for x, y in zip(a["noisy"], again["noisy"]))


# --------------------------------------------------------------------------- null genome and scales


def test_null_distal_genome(tmp_path: Path, tiny: Path) -> None:
    from seq2exp_cli.cli import cli

    out = tmp_path / "null"
    res = CliRunner().invoke(cli, ["simulate", "-o", str(out), "--seed", str(SEED), "--scale", "tiny", "--null-distal"])
    assert res.exit_code == 0, res.output
    m = _manifest(out)
    assert m["null_distal"] is True and m["params"]["null_distal"] is True
    assert m["counts"]["functional"] == 0 and m["counts"]["decoy"] > 0
    links = pd.read_csv(out / "truth_links.tsv", sep="\t")
    assert len(links) and (links["effect"] == 0).all()  # no distal region acts, promoters of others included
    truth = pd.read_csv(out / "truth_genes.tsv", sep="\t")
    p = m["params"]
    np.testing.assert_allclose(truth["distal_effect"], 0.0)
    np.testing.assert_allclose(
        truth["drive"], p["basal"] + p["promoter_weight"] * truth["promoter_activity"] * truth["promoter_motif_content"],
        rtol=1e-5)
    assert np.log10(1 + truth["value"]).std() > 0.2  # own promoters still drive expression
    cand = _bed(out, "truth_candidates")
    assert (cand["effect_max"] == 0).all() and (cand["class"] == "closed").any()
    # the same seed's grammar, positions and activities as the ordinary genome; its functional
    # candidates are decoys here
    assert _grammar(out) == _grammar(tiny)
    ordinary = _bed(tiny, "truth_candidates")
    np.testing.assert_array_equal(cand[["chrom", "start", "end"]].to_numpy(), ordinary[["chrom", "start", "end"]].to_numpy())
    np.testing.assert_allclose(cand["activity"], ordinary["activity"])
    was_functional = (ordinary["class"] == "functional").to_numpy()
    assert (cand.loc[was_functional, "class"] == "decoy").all()
    assert (cand.loc[~was_functional, "class"] == ordinary.loc[~was_functional, "class"]).all()
    for track in ("dnase.bw", "h3k27ac.bw"):  # the same chromatin signal: only sequence and expression differ
        assert (out / track).read_bytes() == (tiny / track).read_bytes()
    assert (out / "expression.tsv").read_bytes() != (tiny / "expression.tsv").read_bytes()


def test_class_fractions() -> None:
    p = S.params_for_scale("small")
    f = p.class_fractions()
    assert f == pytest.approx({"functional": 0.35, "decoy": 0.35, "orphan": 0.05, "closed": 0.1,
                               "insulator": 0.1, "inert": 0.05})
    null = replace(p, null_distal=True).class_fractions()
    assert null["functional"] == 0 and null["decoy"] == pytest.approx(0.7)
    assert sum(null.values()) == pytest.approx(1.0)


def test_medium_scale_parameters() -> None:
    small = S.params_for_scale("small")
    p = S.params_for_scale("medium")
    assert "medium" in S.SCALES
    assert sum(p.genes_per_chrom) >= 2500 and len(p.chrom_sizes) >= 8
    assert p.window == small.window == 40_000 and p.element_spacing == small.element_spacing
    assert len(p.test_chroms) == 2 and len(p.valid_chroms) == 2
    assert set(p.test_chroms + p.valid_chroms) <= set(p.names())
    assert len(p.genes_per_chrom) == len(p.chrom_sizes)
