"""``seq2exp prepare`` end to end on generated inputs: values, strand convention, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from seq2exp_cli.cli import cli
from seq2exp_cli.dataset import COMPLEMENT, PreparedDataset
from seq2exp_cli.io.bigwig import BigWigTrack
from seq2exp_cli.io.fasta import FastaReader
from seq2exp_cli.io.hic import open_contacts

from synthetic_inputs import write_synthetic_inputs

WINDOW = 20_000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    # track chromosome names without "chr": prepare must alias them onto the FASTA's
    return write_synthetic_inputs(tmp_path_factory.mktemp("inputs"), seed=0, track_chrom_prefix="")


def base_args(inputs: dict[str, Path], out: Path) -> list[str]:
    return [
        "prepare", "--fasta", str(inputs["fasta"]), "--genes", str(inputs["gtf"]),
        "--expression", str(inputs["expression"]),
        "--track", f"dnase={inputs['dnase']}", "--track", f"h3k27ac={inputs['h3k27ac']}",
        "--hic", str(inputs["cool"]), "--blacklist", str(inputs["blacklist"]),
        "--window", str(WINDOW), "--split-mode", "blocks", "--block-size", "40000",
        "--valid-fraction", "0.2", "--test-fraction", "0.2", "-o", str(out),
    ]


def run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def dataset(inputs, tmp_path_factory) -> PreparedDataset:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    result = run(base_args(inputs, out))
    assert result.exit_code == 0, result.output
    return PreparedDataset(out)


def test_manifest_records_everything(dataset, inputs):
    manifest = dataset.manifest
    assert manifest["window"] == WINDOW
    assert [t["name"] for t in manifest["tracks"]] == ["dnase", "h3k27ac"]
    assert all(t["normalization"] == "log1p" for t in manifest["tracks"])
    assert manifest["hic"]["resolution"] == 5000
    assert list(manifest["chrom_sizes"]) == list(FastaReader(inputs["fasta"]).chrom_sizes)
    assert manifest["aliases"]["track:dnase"]["chr1"] == "1"
    assert str(inputs["dnase"]) in manifest["inputs"] and "md5" in manifest["inputs"][str(inputs["dnase"])]
    assert "prepare" in manifest["command"]
    assert dataset.signal_names == ["dnase", "h3k27ac", "hic"]
    assert dataset.feature_names == ["promoter_dnase", "promoter_h3k27ac", "body_dnase", "body_h3k27ac"]


def test_genes_table_and_targets(dataset, inputs):
    genes = dataset.genes
    expression = pd.read_csv(inputs["expression"], sep="\t")
    assert set(genes["split"]) == {"train", "valid", "test"}
    labelled = genes.set_index("gene_id")["target"].dropna()
    expected = np.log10(1 + expression.set_index(expression.columns[0])[expression.columns[1]])
    common = labelled.index.intersection(expected.index)
    assert len(common) == len(labelled) > 0
    np.testing.assert_allclose(labelled[common], expected[common], rtol=1e-6)
    assert genes["target"].isna().sum() >= 1  # genes without a value stay, unlabelled
    assert not (genes["chrom"] == "chrM").any()  # excluded by default


def _genomic(values: np.ndarray, strand: str) -> np.ndarray:
    return values[::-1] if strand == "-" else values


@pytest.mark.parametrize("strand", ["+", "-"])
def test_sequence_follows_the_strand_convention(dataset, inputs, strand):
    fasta = FastaReader(inputs["fasta"])
    i = int(np.flatnonzero((dataset.genes["strand"] == strand).to_numpy())[0])
    chrom, start, end, got_strand = dataset.genomic_window(i)
    assert got_strand == strand
    genomic = fasta.fetch_codes(chrom, start, end)
    item = dataset.load_gene(i)
    expected = COMPLEMENT[genomic[::-1]] if strand == "-" else genomic
    assert np.array_equal(item["seq"], expected)
    tss = int(dataset.genes.at[i, "tss"])
    centre_base = fasta.fetch_codes(chrom, tss, tss + 1)[0]
    assert item["seq"][WINDOW // 2] == (COMPLEMENT[centre_base] if strand == "-" else centre_base)


def test_tracks_match_the_bigwigs(dataset, inputs):
    for i in range(len(dataset)):
        chrom, start, end, strand = dataset.genomic_window(i)
        item = dataset.load_gene(i)
        for k, name in enumerate(["dnase", "h3k27ac"]):
            track = BigWigTrack(inputs[name])
            raw = track.read(chrom.removeprefix("chr"), start, end)
            np.testing.assert_allclose(_genomic(item["signals"][:, k], strand), np.log1p(raw), rtol=2e-3, atol=2e-3)


def test_hic_channel_is_the_contact_with_the_tss_bin(dataset, inputs):
    contacts = open_contacts(inputs["cool"], resolution=5000)
    for i in range(len(dataset)):
        chrom, start, end, strand = dataset.genomic_window(i)
        tss = int(dataset.genes.at[i, "tss"])
        hic = _genomic(dataset.load_gene(i)["signals"][:, 2], strand)
        positions = np.arange(start, end)
        bins = positions // 5000
        first = bins[0]
        profile = contacts.anchor_profiles(chrom, np.array([tss // 5000]), np.array([first]), bins[-1] - first + 1)[0]
        expected = np.log10(1 + profile[bins - first])
        expected[(positions < 0) | (positions >= dataset.chrom_sizes[chrom])] = 0
        np.testing.assert_allclose(hic, expected, rtol=1e-3, atol=1e-4)  # float16 store
        # piecewise constant over 5-kb genomic bins
        assert np.all(np.diff(hic)[np.diff(bins) == 0] == 0)


def test_windows_past_chromosome_ends_are_padded(dataset):
    sizes = dataset.chrom_sizes
    edge = [i for i in range(len(dataset)) if dataset.genomic_window(i)[1] < 0
            or dataset.genomic_window(i)[2] > sizes[dataset.genomic_window(i)[0]]]
    assert edge, "the synthetic inputs must contain genes near chromosome ends"
    for i in edge:
        chrom, start, end, strand = dataset.genomic_window(i)
        item = dataset.load_gene(i)
        positions = _genomic(np.arange(start, end), strand)
        outside = (positions < 0) | (positions >= sizes[chrom])
        assert np.all(item["seq"][outside] == 4)
        assert np.all(item["signals"][outside] == 0)
        assert not item["blacklist"][outside].any()


def test_blacklist_kept_as_intervals_and_served_per_window(dataset, inputs):
    stored = pd.read_csv(dataset.path / "blacklist.bed", sep="\t", header=None)
    assert len(stored) == len(pd.read_csv(inputs["blacklist"], sep="\t", header=None, comment="#"))
    assert not any(p.name.startswith("blacklist") for p in (dataset.path / "arrays").iterdir())
    chrom, start, end = stored.iloc[0, :3]
    mask = dataset.blacklist_mask(chrom, start - 10, end + 10)
    assert mask[10:-10].all() and not mask[:10].any() and not mask[-10:].any()


def test_regions_store_each_base_once(dataset):
    regions = dataset.regions
    for chrom, group in regions.groupby("chrom"):
        assert np.all(group["start"].to_numpy()[1:] >= group["end"].to_numpy()[:-1])
    assert (dataset.path / "arrays" / "seq.u8").stat().st_size == int((regions["end"] - regions["start"]).sum())


def test_promoter_features_are_log_mean_signal_around_the_tss(dataset):
    i = int(np.argmax(dataset.genes["promoter_dnase"].to_numpy()))
    item = dataset.load_gene(i)
    centre = WINDOW // 2
    # in transcription orientation the 1-kb promoter is [centre-500, centre+500) (+) or shifted by one (-)
    lo = centre - 500 if dataset.genes.at[i, "strand"] == "+" else centre - 499
    stored = item["signals"][lo : lo + 1000, 0].astype(np.float64)  # log1p-normalised
    assert stored.std() > 0  # the identity below would hold for a flat promoter either way
    level = np.log1p(np.expm1(stored).mean())
    np.testing.assert_allclose(level, dataset.genes.at[i, "promoter_dnase"], rtol=1e-3)
    assert abs(stored.mean() - level) > 1e-2  # the mean of logs is a different (worse) summary


@pytest.mark.parametrize("strand", ["+", "-"])
def test_body_features_are_log_mean_signal_over_the_gene_past_its_promoter(dataset, inputs, strand):
    from seq2exp_cli.io.genes import read_genes

    lengths = read_genes(inputs["gtf"]).set_index("gene_id")["length"]
    genes = dataset.genes
    on_strand = np.flatnonzero(genes["strand"].to_numpy() == strand)
    i = int(on_strand[np.argmax(genes["body_h3k27ac"].to_numpy()[on_strand])])
    length = int(lengths[genes.at[i, "gene_id"]])
    assert length > 1000
    centre = WINDOW // 2
    # in transcription orientation the body is bases 500 .. length - 1 past the TSS, on either strand
    lo, hi = centre + 500, centre + min(length, centre)
    stored = dataset.load_gene(i)["signals"][lo:hi, 1].astype(np.float64)
    assert stored.std() > 0
    np.testing.assert_allclose(np.log1p(np.expm1(stored).mean()), genes.at[i, "body_h3k27ac"], rtol=1e-3)
    assert genes.at[i, "body_h3k27ac"] != genes.at[i, "promoter_h3k27ac"]


def test_other_gene_formats_give_the_same_genes(inputs, tmp_path):
    ids = []
    for key in ("gtf", "bed", "genes_tsv"):
        out = tmp_path / key
        args = base_args(inputs, out)
        args[args.index("--genes") + 1] = str(inputs[key])
        assert run(args).exit_code == 0
        prepared = PreparedDataset(out)
        genes = prepared.genes
        # a TSS table gives no gene ends, so no gene-body features
        assert ("body_dnase" in prepared.feature_names) == (key != "genes_tsv")
        ids.append(genes[["gene_id", "chrom", "tss", "strand"]].sort_values("gene_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(ids[0], ids[1])
    pd.testing.assert_frame_equal(ids[0], ids[2])


def test_juicer_dump_and_powerlaw_fallback(inputs, tmp_path):
    args = base_args(inputs, tmp_path / "juicer")
    args[args.index("--hic") + 1] = str(inputs["juicer"])
    args += ["--exclude-chroms", "chr2,chrM"]  # the dump holds chr1 only
    assert run(args).exit_code == 0
    args = base_args(inputs, tmp_path / "powerlaw")
    i = args.index("--hic")
    del args[i : i + 2]
    assert run(args).exit_code == 0
    ds = PreparedDataset(tmp_path / "powerlaw")
    assert ds.manifest["hic"]["normalization"] == "powerlaw"
    hic = ds.load_gene(0)["signals"][:, 2]
    centre = hic[WINDOW // 2]
    assert centre == hic.max() and min(hic[0], hic[-1]) < centre  # falls with distance


def test_bam_track(inputs, tmp_path):
    args = base_args(inputs, tmp_path / "bam") + ["--track", f"reads={inputs['bam']}", "--extsize", "150"]
    result = run(args)
    assert result.exit_code == 0, result.output
    ds = PreparedDataset(tmp_path / "bam")
    assert ds.track_names == ["dnase", "h3k27ac", "reads"]
    assert max(ds.load_gene(i)["signals"][:, 2].max() for i in range(len(ds))) > 0


def test_normalize_none_and_quantile(inputs, tmp_path):
    for mode, dtype in (("none", "float32"), ("quantile", "float16")):
        out = tmp_path / mode
        assert run(base_args(inputs, out) + ["--normalize", mode]).exit_code == 0
        ds = PreparedDataset(out)
        assert ds.manifest["tracks"][0]["dtype"] == dtype and ds.manifest["normalization"] == mode


# --------------------------------------------------------------------------- bad inputs


def _expect_clean_failure(args: list[str], out: Path, *needles: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if not line.startswith("[seq2exp]")]  # info logs aside
    assert len(errors) == 1 and errors[0].startswith("Error: ") and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert not leftovers, f"partial output left behind: {leftovers}"


def _with(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def test_missing_file(inputs, tmp_path):
    out = tmp_path / "ds"
    _expect_clean_failure(_with(base_args(inputs, out), "--fasta", str(tmp_path / "nope.fa")), out, "nope.fa", "not found")
    assert not out.exists()


def test_truncated_bigwig(inputs, tmp_path):
    bad = tmp_path / "cut.bw"
    bad.write_bytes(inputs["dnase"].read_bytes()[:300])
    out = tmp_path / "ds"
    args = [a.replace(str(inputs["dnase"]), str(bad)) for a in base_args(inputs, out)]
    _expect_clean_failure(args, out, "cut.bw")


def test_chromosome_name_mismatch(inputs, tmp_path):
    from seq2exp_cli.io.bigwig import write_bigwig

    other = tmp_path / "other.bw"
    write_bigwig(other, {"scaffold_1": 1000}, {"scaffold_1": np.ones(1000)})
    out = tmp_path / "ds"
    args = [a.replace(str(inputs["dnase"]), str(other)) for a in base_args(inputs, out)]
    _expect_clean_failure(args, out, "other.bw", "scaffold_1", "chr1")


def test_gene_on_chromosome_absent_from_fasta(inputs, tmp_path):
    genes = tmp_path / "genes.tsv"
    table = pd.read_csv(inputs["genes_tsv"], sep="\t")
    table.loc[0, "chrom"] = "chrUn_x"
    table.to_csv(genes, sep="\t", index=False)
    out = tmp_path / "ds"
    _expect_clean_failure(_with(base_args(inputs, out), "--genes", str(genes)), out, "chrUn_x", "--exclude-chroms")


def test_duplicate_gene_ids(inputs, tmp_path):
    genes = tmp_path / "genes.tsv"
    table = pd.read_csv(inputs["genes_tsv"], sep="\t")
    table.loc[1, "gene_id"] = table.loc[0, "gene_id"]
    table.to_csv(genes, sep="\t", index=False)
    out = tmp_path / "ds"
    _expect_clean_failure(_with(base_args(inputs, out), "--genes", str(genes)), out, str(table.loc[0, "gene_id"]))


def test_expression_matching_no_gene(inputs, tmp_path):
    expr = tmp_path / "expr.tsv"
    expr.write_text("gene_id\tvalue\nnot_a_gene\t3.0\nneither\t1.0\n")
    out = tmp_path / "ds"
    _expect_clean_failure(_with(base_args(inputs, out), "--expression", str(expr)), out, "expr.tsv")


def test_non_numeric_expression(inputs, tmp_path):
    table = pd.read_csv(inputs["expression"], sep="\t")
    table[table.columns[1]] = table[table.columns[1]].astype(object)
    table.iloc[2, 1] = "high"
    expr = tmp_path / "expr.tsv"
    table.to_csv(expr, sep="\t", index=False)
    out = tmp_path / "ds"
    _expect_clean_failure(_with(base_args(inputs, out), "--expression", str(expr)), out, "high")


def test_window_longer_than_a_chromosome(inputs, tmp_path):
    out = tmp_path / "ds"
    _expect_clean_failure(_with(base_args(inputs, out), "--window", "400000"), out, "--window 400000", "chr1", "300000")


def test_empty_split(inputs, tmp_path):
    out = tmp_path / "ds"
    args = base_args(inputs, out)
    i = args.index("--split-mode")
    args = args[:i] + ["--split-mode", "chroms", "--test-chroms", "chr2", "--valid-chroms", "chr9"] + args[i + 8 :]
    # a split without labelled genes is allowed (a chromosome to predict), with a warning naming it
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "split 'valid' has no labelled gene" in result.output and (out / "manifest.json").is_file()


def test_hic_resolution_or_normalization_missing(inputs, tmp_path):
    out = tmp_path / "ds"
    _expect_clean_failure(base_args(inputs, out) + ["--hic-resolution", "7000"], out, "7000")
    _expect_clean_failure(base_args(inputs, out) + ["--hic-normalization", "KR"], out, "KR")


def test_existing_output_needs_force(inputs, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    _expect_clean_failure(base_args(inputs, out), out, "--force")
    assert (out / "keep.txt").read_text() == "mine"
    assert run(base_args(inputs, out) + ["--force"]).exit_code == 0
    assert not (out / "keep.txt").exists() and (out / "manifest.json").exists()


def test_window_not_a_multiple_of_the_hic_bin(inputs, tmp_path):
    """Regression: window // bin + 1 Hi-C bins were one short for such windows (IndexError)."""
    out = tmp_path / "odd"
    assert run(_with(base_args(inputs, out), "--window", "4096")).exit_code == 0
    ds = PreparedDataset(out)
    for i in range(len(ds)):
        assert ds.load_gene(i)["signals"].shape == (4096, 3)
