"""`seq2exp call-elements` through Click's CliRunner: one test per option group."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from seq2exp_cli.cli import cli
from seq2exp_cli.io.bed import CUTOFF_ANALYSIS_COLUMNS, LINKS_COLUMNS, NARROWPEAK_COLUMNS, read_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22"


def write_toy_bedgraph(path: Path) -> None:
    """Fixed toy score track: chrB (1000 bp) and chrA (500 bp), gap-free."""
    path.write_text(
        "chrB\t0\t100\t0\nchrB\t100\t250\t0.6\nchrB\t250\t260\t0\nchrB\t260\t300\t0.8\nchrB\t300\t310\t0.95\n"
        "chrB\t310\t400\t0.8\nchrB\t400\t600\t0.1\nchrB\t600\t650\t0.9\nchrB\t650\t800\t0\nchrB\t800\t1000\t0.7\n"
        "chrA\t0\t150\t0\nchrA\t150\t380\t0.55\nchrA\t380\t500\t0\n"
    )


def run(args: list[str]):
    return CliRunner().invoke(cli, ["call-elements", *args])


def test_model_free_bedgraph_golden_outputs(tmp_path) -> None:
    write_toy_bedgraph(tmp_path / "s.bdg")
    (tmp_path / "out").mkdir()
    result = run(["--from-bedgraph", str(tmp_path / "s.bdg"), "-o", str(tmp_path / "out" / "toy.narrowPeak")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "toy.narrowPeak").read_text().splitlines() == [
        "chrB\t100\t400\ttoy_element_1\t950\t.\t0.678333\t-1\t-1\t205",
        "chrB\t800\t1000\ttoy_element_2\t700\t.\t0.7\t-1\t-1\t100",
        "chrA\t150\t380\ttoy_element_3\t550\t.\t0.55\t-1\t-1\t115",
    ]
    assert (tmp_path / "out" / "toy.summits.bed").read_text().splitlines()[0] == "chrB\t305\t306\ttoy_element_1\t0.95"
    assert not (tmp_path / "out" / "toy.links.tsv").exists()        # no genes in model-free mode
    record = json.loads((tmp_path / "out" / "toy.run.json").read_text())
    assert record["n_elements"] == 3 and record["score_cutoff"] == 0.5


def test_thresholds_and_lengths(tmp_path) -> None:
    write_toy_bedgraph(tmp_path / "s.bdg")
    base = ["--from-bedgraph", str(tmp_path / "s.bdg"), "--force"]
    r = run([*base, "-o", str(tmp_path / "a.bed"), "-c", "0.85", "-l", "10", "-g", "0"])
    assert r.exit_code == 0, r.output
    peaks = read_table(tmp_path / "a.bed", "narrowPeak")
    assert peaks[["start", "end"]].values.tolist() == [[300, 310], [600, 650]]
    r = run([*base, "-o", str(tmp_path / "b.bed"), "--top-fraction", "0.04", "-l", "10"])
    assert r.exit_code == 0, r.output
    assert read_table(tmp_path / "b.bed", "narrowPeak")[["start", "end"]].values.tolist() == [[300, 310], [600, 650]]
    r = run([*base, "-o", str(tmp_path / "c.bed"), "--top-fraction", "0.5"])
    assert r.exit_code == 0, r.output
    peaks = read_table(tmp_path / "c.bed", "narrowPeak")
    assert (peaks["pValue"] == -1).all() and (peaks["qValue"] == -1).all()   # model-free: no null
    assert peaks["score"].between(0, 1000).all()


def test_optional_outputs(tmp_path) -> None:
    from seq2exp_cli.io.bed import read_bedgraph
    from seq2exp_cli.io.bigwig import BigWigTrack

    write_toy_bedgraph(tmp_path / "s.bdg")
    r = run(["--from-bedgraph", str(tmp_path / "s.bdg"), "-o", str(tmp_path / "x.bed"), "--cutoff-analysis",
             "--cutoff-analysis-steps", "10", "--bigwig", str(tmp_path / "x.bw"), "--bedgraph",
             str(tmp_path / "x.bdg"), "--call-summits"])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "x.cutoff_analysis.tsv", sep="\t")
    assert tuple(table.columns) == CUTOFF_ANALYSIS_COLUMNS and len(table) >= 1
    with BigWigTrack(tmp_path / "x.bw") as bw:
        assert bw.read("chrB", 300, 310).tolist() == pytest.approx([0.95] * 10)
    back = read_bedgraph(tmp_path / "x.bdg")
    assert list(back) == ["chrB", "chrA"] and back["chrB"].ends[-1] == 1000


def test_from_bigwig_with_reference_sizes(tmp_path) -> None:
    from seq2exp_cli.io.bigwig import write_bigwig

    v = np.zeros(1000, np.float32)
    v[200:500] = 0.9
    write_bigwig(tmp_path / "s.bw", {"1": 1000}, {"1": v})
    (tmp_path / "ref.sizes").write_text("chr2\t5000\nchr1\t1000\n")
    r = run(["--from-bigwig", str(tmp_path / "s.bw"), "--chrom-sizes", str(tmp_path / "ref.sizes"),
             "-o", str(tmp_path / "o.bed")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.bed").read_text().startswith("chr1\t200\t500\to_element_1\t900\t")
    (tmp_path / "bad.sizes").write_text("chrX\t1000\n")
    r = run(["--from-bigwig", str(tmp_path / "s.bw"), "--chrom-sizes", str(tmp_path / "bad.sizes"),
             "-o", str(tmp_path / "p.bed")])
    assert r.exit_code == 1 and "not in the reference" in r.output and "1" in r.output


def test_bad_inputs_exit_1_with_one_line(tmp_path) -> None:
    write_toy_bedgraph(tmp_path / "s.bdg")
    src = ["--from-bedgraph", str(tmp_path / "s.bdg")]
    r = run([*src, "-o", str(tmp_path / "nodir" / "x.bed")])
    assert r.exit_code == 1 and "does not exist" in r.output
    assert run([*src, "-o", str(tmp_path / "x.bed")]).exit_code == 0
    r = run([*src, "-o", str(tmp_path / "x.bed")])
    assert r.exit_code == 1 and "--force" in r.output
    r = run([*src, "-o", str(tmp_path / "y.bed"), "-q", "0.05"])
    assert r.exit_code == 1 and "no null distribution" in r.output
    r = run([*src, "-o", str(tmp_path / "y.bed"), "-p", "2"])
    assert r.exit_code == 1 and "(0, 1]" in r.output
    r = run([*src, "-o", str(tmp_path / "y.bed"), "-p", "0.1", "-q", "0.1"])
    assert r.exit_code == 1 and "at most one" in r.output
    r = run([*src, "-o", str(tmp_path / "y.bed"), "-c", "0.5", "--top-fraction", "0.1"])
    assert r.exit_code == 1 and "exactly one" in r.output
    for result in (r,):
        assert len(result.output.strip().splitlines()) == 1
    assert run(["-o", str(tmp_path / "z.bed")]).exit_code == 2


def test_empty_result_writes_valid_empty_files(tmp_path) -> None:
    write_toy_bedgraph(tmp_path / "s.bdg")
    r = run(["--from-bedgraph", str(tmp_path / "s.bdg"), "-o", str(tmp_path / "e.bed"), "-c", "0.99"])
    assert r.exit_code == 0 and "no elements" in r.output
    assert (tmp_path / "e.bed").read_text() == "" and (tmp_path / "e.summits.bed").read_text() == ""


# ------------------------------------------------------------------------------------------
# model mode with a hand-built model and dataset standing in for inference/dataset


class FakeDataset:
    def __init__(self, path) -> None:
        self.path = Path(path)
        self.chrom_sizes = {"c1": 2000, "c2": 500}
        self.regions = pd.DataFrame({"region_id": [0, 1], "chrom": ["c1", "c2"], "start": [0, 0],
                                     "end": [1500, 400]})
        self.genes = pd.DataFrame({"gene_id": ["G0", "G1", "G2"], "name": ["A", "B", "C"],
                                   "chrom": ["c1", "c1", "c2"], "tss": [500, 1000, 200]})

    def indices(self, split="all"):
        return np.arange(3)

    def region_blacklist(self, rid):
        mask = np.zeros(1500 if rid == 0 else 400, bool)
        if rid == 0:
            mask[1400:1500] = True
        return mask

    def data_config(self):
        return {"window": 1000}


def _fake_masks(model, dataset, indices, device="cpu", batch_size=8, score="mask"):
    from seq2exp_cli.inference import GeneMask

    a = np.zeros(1000, np.float32)
    a[300:600] = 0.8
    b = np.zeros(1000, np.float32)
    b[0:100] = 0.9               # genome 500..600, overlaps gene A's element
    b[900:1000] = 0.95           # genome 1400..1500: blacklisted
    c = np.zeros(400, np.float32)
    c[100:350] = 0.7
    for m in (GeneMask(0, "c1", 0, 1000, a), GeneMask(1, "c1", 500, 1500, b), GeneMask(2, "c2", 0, 400, c)):
        if m.index in indices:
            yield m


@pytest.fixture
def fake_model(monkeypatch):
    import seq2exp_cli.dataset as dataset_module
    import seq2exp_cli.inference as inference

    monkeypatch.setattr(dataset_module, "PreparedDataset", FakeDataset)
    monkeypatch.setattr(inference, "load_model", lambda run_dir, device="cpu": (object(), {
        "model_config": {"mu": 0.1, "sigma": 10.0}, "data_config": {"window": 1000}}))
    monkeypatch.setattr(inference, "extract_masks", _fake_masks)


def test_model_mode_outputs_and_links(tmp_path, fake_model) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "data").mkdir()
    r = run([str(tmp_path / "run"), str(tmp_path / "data"), "-o", str(tmp_path / "m.bed"), "-l", "100", "-c", "0.5",
             "--null-shuffles", "0"])
    assert r.exit_code == 0, r.output
    peaks = read_table(tmp_path / "m.bed", "narrowPeak")
    assert tuple(peaks.columns) == NARROWPEAK_COLUMNS
    assert peaks[["chrom", "start", "end"]].values.tolist() == [["c1", 300, 600], ["c2", 100, 350]]
    assert (peaks["pValue"] == -1).all() and (peaks["qValue"] == -1).all()     # --null-shuffles 0: no p/q
    assert peaks["score"].between(0, 1000).all() and (peaks["end"] <= 2000).all()
    links = read_table(tmp_path / "m.links.tsv", "links")
    assert tuple(links.columns) == LINKS_COLUMNS
    assert links[["name", "TargetGene", "distanceToTSS"]].values.tolist() == [
        ["m_element_1", "A", 50], ["m_element_1", "B", 550], ["m_element_2", "C", 25]]
    assert (links["CellType"] == "data").all()  # the dataset directory's name by default
    bedpe = (tmp_path / "m.links.bedpe").read_text().splitlines()
    assert bedpe[1].split("\t")[:7] == ["c1", "300", "600", "c1", "1000", "1001", "m_element_1|B"]
    assert not list(tmp_path.glob(".seq2exp_gene_scores*"))        # the spill is removed
    r = run([str(tmp_path / "run"), str(tmp_path / "data"), "-o", str(tmp_path / "n.bed"), "-c", "1.5"])
    assert r.exit_code == 1 and "[0, 1]" in r.output


def test_model_mode_defaults_to_a_share_of_the_scored_bases(tmp_path, fake_model) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "data").mkdir()
    r = run([str(tmp_path / "run"), str(tmp_path / "data"), "-o", str(tmp_path / "d.bed"), "-l", "1",
             "--null-shuffles", "0"])
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "d.run.json").read_text())
    assert record["parameters"]["top_fraction"] == 0.05 and record["parameters"]["cutoff"] is None
    r = run([str(tmp_path / "run"), str(tmp_path / "data"), "-o", str(tmp_path / "e.bed"), "-l", "1",
             "--top-fraction", "0.05", "--null-shuffles", "0"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d.bed").read_text().replace("d_element", "x") == (tmp_path / "e.bed").read_text().replace(
        "e_element", "x")


def test_model_mode_rejects_a_mismatched_dataset(tmp_path, fake_model, monkeypatch) -> None:
    import seq2exp_cli.inference as inference

    monkeypatch.setattr(inference, "load_model", lambda run_dir, device="cpu": (object(), {
        "model_config": {"mu": 0.1, "sigma": 10.0}, "data_config": {"window": 2000}}))
    (tmp_path / "run").mkdir()
    (tmp_path / "data").mkdir()
    r = run([str(tmp_path / "run"), str(tmp_path / "data"), "-o", str(tmp_path / "m.bed")])
    assert r.exit_code == 1 and "window" in r.output


def test_real_k562_dnase_track_model_free(tmp_path) -> None:
    if not (DATA / "k562.dnase.chr22.bw").is_file():
        pytest.skip("shared K562 chr22 data not present")
    r = run(["--from-bigwig", str(DATA / "k562.dnase.chr22.bw"), "--chrom-sizes", str(DATA / "hg38.chr22.chrom.sizes"),
             "-o", str(tmp_path / "dnase.bed"), "-c", "100", "-l", "500", "-g", "0"])
    assert r.exit_code == 0, r.output
    peaks = read_table(tmp_path / "dnase.bed", "narrowPeak")
    assert len(peaks) > 100 and (peaks["chrom"] == "chr22").all() and (peaks["end"] <= 50_818_468).all()
    assert (peaks["end"] - peaks["start"] >= 500).all() and peaks["score"].between(0, 1000).all()


def test_masks_travel_to_rank_0_exactly() -> None:
    from seq2exp_cli.elements.packing import pack_scores, unpack_scores

    rng = np.random.default_rng(3)
    binned = np.repeat(rng.random(50, dtype=np.float32), 100)  # a 100-bp resolution mask
    binned[:100] = 0.0
    binned[100:150] = -0.0                                       # a different bit pattern from 0.0
    binned[4000:4100] = np.nan
    values, lengths = pack_scores(binned[::-1])                  # minus-strand windows are flipped views
    assert lengths is not None and len(values) == 51 and lengths.sum() == 5000
    back = unpack_scores(values, lengths)
    assert back.dtype == np.float32 and back.view(np.uint32).tolist() == binned[::-1].view(np.uint32).tolist()
    noisy = rng.random(1000, dtype=np.float32)                   # 1-bp resolution: sent as it is
    values, lengths = pack_scores(noisy)
    assert lengths is None and np.array_equal(unpack_scores(values, lengths), noisy)
    assert unpack_scores(*pack_scores(np.zeros(0, np.float32))).shape == (0,)


def test_model_free_bigwig_path_never_imports_pandas_or_torch(tmp_path) -> None:
    """The start-up of model-free calling is a large share of its time: it must stay light."""
    import subprocess
    import sys

    from seq2exp_cli.io.bigwig import write_bigwig

    v = np.zeros(3000, np.float32)
    v[200:900] = 0.9
    v[1200:1500] = 0.6
    write_bigwig(tmp_path / "s.bw", {"c1": 3000}, {"c1": v})
    code = (
        "import sys\n"
        "from seq2exp_cli.cli import cli\n"
        "try:\n"
        "    cli.main(sys.argv[1:], prog_name='seq2exp')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in ('pandas', 'torch', 'scipy') if m in sys.modules)\n"
        "print('HEAVY', ','.join(heavy))\n"
    )
    args = ["call-elements", "--from-bigwig", str(tmp_path / "s.bw"), "-o", str(tmp_path / "o.bed"), "-l", "100",
            "--call-summits", "--cutoff-analysis", "--bedgraph", str(tmp_path / "o.bdg"), "--bigwig",
            str(tmp_path / "o.bw")]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "HEAVY \n" in done.stdout
    assert (tmp_path / "o.bed").read_text().startswith("c1\t200\t900\to_element_1\t900\t")


PEER_LINKS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "k562_chr22" / "peers"
              / "ENCODE_rE2G.K562_chr22.dhs_intact_hic.predictions_threshold0.243.tsv.gz")
#: ENCODE-rE2G's model-specific feature columns; the rest is the predictions format proper
RE2G_FEATURES = {"normalizedDNase_prom", "contactFrequency", "ABC.Score", "numCandidateEnhGene", "numTSSEnhGene",
                 "sumNearbyEnhancers", "ubiquitousExpressedGene", "ENCODE-rE2G.Score"}


def test_narrowpeak_output_and_links_in_the_encode_re2g_format(tmp_path, fake_model) -> None:
    if not PEER_LINKS.exists():
        pytest.skip(f"peer file {PEER_LINKS} not present (k562_chr22 kit)")
    (tmp_path / "run").mkdir()
    (tmp_path / "data").mkdir()
    r = run([str(tmp_path / "run"), str(tmp_path / "data"), "-o", str(tmp_path / "k.narrowPeak"), "-l", "100",
             "-c", "0.5", "--cell-type", "K562", "--null-shuffles", "0"])  # the fake model has no null genomes
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert names == ["k.links.bedpe", "k.links.interact", "k.links.tsv", "k.narrowPeak", "k.run.json",
                     "k.summits.bed"]
    peer = pd.read_csv(PEER_LINKS, sep="\t", nrows=50)
    format_columns = [c for c in peer.columns if c not in RE2G_FEATURES]
    ours = pd.read_csv(tmp_path / "k.links.tsv", sep="\t", usecols=format_columns)
    assert list(ours.columns) == format_columns and len(ours) == 3
    for column in format_columns:  # the same kinds of values as the peer's (NA: no labels, no Ensembl ids here)
        kind = {"i": "number", "f": "number"}.get(ours[column].dtype.kind, ours[column].dtype.kind)
        assert kind == {"i": "number", "f": "number"}.get(peer[column].dtype.kind, peer[column].dtype.kind) or \
            ours[column].isna().all(), column
    assert ours["CellType"].tolist() == ["K562"] * 3
    # element c1:300-600 holds gene A's TSS (500) and lies 400 bp from B's (1000): within 500 bp of both
    assert ours[["class", "TargetGene", "isSelfPromoter"]].values.tolist() == [
        ["promoter", "A", True], ["promoter", "B", True], ["promoter", "C", True]]
    interact = (tmp_path / "k.links.interact").read_text().splitlines()
    fields = interact[1].split("\t")
    assert len(fields) == 18 and fields[:3] == ["c1", "300", "1001"] and fields[6] == "K562"
    assert fields[8:11] == ["c1", "300", "600"] and fields[13:17] == ["c1", "1000", "1001", "B"]
    record = json.loads((tmp_path / "k.run.json").read_text())
    assert record["parameters"]["cell_type"] == "K562" and record["outputs"]["interact"].endswith(".interact")
