"""A table as named numpy columns: the DataFrame-free form of the element pipeline's tables, so
the model-free ``call-elements`` path never imports pandas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


class ColumnTable:
    """A table as named numpy columns of equal length: the DataFrame-free form of the region,
    narrowPeak, summit and cutoff-analysis tables (row i = element i of every column).

    Args:
        columns: ``{name: array[n]}`` in column order; strings are object arrays of ``str``.

    Reading is DataFrame-like where the callers need it: ``table["start"]`` (the array),
    ``"subpeak" in table``, ``len(table)``, ``.columns``, ``.empty``; ``to_frame()`` gives a
    pandas DataFrame for callers that want one.
    """

    __slots__ = ("_columns",)

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        data = {str(name): np.asarray(values) for name, values in columns.items()}
        lengths = {values.shape[0] for values in data.values()}
        if len(lengths) > 1 or any(values.ndim != 1 for values in data.values()):
            raise ValueError(f"ColumnTable: columns must be 1-D and of one length, got lengths {sorted(lengths)}")
        self._columns = data

    @property
    def columns(self) -> list[str]:
        """Column names in order."""
        return list(self._columns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return next(iter(self._columns.values())).shape[0] if self._columns else 0

    @property
    def empty(self) -> bool:
        """True when the table has no rows."""
        return len(self) == 0

    def take(self, rows: np.ndarray) -> ColumnTable:
        """The rows at integer positions (or a boolean mask) ``rows``, every column."""
        return ColumnTable({name: values[rows] for name, values in self._columns.items()})

    def assign(self, **columns: np.ndarray) -> ColumnTable:
        """A new table with ``columns`` replaced (same position) or appended (at the end)."""
        return ColumnTable({**self._columns, **columns})

    @staticmethod
    def concat(tables: list[ColumnTable]) -> ColumnTable:
        """Rows of ``tables`` one after another (same columns in the same order)."""
        names = tables[0].columns
        return ColumnTable({name: np.concatenate([t[name] for t in tables]) for name in names})

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (same columns, same dtypes; strings as object)."""
        import pandas as pd

        return pd.DataFrame({name: values for name, values in self._columns.items()})
