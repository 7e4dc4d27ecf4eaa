"""Devices and processes: one place for the device a command runs on, torchrun's process group,
this process's rank, collectives over Python objects, and autocast.

Every command that runs the model (train, predict, call-elements) resolves its device and joins
the process group once, through :func:`setup`; the core functions it calls then find the group
joined (``init_distributed`` is a no-op the second time) and ask for ``rank``/``world_size``.

Under torchrun (``WORLD_SIZE > 1``) genes are sharded across ranks as ``indices[rank::world]``
(:func:`shard`); ``gather_objects`` and ``gather_rounds`` bring results to every rank or to one;
``errors_on_every_rank`` turns an error on any rank into an error on every rank, so no process
is left waiting in a collective.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from seq2exp_cli.errors import InputError, Seq2ExpError

log = logging.getLogger(__name__)


def setup(device: str | torch.device | None = "auto") -> torch.device:
    """The command's device, with torchrun's process group joined when ``WORLD_SIZE > 1``."""
    resolved = resolve_device(device)
    init_distributed(resolved)
    return resolved


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` -> a torch device.

    Under torchrun with CUDA, ``auto`` and ``cuda`` pick ``cuda:LOCAL_RANK``.
    Raises :class:`InputError` for an unknown name or a GPU that is not there.
    """
    if isinstance(spec, torch.device):
        return spec
    text = (spec or "auto").strip().lower()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {spec}: no CUDA GPU is visible to torch; use --device cpu or auto")
        if world_size() > 1:
            # under torchrun each process owns the GPU of its local rank
            if text != "cuda" and text != f"cuda:{local_rank}":
                log.warning("--device %s ignored under torchrun: process %d uses cuda:%d", spec, rank(), local_rank)
            index = local_rank
        elif text == "cuda":
            index = torch.cuda.current_device()
        else:
            try:
                index = int(text.split(":", 1)[1])
            except ValueError:
                raise InputError(f"--device {spec}: not a device; use auto, cpu, cuda or cuda:N") from None
        if not 0 <= index < torch.cuda.device_count():
            raise InputError(
                f"--device {spec}: this machine has {torch.cuda.device_count()} GPU(s) (cuda:0.."
                f"cuda:{torch.cuda.device_count() - 1}); choose one of them"
            )
        return torch.device("cuda", index)
    raise InputError(f"--device {spec}: not a device; use auto, cpu, cuda or cuda:N")


def world_size() -> int:
    """Number of processes: the initialised group's size, else torchrun's ``WORLD_SIZE``, else 1."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank (0 outside torchrun)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def init_distributed(device: torch.device) -> bool:
    """Join torchrun's process group when ``WORLD_SIZE > 1`` (NCCL on CUDA, gloo on CPU).

    The group lives until the process exits (destroyed by an ``atexit`` hook): destroying it and
    joining again in the same processes (say fit, then predict) can deadlock in the rendezvous,
    so later calls reuse it (callers need not destroy it). Returns True when this call created
    the group.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not torch.distributed.is_available():
        return False
    if torch.distributed.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend=backend)
    atexit.register(_leave_process_group)
    if rank() != 0:  # one copy of each progress message, from rank 0
        logging.getLogger("seq2exp_cli").setLevel(logging.WARNING)
    log.info("joined process group: rank %d of %d (%s)", rank(), world_size(), backend)
    return True


def _leave_process_group() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (a one-element list outside torchrun)."""
    if world_size() <= 1 or not torch.distributed.is_initialized():
        return [obj]
    gathered: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(gathered, obj)
    return gathered


def shard(indices: np.ndarray) -> np.ndarray:
    """This rank's share of ``indices``: ``indices[rank::world]`` (all of them outside torchrun)."""
    indices = np.asarray(indices, dtype=np.int64)
    return indices[rank() :: world_size()] if world_size() > 1 else indices


def _distributed() -> bool:
    return world_size() > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def object_group() -> Any:
    """A process group for object collectives (pickled Python objects), or None for the default.

    Under NCCL, object collectives copy every pickle to the GPU and back, and ``gather_object``
    is not supported by every NCCL build, so a gloo group is created over the same ranks; a gloo
    default group is used as it is. Collective: every rank must call this at the same point.
    """
    if not _distributed() or torch.distributed.get_backend() == "gloo":
        return None
    return torch.distributed.new_group(backend="gloo")


def gather_rounds(items: Iterable[Any], n_rounds: int, group: Any = None, dst: int = 0) -> Iterator[list[Any]]:
    """Stream one object per rank per round to rank ``dst``, ``n_rounds`` times.

    Round k sends this rank's k-th element of ``items`` (None once ``items`` is exhausted; it is
    never read past ``n_rounds``), so a rank whose share ran out still takes part. On ``dst``
    each round yields a list of every rank's object in rank order (its own is passed on without
    pickling); on the other ranks it yields nothing, but it must still be iterated to the end.
    Every rank must use the same ``n_rounds``. Memory on ``dst``: one round, i.e. world objects.
    Outside torchrun each round yields ``[item]``.
    """
    source = iter(items)
    distributed = _distributed()
    me, world = rank(), world_size()
    for _ in range(n_rounds):
        item = next(source, None)
        if not distributed:
            yield [item]
        elif me == dst:
            parts: list[Any] = [None] * world
            torch.distributed.gather_object(None, parts, dst=dst, group=group)
            parts[me] = item
            yield parts
        else:
            torch.distributed.gather_object(item, None, dst=dst, group=group)


@contextlib.contextmanager
def errors_on_every_rank(group: Any = None) -> Iterator[None]:
    """Run a block on every rank; when it fails on any rank, fail on every rank.

    Collective at the end of the block (every rank must enter it). A rank whose own block raised
    re-raises that exception; the others raise :class:`Seq2ExpError` naming the first failing
    process and its one-line message. Without this, a rank that fails alone (a file missing on
    one node, a GPU out of memory) leaves the others blocked in their next collective. Outside
    torchrun the block's exception simply propagates.
    """
    failure: Exception | None = None
    try:
        yield
    except Exception as exc:  # noqa: BLE001 -- re-raised below, after telling the other ranks
        failure = exc
    if _distributed():
        if failure is None:
            note = None
        elif isinstance(failure, Seq2ExpError):
            note = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
        else:
            first = str(failure).splitlines()[0] if str(failure) else ""
            note = f"{type(failure).__name__}: {first} (see that process's traceback)"
        notes: list[Any] = [None] * world_size()
        torch.distributed.all_gather_object(notes, note, group=group)
        if failure is None:
            for other, message in enumerate(notes):
                if message is not None:
                    raise Seq2ExpError(f"process {other} of {world_size()} failed: {message}")
    if failure is not None:
        raise failure


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; full precision on CPU (CPU bf16 is slower and less accurate)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
