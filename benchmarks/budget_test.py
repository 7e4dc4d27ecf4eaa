"""The paper's equal-budget test: which bases carry the expression signal?

Three region sets with the same number of distal base pairs: seq2exp's called elements, MACS3's
strongest peaks and the top DNase bases. For each, the same model (the benchmark recipe, no
mask) is trained seeing only those bases and every gene's promoter (TSS +- 1 kb): everything
else is hidden the way the blacklist hides bases (its bins get mask 0). Held-out Pearson says
which set holds more of what drives expression.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PROMOTER_FLANK = 1000


def seen_only_dataset(dataset_dir: Path, regions: pd.DataFrame):
    """A PreparedDataset whose blacklist also covers every base outside ``regions`` and the
    promoters (so the model sees only those)."""
    from seq2exp_cli.dataset import PreparedDataset

    class SeenOnly(PreparedDataset):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            tss = self.genes[["chrom", "tss"]]
            promoters = pd.DataFrame({"chrom": tss["chrom"], "start": tss["tss"] - PROMOTER_FLANK,
                                      "end": tss["tss"] + PROMOTER_FLANK})
            seen = pd.concat([regions[["chrom", "start", "end"]], promoters])
            self._seen = {c: (g["start"].to_numpy(np.int64), g["end"].to_numpy(np.int64))
                          for c, g in seen.groupby("chrom")}

        def blacklist_mask(self, chrom: str, start: int, end: int) -> np.ndarray:
            hidden = np.ones(end - start, dtype=bool)
            starts, ends = self._seen.get(chrom, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
            for s, e in zip(starts[(ends > start) & (starts < end)], ends[(ends > start) & (starts < end)]):
                hidden[max(s, start) - start:min(e, end) - start] = False
            return super().blacklist_mask(chrom, start, end) | hidden

    return SeenOnly(dataset_dir)


def top_regions(regions: pd.DataFrame, promoters: pd.DataFrame, target_bp: int) -> pd.DataFrame:
    """The highest-scoring distal regions whose lengths add up to ``target_bp``."""
    from seq2exp_cli.evaluation import overlaps

    distal = regions[~overlaps(regions, promoters)] if len(regions) else regions
    distal = distal.sort_values("score", ascending=False)
    keep = np.cumsum((distal["end"] - distal["start"]).to_numpy()) <= target_bp
    return distal[keep].reset_index(drop=True)


def budget_test(dataset_dir: Path, inputs: Path, manifest: dict, seq2exp_calls: Path, recipe: dict, seed: int,
                device: str, work: Path) -> list[dict]:
    """Held-out Pearson of the recipe's model seeing only each region set; one row per set."""
    from seq2exp_cli.evaluation import overlaps
    from seq2exp_cli.inference import load_model, predict
    from seq2exp_cli.io.intervals import read_bed_intervals
    from seq2exp_cli.metrics import regression_metrics
    from seq2exp_cli.quickstart import distal_bp, dnase_threshold_calls, macs3_peaks, simulated_truth

    _, promoters = simulated_truth(inputs, manifest)
    target = distal_bp(seq2exp_calls, inputs, manifest)
    called = read_bed_intervals(seq2exp_calls)
    sets = {"seq2exp calls": called[~overlaps(called, promoters)]}
    genome_size = int(sum(manifest["chrom_sizes"].values()))
    peaks = macs3_peaks(inputs / manifest["files"]["dnase_reads"], genome_size, work / "macs3")
    if peaks is not None:
        sets["MACS3 peaks (strongest)"] = top_regions(peaks, promoters, target)
    dnase = dnase_threshold_calls(inputs / manifest["files"]["dnase"], target)
    sets["top DNase bases"] = dnase[~overlaps(dnase, promoters)] if len(dnase) else dnase
    rows = []
    for name, regions in sets.items():
        data = seen_only_dataset(dataset_dir, regions)
        run = work / f"budget_{name.split()[0].lower()}"
        _train(data, run, recipe, seed, device)
        model, _ = load_model(run, device)
        frame = predict(model, data, data.indices("test"), device=device).dropna(subset=["target"])
        metrics = regression_metrics(frame["target"].to_numpy(), frame["predicted"].to_numpy())
        rows.append({"regions": name, "bp": int((regions["end"] - regions["start"]).sum()),
                     "pearson": metrics["pearson"]})
    return rows


def _train(data, run: Path, recipe: dict, seed: int, device: str) -> None:
    from seq2exp_cli.model.config import ModelConfig
    from seq2exp_cli.quickstart import RECIPE_MODEL_KEYS
    from seq2exp_cli.train_config import TrainConfig
    from seq2exp_cli.train_run import prepare_run_dir
    from seq2exp_cli.training import fit

    config = ModelConfig.for_data(data.data_config(), "nomask",
                                  **{k: v for k, v in recipe.items() if k in RECIPE_MODEL_KEYS})
    steps = recipe["max_steps"]
    train_config = TrainConfig(lr=recipe["lr"], min_lr=recipe["lr"] / 10, max_steps=steps,
                               batch_size=recipe["batch_size"], eval_every=recipe["eval_every"],
                               checkpoint_every=recipe["eval_every"], seed=seed, device=device,
                               warmup_steps=steps // 10)
    prepare_run_dir(run, force=True, resume=False)
    fit(data, run, config, train_config, command=["bench_accuracy", "budget test"])
