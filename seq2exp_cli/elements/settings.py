"""How call-elements calls and what it writes: :class:`CallSettings` and the output paths."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2exp_cli.elements.null import NullSettings
from seq2exp_cli.errors import InputError


#: the threshold when none is given: a trained bottleneck keeps its scores near the marginal mean
#: mu, so a fixed score cutoff often calls nothing from a model; a share of the scored bases does
DEFAULT_TOP_FRACTION_MODEL = 0.05
DEFAULT_CUTOFF_MODEL_FREE = 0.5


@dataclass
class CallSettings:
    """How to call and what to write. At most one of cutoff / top_fraction sets the score
    threshold; at most one of pvalue / qvalue then keeps the elements that reach it under the
    sequence null (model mode; ``null_shuffles`` shuffles per element, 0 = no null)."""

    cutoff: float | None = None
    pvalue: float | None = None
    qvalue: float | None = None
    top_fraction: float | None = None
    min_length: int = 200
    max_gap: int = 30
    call_summits: bool = False
    cutoff_analysis: bool = False
    cutoff_steps: int = 100
    bigwig: Path | None = None
    bedgraph: Path | None = None
    score_range: tuple[float, float] | None = (0.0, 1.0)
    null_shuffles: int = NullSettings.shuffles
    null_seed: int = NullSettings.seed
    cell_type: str = "NA"  # the links' CellType column

    def check(self, has_null: bool) -> None:
        """Raise InputError for an impossible combination or an out-of-range threshold;
        ``has_null``: whether p/q can be computed (model mode)."""
        chosen = [n for n, v in (("--cutoff", self.cutoff), ("--top-fraction", self.top_fraction)) if v is not None]
        if len(chosen) != 1:
            raise InputError(f"{' and '.join(chosen) or 'no threshold'}: give exactly one of --cutoff and "
                             "--top-fraction (-p/-q then filter the called elements)")
        if self.pvalue is not None and self.qvalue is not None:
            raise InputError("-p and -q: give at most one of them")
        if self.cutoff is not None:
            if not np.isfinite(self.cutoff):
                raise InputError(f"--cutoff {self.cutoff}: not a number; give a finite score")
            if self.score_range is not None and not self.score_range[0] <= self.cutoff <= self.score_range[1]:
                raise InputError(f"--cutoff {self.cutoff}: mask scores lie in [0, 1]; give a cutoff in [0, 1]")
        for flag, value in (("-p", self.pvalue), ("-q", self.qvalue)):
            if value is None:
                continue
            if not 0.0 < value <= 1.0:
                raise InputError(f"{flag} {value}: a p/q-value threshold must be in (0, 1]; e.g. {flag} 0.05")
            if not has_null:
                raise InputError(f"{flag} {value}: model-free scores have no null distribution (pValue/qValue "
                                 "are -1); use --cutoff or --top-fraction, or call from a model")
            if self.null_shuffles < 2:
                raise InputError(f"{flag} {value}: --null-shuffles {self.null_shuffles} computes no p/q; "
                                 "give --null-shuffles 2 or more")
        if self.null_shuffles < 0 or self.null_shuffles == 1:
            raise InputError(f"--null-shuffles {self.null_shuffles}: give 0 (no p/q) or >= 2")
        if self.top_fraction is not None and not 0.0 < self.top_fraction <= 1.0:
            raise InputError(f"--top-fraction {self.top_fraction}: out of range; give a fraction in (0, 1]")
        if self.min_length < 1 or self.max_gap < 0:
            raise InputError(f"--min-length {self.min_length} / --max-gap {self.max_gap}: need >= 1 and >= 0")


def call_settings(model_free: bool, dataset: str | os.PathLike | None = None, **values: object) -> CallSettings:
    """:class:`CallSettings` from ``values`` with the command's defaults: without a cutoff or a
    top fraction, ``DEFAULT_TOP_FRACTION_MODEL`` from a model and ``DEFAULT_CUTOFF_MODEL_FREE``
    from a score file; model scores lie in [0, 1]; the links' cell type is the dataset
    directory's name. Raises InputError for a name that is not a setting."""
    known = {f.name for f in dataclasses.fields(CallSettings)} - {"score_range"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"call-elements: unknown setting(s) {unknown}; use the CallSettings fields")
    values = {k: v for k, v in values.items() if v is not None}
    if "cutoff" not in values and "top_fraction" not in values:
        if model_free:
            values["cutoff"] = DEFAULT_CUTOFF_MODEL_FREE
        else:
            values["top_fraction"] = DEFAULT_TOP_FRACTION_MODEL
    if "cell_type" not in values:
        values["cell_type"] = Path(dataset).resolve().name if dataset is not None else "NA"
    return CallSettings(score_range=None if model_free else (0.0, 1.0), **values)


def output_paths(out: str | os.PathLike, settings: CallSettings, links: bool) -> dict[str, Path]:
    """Every file the command will write for ``-o out`` (stem = basename without .bed/.narrowPeak)."""
    out = Path(out)
    name = out.name
    for suffix in (".bed", ".narrowPeak"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    base = out.parent
    paths = {"narrowPeak": out, "summits": base / f"{name}.summits.bed"}
    if links:
        paths["links"] = base / f"{name}.links.tsv"
        paths["bedpe"] = base / f"{name}.links.bedpe"
        paths["interact"] = base / f"{name}.links.interact"
    if settings.cutoff_analysis:
        paths["cutoff_analysis"] = base / f"{name}.cutoff_analysis.tsv"
    if settings.bigwig is not None:
        paths["bigwig"] = Path(settings.bigwig)
    if settings.bedgraph is not None:
        paths["bedgraph"] = Path(settings.bedgraph)
    return paths


def check_outputs(paths: dict[str, Path], force: bool) -> None:
    """Fail before any work when an output exists (without ``force``) or cannot be written."""
    from seq2exp_cli.io.atomic import check_output_free

    seen: dict[Path, str] = {}
    for kind, path in paths.items():
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"{path}: used for both the {seen[resolved]} and the {kind} output; choose another path")
        seen[resolved] = kind
        check_output_free(path, force)
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"{path}: output directory {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK):
            raise InputError(f"{path}: output directory {parent} is not writable; choose another output path")


def stem_of(paths: dict[str, Path]) -> str:
    """The element-name prefix: the summits file's basename without ``.summits.bed``."""
    return paths["summits"].name[: -len(".summits.bed")]
