"""Progress on stderr: rich bars in a terminal, otherwise log lines at a steady interval.

A log file, ``nohup`` or a cluster job gets one line per stage at its start, then one every
:data:`LOG_INTERVAL_S` seconds and one at its end, each with the count, the rate and the ETA
(when the total is known); stages shorter than the interval stay silent. The interval is
:data:`LOG_INTERVAL_S`, or the ``SEQ2EXP_PROGRESS_INTERVAL`` environment variable (seconds).
``-q`` silences the lines (they are INFO log records).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("seq2exp_cli.progress")

#: seconds between two progress lines when stderr is not a terminal
LOG_INTERVAL_S = 30.0


def log_interval() -> float:
    """SEQ2EXP_PROGRESS_INTERVAL when set (seconds, > 0), else LOG_INTERVAL_S."""
    try:
        value = float(os.environ.get("SEQ2EXP_PROGRESS_INTERVAL", LOG_INTERVAL_S))
    except ValueError:
        return LOG_INTERVAL_S
    return value if value > 0 else LOG_INTERVAL_S


def format_duration(seconds: float) -> str:
    """``42 s``, ``6.3 min`` or ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class RateLog:
    """Log lines for one counter: every ``interval`` seconds, and at the end when a line was
    written before (the rate counts from ``start_count`` at creation)."""

    def __init__(self, stage: str, total: int | None, unit: str, interval: float | None = None,
                 start_count: int = 0) -> None:
        self.stage, self.total, self.unit = stage, total, unit
        self.interval = log_interval() if interval is None else interval
        self.start = time.monotonic()
        self.last_line = self.start
        self.start_count = self.done = start_count
        self.lines = 0

    def update(self, done: int, extra: str = "", force: bool = False) -> None:
        self.done = done
        now = time.monotonic()
        finished = self.total is not None and done >= self.total
        if not (force or (finished and self.lines) or now - self.last_line >= self.interval):
            return
        self.last_line = now
        self.lines += 1
        elapsed = max(now - self.start, 1e-9)
        rate = (done - self.start_count) / elapsed
        count = f"{done:,}/{self.total:,}" if self.total else f"{done:,}"
        text = f"{self.stage}: {self.unit} {count}" if self.unit else f"{self.stage}: {count}"
        if self.total:
            text += f" ({100 * done / self.total:.0f}%)"
        if extra:
            text += f", {extra}"
        text += f", {rate:.3g} {self.unit}s/s" if self.unit else f", {rate:.3g}/s"
        if self.total and not finished and rate > 0:
            text += f", ETA {format_duration((self.total - done) / rate)}"
        elif finished:
            text += f", done in {format_duration(elapsed)}"
        log.info("%s", text)


@contextlib.contextmanager
def stage_progress(totals: dict[str, int] | None = None,
                   interval: float | None = None) -> Iterator[Callable[[str, int], None]]:
    """Yield ``advance(stage, n)``; each stage gets its own bar (total known or not), or, when
    stderr is not a terminal, its own log lines (see the module docstring)."""
    totals = totals or {}
    if not sys.stderr.isatty():
        logs: dict[str, RateLog] = {}

        def advance_log(stage: str, n: int) -> None:
            if stage not in logs:
                logs[stage] = RateLog(stage, totals.get(stage), "", interval)
            logs[stage].update(logs[stage].done + n)

        yield advance_log
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        tasks: dict[str, int] = {}

        def advance(stage: str, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=totals.get(stage))
            progress.advance(tasks[stage], n)

        yield advance


@contextlib.contextmanager
def training_progress(interval: float | None = None) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Yield the ``progress`` callback of ``training.fit``: a rich bar (step, loss, lr, genes/s,
    ETA) in a terminal, else a log line with step, loss, steps/s and ETA every ``interval`` s."""
    if not sys.stderr.isatty():
        state: dict[str, Any] = {"log": None, "val": ""}

        def report_log(info: dict[str, Any]) -> None:
            if "val_mse" in info:
                state["val"] = f", val MSE {info['val_mse']:.4f}"
                return
            if state["log"] is None:
                state["log"] = RateLog("train", info["max_steps"], "step", interval, start_count=info["step"])
            state["log"].update(info["step"], f"loss {info['loss']:.4f}{state['val']}")

        yield report_log
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    task: list[Any] = []
    val = [""]

    def report_bar(info: dict[str, Any]) -> None:
        if not task:
            task.append(bar.add_task("train", total=info["max_steps"], info=""))
        if "val_mse" in info:
            val[0] = f" val {info['val_mse']:.4f}"
            return
        text = f"loss {info['loss']:.4f} lr {info['lr']:.2e} {info['genes_per_s']:.2f} genes/s{val[0]}"
        bar.update(task[0], completed=info["step"], info=text)

    with bar:
        yield report_bar
