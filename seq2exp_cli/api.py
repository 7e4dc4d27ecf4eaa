"""The Python API: the four steps of the pipeline as functions that return typed results.

    from seq2exp_cli import prepare_dataset, train, predict, call_elements, write_elements

    data = prepare_dataset("hg38.fa", "genes.gtf", "data/", tracks={"dnase": "dnase.bw"},
                           expression="expr.tsv", hic="k562.hic")
    run = train(data, "model/", max_steps=2000)
    table = predict("model/", data).table
    calls = call_elements("model/", data, top_fraction=0.05)
    calls.elements.head(); calls.links.head()
    write_elements(calls, "elements.narrowPeak")

Each function takes the same settings as its command (keyword arguments named like the
options, in snake_case; docs/api.md) and raises :class:`~seq2exp_cli.errors.InputError` with
one line for every mistake a user can fix. Nothing here prints or exits; logging goes to the
``seq2exp_cli`` logger (``seq2exp_cli.logs.configure_logging`` shows it on stderr).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.elements.calling import CalledElements
    from seq2exp_cli.elements.settings import CallSettings
    from seq2exp_cli.train_setup import TrainPlan
    from seq2exp_cli.training import FitResult

PathLike = str | os.PathLike


def prepare_dataset(fasta: PathLike, genes: PathLike, output: PathLike, *,
                    tracks: Mapping[str, PathLike] | None = None,
                    progress: Callable[[str, int], None] | None = None, **options: Any) -> PreparedDataset:
    """Build a dataset at ``output`` (``seq2exp prepare``) and open it.

    ``tracks``: ``{name: bigWig or BAM}`` in channel order; ``options``: any other
    :class:`~seq2exp_cli.prepare_options.PrepareOptions` field (``expression``, ``hic``,
    ``window``, ``blacklist``, ``test_chroms``, ``force``, ...).
    """
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.errors import InputError
    from seq2exp_cli.prepare import prepare_dataset as build
    from seq2exp_cli.prepare_options import PrepareOptions

    known = {f.name for f in dataclasses.fields(PrepareOptions)} - {"fasta", "genes", "output", "tracks"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"prepare_dataset: unknown option(s) {unknown}; use PrepareOptions' fields")
    for name in ("expression", "hic", "blacklist", "gene_features", "split_file"):
        if options.get(name) is not None:
            options[name] = Path(options[name])
    opts = PrepareOptions(fasta=Path(fasta), genes=Path(genes), output=Path(output),
                          tracks=[(name, Path(path)) for name, path in (tracks or {}).items()], **options)
    return PreparedDataset(build(opts, progress))


def _dataset(dataset: PathLike | PreparedDataset) -> PreparedDataset:
    from seq2exp_cli.dataset import PreparedDataset

    return dataset if isinstance(dataset, PreparedDataset) else PreparedDataset(dataset)


@dataclass
class TrainResult:
    """A finished :func:`train` call: where the run is, the settings used, how it ended."""

    run_dir: Path
    plan: TrainPlan
    fit: FitResult

    @property
    def best_metrics(self) -> dict[str, float]:
        return self.fit.best_metrics


def train(dataset: PathLike | PreparedDataset, run_dir: PathLike, *, preset: str = "auto",
          config: PathLike | dict | None = None, variant: str | None = None, resume: bool = False,
          force: bool = False, progress: Callable[[dict[str, Any]], None] | None = None,
          **settings: Any) -> TrainResult:
    """Train into ``run_dir`` (``seq2exp train``): settings merge as defaults < ``preset`` <
    ``config`` (a TOML file or a dict) < ``settings`` (any ModelConfig/TrainConfig field,
    e.g. ``d_model=32, max_steps=500, motifs="jaspar"``); ``resume`` continues from
    ``run_dir/last.pt``."""
    from seq2exp_cli.errors import InputError
    from seq2exp_cli.train_run import finish_run_record, start_run
    from seq2exp_cli.train_settings import resolve_settings
    from seq2exp_cli.training import fit

    if resume and force:
        raise InputError("train: resume and force exclude each other")
    data = _dataset(dataset)
    plan = resolve_settings(data, preset=preset, config=config, variant=variant, values=settings,
                            resume_from=run_dir if resume else None)
    start = start_run(data, run_dir, plan, resume=resume, force=force, motifs=plan.train_config.motif_source)
    try:
        result = fit(data, start.run_dir, plan.model_config, plan.train_config, resume=resume, progress=progress,
                     model_factory=start.model_factory)
    finally:
        finish_run_record(start)
    return TrainResult(start.run_dir, plan, result)


@dataclass
class Predictions:
    """One row per gene (``inference.PREDICTION_COLUMNS``) and the metrics per labelled split."""

    table: pd.DataFrame
    metrics: dict[str, dict[str, float | int | None]]
    model_step: int | None


def predict(run_dir: PathLike, dataset: PathLike | PreparedDataset, *, split: str = "test",
            device: str = "auto", batch_size: int = 8, num_workers: int = 0) -> Predictions:
    """Predict the genes of ``split`` with the model in ``run_dir`` (``seq2exp predict``)."""
    from seq2exp_cli.distributed import setup
    from seq2exp_cli.errors import InputError
    from seq2exp_cli.inference import check_compatible, load_model, predict_in_chunks, split_metrics

    if batch_size <= 0:
        raise InputError(f"predict: batch_size {batch_size} must be > 0")
    torch_device = setup(device)
    data = _dataset(dataset)
    model, meta = load_model(run_dir, torch_device)
    check_compatible(meta, data)
    frame = predict_in_chunks(model, data, data.indices(split), torch_device, batch_size, num_workers)
    return Predictions(frame, split_metrics(frame), meta.get("step"))


@dataclass
class Elements:
    """What :func:`call_elements` called: ``elements`` (narrowPeak columns, one row per element
    or sub-peak), ``summits`` and, in model mode, ``links`` (element -> gene, the ENCODE-rE2G
    columns); ``bedpe`` and ``interact`` are the links in those formats. ``called`` keeps the
    tables as the writers take them (and the score track); ``settings`` how they were called."""

    elements: pd.DataFrame
    summits: pd.DataFrame
    links: pd.DataFrame | None
    bedpe: pd.DataFrame | None
    interact: pd.DataFrame | None
    cutoff: float | None
    score: str
    name: str
    called: CalledElements
    settings: CallSettings


def call_elements(run_dir: PathLike | None = None, dataset: PathLike | PreparedDataset | None = None, *,
                  scores: PathLike | None = None, reference: PathLike | PreparedDataset | None = None,
                  name: str = "elements", combine: str = "max", split: str = "all", score: str = "auto",
                  device: str = "auto", batch_size: int = 8, **options: Any) -> Elements:
    """Call regulatory elements (``seq2exp call-elements``) and return them as DataFrames.

    Model mode: ``run_dir`` and ``dataset``. Model-free mode: ``scores`` (a bigWig by its
    suffix ``.bw``/``.bigWig``, else a bedGraph), with ``reference`` (a dataset) for the
    chromosome order. ``options``: the :class:`~seq2exp_cli.elements.settings.CallSettings`
    fields (``cutoff``, ``top_fraction``, ``pvalue``, ``qvalue``, ``min_length``, ``max_gap``,
    ``call_summits``, ``cutoff_analysis``, ``null_shuffles``, ``cell_type``, ...); without
    ``cutoff`` or ``top_fraction`` the command's defaults apply. Elements are named
    ``NAME_element_N``. Nothing is written: see :func:`write_elements`.
    """
    from seq2exp_cli.elements.settings import call_settings
    from seq2exp_cli.errors import InputError

    model_free = scores is not None
    if model_free == (run_dir is not None or dataset is not None):
        raise InputError("call_elements: give run_dir and dataset (model mode) or scores (model-free mode)")
    if not model_free and (run_dir is None or dataset is None):
        raise InputError("call_elements: model mode needs both run_dir and dataset")
    settings = call_settings(model_free, getattr(dataset, "path", dataset), **options)
    if model_free:
        called, kind = _called_from_scores(Path(scores), reference, settings, name), "file"
    else:
        from seq2exp_cli.elements.from_model import called_from_model

        data = _dataset(dataset)
        with tempfile.TemporaryDirectory(prefix="seq2exp_call_") as scratch:
            called, kind = called_from_model(run_dir, data.path, settings, name, scratch, combine, split, device,
                                             batch_size, score)
    return Elements(called.peaks.to_frame(), called.summits.to_frame(), called.links, called.bedpe,
                    called.interact, called.summary()["score_cutoff"], kind, name, called, settings)


def _called_from_scores(scores: Path, reference: Any, settings: CallSettings, name: str) -> CalledElements:
    from seq2exp_cli.elements import track_from_file
    from seq2exp_cli.elements.calling import call_tables, log_called

    settings.check(has_null=False)
    sizes = _dataset(reference).chrom_sizes if reference is not None else None
    bigwig = scores.suffix.lower() in (".bw", ".bigwig")
    called = call_tables(track_from_file(scores, bigwig=bigwig, reference=sizes), settings, name)
    log_called(called, written=False)
    return called


def write_elements(elements: Elements, output: PathLike, *, force: bool = False,
                   bedgraph: PathLike | None = None, bigwig: PathLike | None = None) -> dict[str, Path]:
    """Write what :func:`call_elements` returned, as ``seq2exp call-elements -o OUTPUT`` does
    (narrowPeak, summits, the links files in model mode, the cutoff analysis when it was
    asked for; the score track as bedGraph/bigWig when given); each file atomically. The
    element names keep the ``name`` they were called with. Returns ``{kind: path}``."""
    from seq2exp_cli.elements.calling import write_called
    from seq2exp_cli.elements.settings import check_outputs, output_paths

    settings = dataclasses.replace(elements.settings, bedgraph=bedgraph, bigwig=bigwig)
    paths = output_paths(output, settings, links=elements.links is not None)
    check_outputs(paths, force)
    write_called(elements.called, paths)
    return paths

