"""Checkpoint files: atomic writes, safe loading, and RNG states that survive ``weights_only``.

Two files live in a run directory (docs/architecture.md):

``model.pt``
    the best-validation model: ``format = "seq2exp-model"``, ``state_dict``, ``model_config``,
    ``data_config``, ``variant``, ``seq2exp_version``, ``step``, ``val_metrics``.
``last.pt``
    everything needed to resume: ``format = "seq2exp-last"``, ``model``, ``optimizer``,
    ``scheduler``, ``rng`` (one entry per rank), ``step``, ``epoch``, ``batch_in_epoch``,
    ``best_metric``, ``best_step``, ``bad_evals``, configs and elapsed time.

Both hold only tensors, dicts, lists, strings and numbers, so ``torch.load(weights_only=True)``
reads them; a file that needs arbitrary unpickling is refused with a clear message.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seq2exp_cli.errors import ModelMismatchError
from seq2exp_cli.io.atomic import atomic_path

log = logging.getLogger(__name__)

MODEL_FORMAT = "seq2exp-model"
LAST_FORMAT = "seq2exp-last"
CHECKPOINT_VERSION = 1


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``payload`` with ``torch.save`` under a temporary name, then rename it onto ``path``.

    A crash (even SIGKILL) leaves either the old file or the new one, never a truncated one;
    at worst a stray ``.<name>.*.tmp`` stays behind, which :func:`remove_stale_temporaries`
    clears on resume.
    """
    # serialised in memory: torch.save names the zip's records after a file's name, so saving to
    # the (random) temporary name would make two identical runs write different bytes
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(buffer.getbuffer())
            handle.flush()
            # on disk before the rename, so a power loss cannot leave an empty renamed file
            os.fsync(handle.fileno())


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete temporaries left by a killed writer (``.model.pt.*.tmp``, ``.last.pt.*.tmp``)."""
    removed = []
    for pattern in (".model.pt.*.tmp", ".last.pt.*.tmp", ".run.json.*.tmp"):
        for stale in Path(run_dir).glob(pattern):
            stale.unlink(missing_ok=True)
            removed.append(stale)
    if removed:
        log.debug("removed %d stale temporary file(s) in %s", len(removed), run_dir)
    return removed


def load_checkpoint(path: str | os.PathLike, expected_format: str) -> dict[str, Any]:
    """Load a seq2exp checkpoint with ``weights_only=True`` onto the CPU.

    Raises :class:`ModelMismatchError` when the file is missing, is not a torch file, needs
    arbitrary unpickling (not ours: refused for safety), or is not of ``expected_format``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelMismatchError(f"{path}: checkpoint not found; train a model with `seq2exp train` first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelMismatchError(
            f"{path}: refused to load: the file holds arbitrary Python objects, not a seq2exp checkpoint "
            f"({first[:160]}); use a model.pt written by `seq2exp train`"
        ) from exc
    except Exception as exc:  # the weights-only unpickler raises many types on foreign bytes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelMismatchError(
            f"{path}: not a readable torch checkpoint ({first[:160]}); use a model.pt written by `seq2exp train`"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelMismatchError(
            f"{path}: not a seq2exp checkpoint (format {found!r}, expected {expected_format!r}); "
            "use the file written by `seq2exp train`"
        )
    version = payload.get("checkpoint_version")
    if version != CHECKPOINT_VERSION:
        raise ModelMismatchError(
            f"{path}: checkpoint version {version!r}, this seq2exp reads {CHECKPOINT_VERSION}; "
            "retrain with this version of seq2exp"
        )
    return payload


# ---------------------------------------------------------------------------------------------
# RNG states. torch's is already a uint8 tensor; numpy's and Python's are converted to tensors
# and lists of ints so that the checkpoint needs no pickled Python objects.


def capture_rng_state() -> dict[str, Any]:
    """The RNG states of torch (CPU and every CUDA device), numpy's global and Python's ``random``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(list(internal), dtype=torch.int64),
            "gauss_next": None if gauss_next is None else float(gauss_next),
        },
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"]))
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            log.warning(
                "checkpoint holds CUDA RNG states for %d devices, this machine has %d; CUDA sampling "
                "will not repeat the interrupted run exactly",
                len(cuda_states), torch.cuda.device_count(),
            )
