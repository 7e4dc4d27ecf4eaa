"""The element pipeline: per-gene scores -> one score track -> regions -> tables -> links -> files.

``track`` (the score track as constant runs), ``combine`` and ``stream`` (gene masks -> one
track), ``regions`` (MACS3-style calling, cutoff analysis, model-free score files),
``subpeaks`` (``--call-summits``), ``stats`` (top-fraction cutoff, p and q), ``null`` (the
sequence null behind p and q), ``edges`` (base-pair edges and summits), ``tables``
(narrowPeak, summits, ENCODE-rE2G links, interact), ``links`` (element -> gene links),
``settings`` (thresholds and output paths), ``calling`` (threshold -> files), ``packing``
(masks on their way to rank 0) and ``from_model`` (model mode, end to end).

The calling functions of the model-free path are importable from here; they need numpy only.
"""

from seq2exp_cli.elements.regions import (
    REGION_COLUMNS,
    call_region_table,
    call_regions,
    cutoff_analysis,
    empty_regions,
    track_from_file,
)
from seq2exp_cli.elements.stats import (
    ScoreHistogram,
    bh_qscores,
    cutoff_for_fraction,
    empirical_pscores,
    score_histogram,
)
from seq2exp_cli.elements.tables import element_names, first_region_rows, narrowpeak_table, summits_table
from seq2exp_cli.elements.track import ScoreTrack, runs_from_array

__all__ = [
    "REGION_COLUMNS", "ScoreHistogram", "ScoreTrack", "bh_qscores", "call_region_table", "call_regions",
    "cutoff_analysis", "cutoff_for_fraction", "element_names", "empirical_pscores", "empty_regions",
    "first_region_rows", "narrowpeak_table", "runs_from_array", "score_histogram", "summits_table",
    "track_from_file",
]
