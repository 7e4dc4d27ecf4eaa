"""A training run's directory and records: creating (or clearing) it, the configs stored for a
resume, the model checkpoint's payload, the run record's JSON and its extra fields, and the
motif seeding of a fresh run (:func:`start_run`, used by the command and the Python API)."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seq2exp_cli import __version__
from seq2exp_cli.checkpoints import CHECKPOINT_VERSION, LAST_FORMAT, MODEL_FORMAT, load_checkpoint, remove_stale_temporaries
from seq2exp_cli.distributed import rank
from seq2exp_cli.errors import InputError, ModelMismatchError, OutputExistsError
from seq2exp_cli.io.atomic import atomic_path

RUN_FILES = ("model.pt", "last.pt", "metrics.tsv", "run.json")


def prepare_run_dir(run_dir: str | Path, force: bool, resume: bool) -> Path:
    """Create ``run_dir``; refuse an existing one unless ``force`` (our files are removed) or
    ``resume`` (``last.pt`` must be there)."""
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise InputError(f"{run_dir}: nothing to resume (no last.pt); drop --resume to start a new run")
        return run_dir
    if run_dir.exists():
        if not run_dir.is_dir():
            raise InputError(f"{run_dir}: exists and is not a directory; choose another -o")
        if any(run_dir.iterdir()) and not force:
            raise OutputExistsError(
                f"{run_dir}: output directory exists; pass --resume to continue it or --force to overwrite it"
            )
        if force and rank() == 0:
            for name in RUN_FILES:
                (run_dir / name).unlink(missing_ok=True)
            remove_stale_temporaries(run_dir)
    elif rank() == 0:
        if not run_dir.parent.exists():
            raise InputError(f"{run_dir}: parent directory {run_dir.parent} does not exist; create it first")
        run_dir.mkdir()
    return run_dir


def read_resume_configs(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model_config dict, train_config dict)`` stored in ``run_dir/last.pt``."""
    if not (Path(run_dir) / "last.pt").is_file():
        raise InputError(f"{run_dir}: nothing to resume (no last.pt); drop --resume to start a new run")
    payload = load_checkpoint(Path(run_dir) / "last.pt", LAST_FORMAT)
    return dict(payload["model_config"]), dict(payload["train_config"])


def write_json(path: Path, record: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")


def versions() -> dict[str, str]:
    return {
        "seq2exp": __version__, "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
    }


def model_payload(model, model_config, model_dict, data_config, step, metrics) -> dict[str, Any]:
    return {
        "format": MODEL_FORMAT, "checkpoint_version": CHECKPOINT_VERSION, "seq2exp_version": __version__,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "model_config": model_dict, "data_config": data_config,
        "variant": getattr(model_config, "variant", None), "step": step,
        "val_metrics": {k: float(v) for k, v in metrics.items()},
    }


def check_same_model(stored: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    diffs = [f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in sorted(set(stored) | set(current))
             if stored.get(k) != current.get(k)]
    if diffs:
        raise ModelMismatchError(
            f"{path}: the model settings differ from the run being resumed ({'; '.join(diffs)}); "
            "resume with the original settings or start a new run with -o"
        )


@dataclass
class RunStart:
    """A run about to train: its directory, the model factory (motif-seeded or None) and what
    the run record gets besides fit's own fields (preset, sizing, motifs)."""

    run_dir: Path
    model_factory: Callable[[Any], Any] | None
    extra: dict[str, Any]


def start_run(data: Any, run_dir: str | Path, plan: Any, *, resume: bool = False, force: bool = False,
              motifs: str | None = None) -> RunStart:
    """Check the device, seed the stem from ``motifs`` (a fresh run only; the motifs used go to
    ``motifs.meme``), create or clear ``run_dir``; on resume the record keeps what the first
    session wrote."""
    from seq2exp_cli.distributed import resolve_device

    resolve_device(plan.train_config.device)  # a device mistake is reported before the run directory exists
    motif_record, model_factory, chosen = None, None, []
    if motifs is not None and not resume:  # on resume the weights come from last.pt
        from seq2exp_cli.model.motif_init import motif_seeding

        chosen, motif_record, model_factory = motif_seeding(motifs, data, plan.model_config)
    path = prepare_run_dir(run_dir, force=force, resume=resume)
    if chosen and rank() == 0:
        from seq2exp_cli.io.motifs import write_meme

        write_meme(path / "motifs.meme", chosen)  # the motifs that seeded the stem, for inspection
        motif_record = {**motif_record, "file": "motifs.meme"}
    extra = {"preset": plan.preset, "sized_by_preset": plan.sized, "motifs": motif_record}
    if resume:  # fit rewrites run.json; keep what the first session recorded
        extra = kept_from_run_record(path / "run.json", list(extra))
    return RunStart(path, model_factory, extra)


def finish_run_record(start: RunStart) -> None:
    """Add the run's extra fields to the run.json that fit wrote (rank 0)."""
    if rank() == 0:
        add_to_run_record(start.run_dir / "run.json", start.extra)


def kept_from_run_record(path: Path, keys: list[str]) -> dict[str, Any]:
    """The values of ``keys`` in an existing run.json (empty when there is none)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: record[k] for k in keys if k in record}


def add_to_run_record(path: Path, extra: dict[str, Any]) -> None:
    """Merge ``extra`` into run.json (written by fit) when it is there."""
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    record.update({k: v for k, v in extra.items() if v is not None and v != {}})
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2, default=str) + "\n")
