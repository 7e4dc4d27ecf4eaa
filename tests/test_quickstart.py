"""The quickstart at --scale tiny (the README's main job, shrunk), and plot-locus."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from seq2exp_cli.cli import cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart") / "demo"
    result = CliRunner().invoke(cli, ["quickstart", "-o", str(out), "--scale", "tiny", "--device", "cpu"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_quickstart_prints_one_table_with_every_method(demo):
    out, printed = demo
    assert "Held-out expression" in printed and "Pearson" in printed
    assert "| seq2exp (nomask) |" in printed and "| DNase threshold, equal bp |" in printed
    summary = json.loads((out / "summary.json").read_text())
    methods = [row["method"] for row in summary["elements"]]
    assert methods[:2] == ["seq2exp (nomask)", "DNase threshold, equal bp"]
    calls = pd.read_csv(out / "elements.narrowPeak", sep="\t", header=None)
    assert calls.shape[1] == 10 and calls[4].between(0, 1000).all()
    for row in summary["elements"]:
        assert 0.0 <= row["auprc"] <= 1.0 and 0.0 <= row["candidate_auprc"] <= 1.0
    assert summary["expression"]["n"] > 0


def test_quickstart_writes_every_pipeline_output(demo):
    out, _ = demo
    for path in ("inputs/simulation.json", "dataset/manifest.json", "model/model.pt", "model/metrics.tsv",
                 "predictions.tsv", "elements.narrowPeak", "elements.summits.bed", "elements.links.tsv",
                 "elements.score.bw", "summary.md"):
        assert (out / path).is_file(), path
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t")
    assert set(predictions["split"]) == {"test"}


def test_locus_plot_is_a_png(demo, tmp_path):
    pytest.importorskip("matplotlib")
    out, _ = demo
    png = out / "locus.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    gene = pd.read_csv(out / "predictions.tsv", sep="\t")["gene_id"].iloc[0]
    target = tmp_path / "again.png"
    result = CliRunner().invoke(cli, ["plot-locus", str(out / "model"), str(out / "dataset"), "--gene", gene,
                                      "-o", str(target), "--elements", str(out / "elements.narrowPeak"),
                                      "--truth", str(out / "inputs" / "truth_elements.bed"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:4] == b"\x89PNG"
    result = CliRunner().invoke(cli, ["plot-locus", str(out / "model"), str(out / "dataset"), "--gene", "nope",
                                      "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "no gene 'nope'" in result.output


def test_quickstart_refuses_an_existing_directory(tmp_path):
    (tmp_path / "demo").mkdir()
    result = CliRunner().invoke(cli, ["quickstart", "-o", str(tmp_path / "demo"), "--scale", "tiny"])
    assert result.exit_code == 1 and "--force" in result.output


def _refuse(value):
    from seq2exp_cli.errors import InputError

    raise InputError(f"bad value {value}")


def test_hic_steps_run_in_a_fresh_process_and_errors_come_back():
    """Importing hictkpy leaves a thread spinning on one core for the life of the process, so the
    quickstart simulates and prepares (the steps that touch Hi-C files) in a spawned process."""
    import os

    from seq2exp_cli.errors import InputError
    from seq2exp_cli.quickstart import in_fresh_process

    assert in_fresh_process(os.getpid) != os.getpid()
    with pytest.raises(InputError, match="bad value 3"):
        in_fresh_process(_refuse, 3)
