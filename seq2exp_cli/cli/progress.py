"""Rich progress bars on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stage_progress(totals: dict[str, int] | None = None) -> Iterator[Callable[[str, int], None]]:
    """Yield ``advance(stage, n)``; each stage gets its own bar (total known or not).

    On a non-terminal stderr (pipes, CI, log files) this yields a no-op.
    """
    if not sys.stderr.isatty():
        yield lambda stage, n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    totals = totals or {}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        tasks: dict[str, int] = {}

        def advance(stage: str, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=totals.get(stage))
            progress.advance(tasks[stage], n)

        yield advance
