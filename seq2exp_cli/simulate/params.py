"""Parameters of ``seq2exp simulate``: every generative constant and the named scales.

One source for every default: ``SimParams`` is recorded whole in ``simulation.json``; the
model it drives is described in ``simulate.py`` and docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from seq2exp_cli.errors import InputError

SCALES = ("tiny", "small", "medium", "full")

@dataclass(frozen=True)
class SimParams:
    """Every generative parameter (recorded in simulation.json). Lengths in bp.

    Class fractions are of all candidates; ``inert`` takes what the others leave. Orphans
    need gene-free sequence (outside every window) and are fewer where there is little.
    """

    scale: str
    chrom_sizes: tuple[int, ...]
    genes_per_chrom: tuple[int, ...]
    valid_chroms: tuple[str, ...]
    test_chroms: tuple[str, ...]
    window: int
    element_spacing: int  # one candidate per this many bp of window-covered sequence
    tad_mean: int
    hic_max_distance: int
    hic_resolution: int = 5000
    telomere_bp: int = 10_000
    n_gaps_per_mb: float = 1.0
    n_gap_width: tuple[int, int] = (500, 3000)
    min_tss_gap: int = 4000
    gene_body_median: int = 15_000
    element_width: tuple[int, int] = (200, 1000)
    element_width_median: int = 450
    element_gap: int = 300
    promoter_exclusion: int = 1500
    functional_fraction: float = 0.35
    decoy_fraction: float = 0.35
    closed_fraction: float = 0.1
    insulator_fraction: float = 0.1
    orphan_fraction: float = 0.05
    null_distal: bool = False  # no distal region acts: functional share -> decoys, no cross-promoter effects
    n_activators: tuple[int, int] = (3, 6)  # grammar size range, drawn per seed
    n_repressors: tuple[int, int] = (1, 3)
    activator_weight: tuple[float, float] = (0.5, 1.3)
    repressor_weight: tuple[float, float] = (0.6, 1.2)
    insulator_motifs_mean: float = 0.5  # insulators carry 1 + Poisson(this) insulator motifs (at most 3)
    database_distractors: int = 120  # never-planted PWMs in motifs_noisy.meme
    gc_mean: float = 0.45  # before CpG deamination, which lowers GC by ~0.035
    gc_isochore_sd: float = 0.025
    isochore_block: int = 100_000
    cpg_deamination: float = 0.8
    cgi_fraction: float = 0.6
    cgi_gc: float = 0.62
    repeat_fraction: float = 0.45
    motif_mutation_prob: float = 0.4
    element_activators_mean: float = 1.2
    element_repressor_prob: float = 0.3
    decoy_repressor_prob: float = 0.3
    promoter_activators_mean: float = 1.5
    promoter_repressor_prob: float = 0.25
    min_motif_content: float = 0.3
    activity_sigma: float = 0.8
    promoter_activity_sigma: float = 0.7
    domain_activity_sigma: float = 0.5  # active and quiet TADs: shared factor per domain
    contact_d0: float = 5000.0
    contact_gamma: float = 1.0
    insulation: float = 0.3
    promoter_weight: float = 1.0
    basal: float = 0.1
    tpm_scale: float = 10.0
    noise_sd_log10: float = 0.05
    dnase_peak: float = 20.0
    h3k27ac_peak: float = 12.0
    dnase_background: float = 0.4
    h3k27ac_background: float = 0.3
    assay_noise_sigma: float = 0.25
    bp_noise_shape: float = 10.0
    hic_depth: float = 400.0
    hic_bias_sigma: float = 0.1
    reads_per_mb: float = 30_000.0
    read_length: int = 36
    blacklist_per_mb: float = 0.7
    blacklist_width: tuple[int, int] = (2000, 8000)
    chrom_names: tuple[str, ...] = field(default=())

    def names(self) -> tuple[str, ...]:
        """Chromosome names (chr1..chrN unless given)."""
        return self.chrom_names or tuple(f"chr{i + 1}" for i in range(len(self.chrom_sizes)))

    def class_fractions(self, apply_null: bool = True) -> dict[str, float]:
        """Target fraction of all candidates per class (inert: the rest); with ``apply_null`` and
        ``null_distal``, the functional share is the decoys'."""
        out = {"functional": self.functional_fraction, "decoy": self.decoy_fraction,
               "orphan": self.orphan_fraction, "closed": self.closed_fraction,
               "insulator": self.insulator_fraction}
        if apply_null and self.null_distal:
            out["decoy"] += out["functional"]
            out["functional"] = 0.0
        out["inert"] = max(0.0, 1.0 - sum(out.values()))
        return out


def params_for_scale(scale: str, **overrides) -> SimParams:
    """The parameters of a named scale (``tiny``, ``small``, ``medium``, ``full``), with overrides."""
    if scale == "tiny":
        p = SimParams(
            scale="tiny", chrom_sizes=(1_400_000, 800_000, 800_000), genes_per_chrom=(36, 12, 12),
            valid_chroms=("chr2",), test_chroms=("chr3",), window=20_000, element_spacing=3500,
            tad_mean=150_000, hic_max_distance=500_000,
        )
    elif scale == "small":
        sizes = (2_400_000, 2_200_000, 2_000_000, 1_800_000, 1_600_000, 1_400_000)
        p = SimParams(
            scale="small", chrom_sizes=sizes, genes_per_chrom=(76, 70, 63, 57, 51, 44),
            valid_chroms=("chr5",), test_chroms=("chr6",), window=40_000, element_spacing=5000,
            tad_mean=250_000, hic_max_distance=1_000_000,
        )
    elif scale == "medium":
        # small's windows, spacing and gene density (~32 genes per Mb) on ten chromosomes
        sizes = tuple(int(9_000_000 - 250_000 * i) for i in range(10))
        p = SimParams(
            scale="medium", chrom_sizes=sizes, genes_per_chrom=tuple(s * 32 // 1_000_000 for s in sizes),
            valid_chroms=("chr7", "chr9"), test_chroms=("chr8", "chr10"), window=40_000, element_spacing=5000,
            tad_mean=250_000, hic_max_distance=1_000_000,
        )
    elif scale == "full":
        sizes = tuple(int(9_500_000 - 500_000 * i) for i in range(12))
        p = SimParams(
            scale="full", chrom_sizes=sizes, genes_per_chrom=tuple(s * 30 // 1_000_000 for s in sizes),
            valid_chroms=("chr9", "chr11"), test_chroms=("chr10", "chr12"), window=200_000,
            element_spacing=8000, tad_mean=600_000, hic_max_distance=600_000, telomere_bp=20_000,
        )
    else:
        raise InputError(f"--scale: unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return replace(p, **overrides)
