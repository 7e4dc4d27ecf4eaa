"""benchmarks/scale_report.py and bench_call_memory.py on synthetic measurements (no pipeline run)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_call_memory  # noqa: E402
import scale_report  # noqa: E402

PARAMS = {"target_genes": 20_000, "genome_mb": 1750.0, "window_factor": {}, "cores": 2, "gpu_step_s": 0.5,
          "gpu_steps": 50_000}


def saved_run(cpu_per_gene: float = 0.1, power: float = 1.0, rss_per_gene: float = 0.0) -> dict:
    """A bench_scale JSON whose stages cost ``cpu_per_gene * genes ** power`` CPU s."""
    rows = {}
    for n in (500, 1000, 2000, 4000):
        stages = {"simulate": {"stage": "simulate", "cpu_s": 1.0, "wall_s": 1.0, "peak_rss_gib": 0.3, "genes": n}}
        for stage in scale_report.PIPELINE:
            stages[stage] = {"stage": stage, "cpu_s": cpu_per_gene * n ** power, "wall_s": 1.0,
                             "peak_rss_gib": 0.5 + rss_per_gene * n, "peak_rss_anon_gib": 0.3 + rss_per_gene * n,
                             "peak_rss_file_gib": 0.2, "load_1min": [1.0, 1.0]}
        stages["prepare"]["stored_bp"] = 31_000 * n
        stages["prepare"]["store_bytes"] = 5 * 31_000 * n
        stages["train 1 epoch"].update(steps=math.ceil(0.8 * n / 16), global_batch=16, n_train=round(0.8 * n))
        rows[str(n)] = stages
    return {"command": "python benchmarks/bench_scale.py (synthetic)", "window": 100_000, "threads": 1,
            "machine": {}, "wall_s": 60.0, "rows": rows}


def test_fit_and_exponent_of_a_line():
    assert scale_report.fit_line([1, 2, 3], [3, 5, 7]) == pytest.approx((1.0, 2.0))
    assert scale_report.exponent([1, 10, 100], [2, 20, 200]) == pytest.approx(1.0)
    assert scale_report.exponent([1, 10, 100], [1, 100, 10_000]) == pytest.approx(2.0)


def test_linear_stages_and_flat_memory_are_met():
    text = scale_report.render(saved_run(), PARAMS)
    assert "NOT met" not in text
    assert "**call-elements linear in genes**: met (CPU s = 0.0 + 0.1000 x genes, within 0%" in text
    assert "**prepare peak RSS <= 4 GB, bounded**: met" in text
    # the cpu preset's length rule: 16,000 train genes at batch 16 -> 1,000 steps per epoch, 4 epochs
    assert "4 epochs = 4,000 steps" in text


def test_quadratic_cost_and_growing_memory_are_flagged():
    text = scale_report.render(saved_run(cpu_per_gene=1e-5, power=2.0, rss_per_gene=5e-4), PARAMS)
    assert "**predict linear in genes**: NOT met" in text and "genes^2.00" in text
    assert "**call-elements peak RSS <= 4 GB, bounded**: NOT met" in text


def test_call_memory_report_reads_the_call_elements_rows(tmp_path):
    import json

    path = tmp_path / "bench_scale.json"
    path.write_text(json.dumps(saved_run()))
    rows = bench_call_memory.rows_from_json(path)
    assert [r["genes"] for r in rows] == [500, 1000, 2000, 4000]
    text = bench_call_memory.report([("synthetic", rows)], "synthetic", 20_000, 1750.0)
    assert "Bounded by 4 GB" in text
    grown = bench_call_memory.report([("grown", rows[:1] + [
        {**rows[-1], "peak_rss_gib": 3.5, "peak_rss_anon_gib": 3.3}])], "synthetic", 20_000, 1750.0)
    assert "NOT bounded by 4 GB" in grown
