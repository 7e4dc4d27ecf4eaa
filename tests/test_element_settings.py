"""The call-elements settings, output paths and the rank-to-rank packing (elements.settings,
elements.packing) on constructed values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from seq2exp_cli.elements.packing import merged_masks, rounds_of_masks
from seq2exp_cli.elements.settings import CallSettings, check_outputs, output_paths, stem_of
from seq2exp_cli.errors import InputError, OutputExistsError


@pytest.mark.parametrize("settings, has_null, message", [
    (CallSettings(), False, "no threshold"),
    (CallSettings(cutoff=0.5, top_fraction=0.1), False, "--cutoff and --top-fraction"),
    (CallSettings(cutoff=2.0), False, "in \\[0, 1\\]"),
    (CallSettings(cutoff=0.5, pvalue=0.05), False, "no null distribution"),
    (CallSettings(cutoff=0.5, pvalue=0.05, qvalue=0.05), True, "at most one"),
    (CallSettings(cutoff=0.5, pvalue=0.05, null_shuffles=0), True, "--null-shuffles 0"),
    (CallSettings(cutoff=0.5, null_shuffles=1), True, "0 \\(no p/q\\) or >= 2"),
    (CallSettings(top_fraction=1.5), True, "out of range"),
    (CallSettings(cutoff=0.5, min_length=0), True, "--min-length 0"),
])
def test_settings_refuse_impossible_combinations_in_one_line(settings, has_null, message):
    with pytest.raises(InputError, match=message) as caught:
        settings.check(has_null)
    assert "\n" not in str(caught.value)


def test_settings_accept_what_the_command_defaults_to():
    CallSettings(top_fraction=0.05).check(has_null=True)
    CallSettings(cutoff=7.5, score_range=None).check(has_null=False)  # model-free scores are unbounded


def test_output_paths_follow_the_stem(tmp_path):
    settings = CallSettings(cutoff=0.5, cutoff_analysis=True, bedgraph=tmp_path / "s.bdg")
    paths = output_paths(tmp_path / "k562.narrowPeak", settings, links=True)
    assert {k: p.name for k, p in paths.items()} == {
        "narrowPeak": "k562.narrowPeak", "summits": "k562.summits.bed", "links": "k562.links.tsv",
        "bedpe": "k562.links.bedpe", "interact": "k562.links.interact",
        "cutoff_analysis": "k562.cutoff_analysis.tsv", "bedgraph": "s.bdg",
    }
    assert stem_of(paths) == "k562"
    assert stem_of(output_paths(Path("calls.bed"), CallSettings(), links=False)) == "calls"


def test_check_outputs_refuses_an_existing_file_without_force(tmp_path):
    paths = output_paths(tmp_path / "x.bed", CallSettings(cutoff=0.5), links=False)
    paths["summits"].write_text("")
    with pytest.raises(OutputExistsError, match="--force"):
        check_outputs(paths, force=False)
    check_outputs(paths, force=True)


@dataclass
class _Mask:
    index: int
    chrom: str
    start: int
    end: int
    scores: np.ndarray


def test_rounds_from_every_rank_merge_back_into_the_one_process_order():
    indices = list(range(7))
    world, batch = 3, 2
    masks = [_Mask(i, "c", 10 * i, 10 * i + 4, np.full(4, i, np.float32)) for i in indices]
    per_rank = [list(rounds_of_masks(masks[r::world], batch, [])) for r in range(world)]
    n_rounds = max(len(r) for r in per_rank)
    # what rank 0 receives: round j holds every rank's j-th batch (None once a rank is done)
    received = [[rounds[j] if j < len(rounds) else None for rounds in per_rank] for j in range(n_rounds)]
    merged = list(merged_masks(received))
    assert [m.index for m in merged] == [0, 1, 2, 3, 4, 5, 6][:len(merged)]
    assert sorted(m.index for m in merged) == indices
    assert all(np.array_equal(m.scores, np.full(4, m.index, np.float32)) for m in merged)


def test_a_failing_extraction_ends_the_stream_and_is_kept():
    def masks():
        yield _Mask(0, "c", 0, 4, np.zeros(4, np.float32))
        raise RuntimeError("out of memory")

    failures: list[Exception] = []
    rounds = list(rounds_of_masks(masks(), 1, failures))
    assert len(rounds) == 1 and isinstance(failures[0], RuntimeError)


def test_a_q_value_read_back_from_the_narrowpeak_passes_its_own_cut() -> None:
    from seq2exp_cli.elements.calling import passes_as_written

    # 0.04433458 is written as 0.0443346; a user who passes -q 10**-0.0443346 keeps it, and a
    # comparison with the unrounded score would drop it (it lies 2e-8 below the cut)
    scores = np.array([0.04433458, 0.02, 1.5])
    cut = 10.0 ** -0.0443346
    assert passes_as_written(scores, cut).tolist() == [True, False, True]
    assert (scores >= -np.log10(cut)).tolist() == [False, False, True]
