"""What ``prepare`` is asked to do: :class:`PrepareOptions` (the CLI fills it, Python users may
too) and the constants its steps share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NORMALIZATIONS = ("log1p", "quantile", "none")
#: bp on each side of the TSS for the promoter-signal features
PROMOTER_HALF_WIDTH = 500
#: quantile that maps to 1.0 with --normalize quantile
ROBUST_QUANTILE = 0.99
FULL_CHECKSUM_LIMIT = 256 * 2**20
#: track values above this are reported (a coverage or fold-change track stays far below it)
HUGE_TRACK_VALUE = 1e9

Progress = Callable[[str, int], None]


@dataclass
class PrepareOptions:
    """Everything ``prepare`` needs; the CLI fills it, Python users may too."""

    fasta: Path
    genes: Path
    output: Path
    tracks: list[tuple[str, Path]] = field(default_factory=list)
    expression: Path | None = None
    expression_id_column: str | None = None
    expression_value_column: str | None = None
    target_transform: str = "log10p1"
    hic: Path | None = None
    hic_resolution: int = 5000
    hic_normalization: str = "auto"
    powerlaw_fallback: bool = True
    window: int = 200_000
    normalize: str = "log1p"
    blacklist: Path | None = None
    gene_format: str = "auto"
    gtf_feature: str = "gene"
    gene_types: Sequence[str] | None = None
    gene_features: Path | None = None
    exclude_chroms: Sequence[str] = ("chrM",)
    split_mode: str = "auto"
    test_chroms: Sequence[str] = ("chr22", "chrX")
    valid_chroms: Sequence[str] = ("chr3", "chr21")
    split_file: Path | None = None
    block_size: int = 2_000_000
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 2222
    extsize: int | None = None
    shift: int = 0
    min_mapq: int = 0
    threads: int = 1
    force: bool = False
    command: str = ""
