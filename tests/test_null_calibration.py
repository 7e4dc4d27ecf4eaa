"""p and q of called elements on simulated genomes, with the default (cpu preset) model.

On a genome where no distal element acts (``simulate --null-distal``) at most 5 % of the calls
may pass q < 0.05; on an ordinary simulated genome the q column must spread, so that ``-q``
changes the called set. Each genome is simulated, prepared and trained as the quickstart does
(its ``tiny`` recipe: the cpu preset, de novo motifs, 150 steps).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # a simulation, a training run and three calling passes per genome

SEED = 3


def _trained(root: Path, null_distal: bool) -> tuple[Path, Path]:
    from seq2exp_cli.quickstart import RECIPES, in_fresh_process, motif_file, prepare_simulated, train_simulated
    from seq2exp_cli.simulate import simulate

    root.mkdir(parents=True, exist_ok=True)
    inputs = root / "inputs"
    in_fresh_process(simulate, inputs, seed=SEED, scale="tiny", null_distal=null_distal)
    manifest = json.loads((inputs / "simulation.json").read_text())
    dataset = in_fresh_process(prepare_simulated, inputs, manifest, root / "dataset")
    recipe = RECIPES["tiny"]
    train_simulated(dataset, root / "run", recipe, SEED, "cpu", variant=recipe["variant"],
                    motifs=motif_file(inputs, manifest, recipe.get("motifs")))
    return root / "run", dataset


def _call(run: Path, dataset: Path, out: Path, qvalue: float | None = None) -> pd.DataFrame:
    from seq2exp_cli.elements.from_model import call_elements_from_model
    from seq2exp_cli.elements.settings import CallSettings, output_paths
    from seq2exp_cli.quickstart import MAX_GAP, MIN_LENGTH, TOP_FRACTION

    settings = CallSettings(top_fraction=TOP_FRACTION, min_length=MIN_LENGTH, max_gap=MAX_GAP, qvalue=qvalue)
    paths = output_paths(out, settings, links=False)
    call_elements_from_model(run, dataset, paths, settings, device="cpu")
    table = pd.read_csv(paths["narrowPeak"], sep="\t", header=None)
    table.columns = ["chrom", "start", "end", "name", "score", "strand", "signal", "p", "q", "peak"]
    return table


def test_a_genome_without_distal_function_passes_few_calls(tmp_path) -> None:
    run, dataset = _trained(tmp_path / "null", null_distal=True)
    calls = _call(run, dataset, tmp_path / "null_elements.narrowPeak")
    assert len(calls) > 0
    passing = (calls["q"] > -np.log10(0.05)).mean()
    assert passing <= 0.05, f"{passing:.1%} of {len(calls)} calls pass q < 0.05 on a genome with no distal function"


def test_q_spreads_and_q_filters_the_calls(tmp_path) -> None:
    run, dataset = _trained(tmp_path / "real", null_distal=False)
    calls = _call(run, dataset, tmp_path / "elements.narrowPeak")
    assert calls["q"].nunique() >= 5, calls["q"].describe()
    assert (calls["p"] >= 0).all() and (calls["q"] >= 0).all()
    q_values = 10.0 ** -calls["q"]
    cut = float(np.median(q_values))
    kept = _call(run, dataset, tmp_path / "kept.narrowPeak", qvalue=cut)
    assert 0 < len(kept) < len(calls)
    assert (10.0 ** -kept["q"] <= cut * (1 + 1e-6)).all()
