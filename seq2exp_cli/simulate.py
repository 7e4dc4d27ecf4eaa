"""``seq2exp simulate``: a synthetic genome whose causal regulatory elements are known.

The simulator writes the same kinds of files users bring (FASTA, GTF, expression table,
bigWigs, .cool and Juicer dumps, blacklist, DNase reads) plus the truth. It is meant for
quick starts and for measuring whether a model finds the elements that matter.

Generative model (per chromosome, every step vectorised numpy, fixed by ``seed``):

1. Layout: TSSs uniformly spread with a minimum gap, random strand; N runs at the ends and a
   few inside; blacklist regions; TAD boundaries with log-normal domain sizes.
2. Elements (200-1000 bp) are placed inside gene windows (``window`` bp centred on a TSS),
   away from promoters, N runs and blacklist. Half are **functional** (1 + Poisson activator
   motifs, maybe one repressor), half are **decoys** (no activator motif, maybe one
   repressor). Both classes draw their activity a = f_TAD * LogNormal(0, activity_sigma)
   from the same distribution (f_TAD ~ LogNormal(0, domain_activity_sigma), one per TAD), so
   their chromatin signal is alike; only sequence tells them apart.
3. Promoters (the 400 bp [-300, +100) around each TSS, in transcription orientation) get
   Poisson activator motifs, maybe one repressor, and activity a_p = f_TAD * LogNormal(0, promoter_activity_sigma).
4. Motif content of a region: M = max(0, sum of planted activator weights - sum of planted
   repressor weights) (weights in ``simulate_genome.MOTIFS``).
5. Contact between loci x, y: c = (1 + |x - y| / d0) ** -gamma * insulation ** k, where k
   counts TAD boundaries between them.
6. Expression of gene g (TPM-like; users apply log10(1 + value)):

       E(e, g)   = a_e * c(centre_e, tss_g) * M_e       for every element e in reach of g
       E(h, g)   = a_h * c(centre_h, tss_g) * M_h       for every other gene's promoter h in reach
       P_g       = promoter_weight * a_g * M_g          (own promoter)
       drive_g   = basal + P_g + sum_e E(e, g) + sum_h E(h, g)
       tpm_nf_g  = tpm_scale * drive_g
       value_g   = tpm_nf_g * 10 ** (noise_sd_log10 * z_g),   z_g ~ N(0, 1)

   A region [s, e) is in reach of g when it lies inside both strand conventions' window:
   s >= tss - window // 2 + 1 and e <= tss + window // 2. Decoys have M = 0, so E = 0.
7. Observations: DNase and H3K27ac per bp = background + peak shapes with heights
   scale * activity * LogNormal(0, assay_noise_sigma) (independent per assay) + very high
   flat artefacts on blacklist regions, times Gamma measurement noise; DNase reads are cut
   sites drawn from the noise-free DNase; Hi-C counts are Poisson(depth * contact * biases).

``truth_genes.tsv`` stores every term (P_g, distal effects, drive, tpm_nf, z), so the formula
can be recomputed from the truth files. See docs/simulator.md for the file list.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from seq2exp_cli import simulate_genome as sg
from seq2exp_cli import simulate_tracks as st
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.atomic import atomic_directory
from seq2exp_cli.simulate_files import FILES, TRUTH_MOTIF_COLUMNS, motif_database, write_manifest_dict, write_tables

log = logging.getLogger(__name__)

SCALES = ("tiny", "small", "full")

# component ids for independent random streams: changing one step never shifts another
_RNG_LAYOUT, _RNG_SEQ, _RNG_MOTIF, _RNG_ACTIVITY, _RNG_SIGNAL, _RNG_READS, _RNG_HIC, _RNG_NOISE = range(8)


@dataclass(frozen=True)
class SimParams:
    """Every generative parameter (recorded in simulation.json). Lengths in bp."""

    scale: str
    chrom_sizes: tuple[int, ...]
    genes_per_chrom: tuple[int, ...]
    valid_chroms: tuple[str, ...]
    test_chroms: tuple[str, ...]
    window: int
    element_spacing: int  # one element per this many bp of window-covered sequence
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
    functional_fraction: float = 0.5
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


def params_for_scale(scale: str, **overrides) -> SimParams:
    """The parameters of a named scale (``tiny``, ``small``, ``full``), with overrides."""
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


def _rng(seed: int, chrom_index: int, component: int) -> np.random.Generator:
    return np.random.default_rng([seed, chrom_index, component])


# ----------------------------------------------------------------------------- layout


def _place_tss(rng: np.random.Generator, n: int, lo: int, hi: int, min_gap: int) -> np.ndarray:
    """n sorted TSS positions in [lo, hi) at least ``min_gap`` apart (uniform order statistics)."""
    span = hi - lo - (n - 1) * min_gap
    if span <= 0:
        raise ValueError(f"{n} genes with gap {min_gap} do not fit in {hi - lo} bp")
    u = np.sort(rng.random(n)) * span
    return (lo + u + np.arange(n) * min_gap).astype(np.int64)


def _place_intervals(
    rng: np.random.Generator, count: int, width: tuple[int, int], lo: int, hi: int, free: np.ndarray
) -> list[tuple[int, int]]:
    """Up to ``count`` disjoint intervals in [lo, hi) lying where ``free`` (bool[size]) is True."""
    cum = np.concatenate(([0], np.cumsum(~free, dtype=np.int64)))
    out: list[tuple[int, int]] = []
    for _ in range(count * 50):
        if len(out) == count:
            break
        w = int(rng.integers(width[0], width[1] + 1))
        if hi - lo - w <= 0:
            break
        s = int(rng.integers(lo, hi - w))
        if cum[s + w] - cum[s] == 0 and all(e <= s or s + w <= b for b, e in out):
            out.append((s, s + w))
    return sorted(out)


def _promoter_zone(tss: np.ndarray, strand: np.ndarray, up: int, down: int) -> tuple[np.ndarray, np.ndarray]:
    """Genomic [start, end) of transcription-oriented [-up, +down) around each TSS."""
    start = np.where(strand > 0, tss - up, tss - down + 1)
    return start, start + up + down


def _reach(starts: np.ndarray, ends: np.ndarray, tss_sorted: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """All (region index, gene index) pairs with the region inside the gene's window.

    ``tss_sorted`` must be ascending; returned gene indices refer to it.
    """
    half = window // 2
    lo = np.searchsorted(tss_sorted, ends - half, side="left")
    hi = np.searchsorted(tss_sorted, starts + half - 1, side="right")
    counts = np.maximum(hi - lo, 0)
    region = np.repeat(np.arange(starts.size), counts)
    first = np.repeat(lo, counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return region, first + offset


def _place_elements(
    rng: np.random.Generator, p: SimParams, size: int, tss: np.ndarray, blocked: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Element intervals (int64 starts, ends), sorted, disjoint, each in reach of >= 1 gene."""
    half = p.window // 2
    allowed = np.zeros(size, dtype=bool)
    for t in tss:  # window union
        allowed[max(0, t - half + 1) : min(size, t + half)] = True
    for t in tss:
        allowed[max(0, t - p.promoter_exclusion) : t + p.promoter_exclusion] = False
    allowed &= ~blocked
    target = round(allowed.sum() / p.element_spacing)
    pos = np.flatnonzero(allowed)
    if target == 0 or pos.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_cand = 3 * target
    starts = np.sort(rng.choice(pos, size=n_cand))
    widths = np.clip(
        rng.lognormal(np.log(p.element_width_median), 0.4, n_cand), p.element_width[0], p.element_width[1]
    ).astype(np.int64)
    bad = np.concatenate(([0], np.cumsum(~allowed, dtype=np.int64)))
    keep_s, keep_e = [], []
    last_end = -p.element_gap
    for s, w in zip(starts.tolist(), widths.tolist()):
        e = s + w
        if s < last_end + p.element_gap or e > size or bad[e] - bad[s] > 0:
            continue
        keep_s.append(s)
        keep_e.append(e)
        last_end = e
    s_arr = np.array(keep_s, dtype=np.int64)
    e_arr = np.array(keep_e, dtype=np.int64)
    region, _ = _reach(s_arr, e_arr, tss, p.window)
    reached = np.unique(region)
    s_arr, e_arr = s_arr[reached], e_arr[reached]
    if s_arr.size > target:  # the greedy sweep packs from the left: thin at random
        pick = np.sort(rng.choice(s_arr.size, size=target, replace=False))
        s_arr, e_arr = s_arr[pick], e_arr[pick]
    return s_arr, e_arr


def _motif_lists(
    rng: np.random.Generator, n: int, n_act_mean: float, rep_prob: float, min_act: int, max_act: int,
    min_content: float | None,
) -> list[list[int]]:
    """Per region: planted motif indices (activators: min_act + Poisson, maybe one repressor)."""
    out = []
    for _ in range(n):
        n_act = min(max_act, min_act + int(rng.poisson(n_act_mean))) if max_act > 0 else 0
        motifs = [int(m) for m in rng.choice(sg.ACTIVATORS, size=n_act)] if n_act else []
        if rng.random() < rep_prob:
            motifs.append(int(rng.choice(sg.REPRESSORS)))
        if min_content is not None and sg.motif_content(motifs) < min_content:
            motifs = [m for m in motifs if m in sg.ACTIVATORS]  # functional stays functional
        out.append(motifs)
    return out


# ----------------------------------------------------------------------------- one chromosome


@dataclass
class ChromSim:
    """Everything simulated for one chromosome (arrays in genomic orientation)."""

    name: str
    size: int
    text: str
    genes: pd.DataFrame  # gene_id, name, chrom, tss, strand (+1/-1), gene_end, cpg_island, ...
    elements: pd.DataFrame  # truth element columns + dnase_height, h3k27ac_height
    promoters: pd.DataFrame
    links: pd.DataFrame  # element, gene_id, effect, contact, distance, kind
    motifs: pd.DataFrame
    blacklist: list[tuple[int, int]]
    dnase: np.ndarray  # float32[size], observed
    h3k27ac: np.ndarray  # float32[size], observed
    reads: pd.DataFrame  # start, end, strand
    pixels: pd.DataFrame  # start1, start2, count
    composition: dict


def _simulate_chrom(seed: int, ci: int, p: SimParams, gene_offset: int) -> ChromSim:
    """Simulate chromosome number ``ci`` (0-based) with genes numbered from ``gene_offset``."""
    name = p.names()[ci]
    size = int(p.chrom_sizes[ci])
    n_genes = int(p.genes_per_chrom[ci])
    rng = _rng(seed, ci, _RNG_LAYOUT)
    tel = p.telomere_bp

    # --- layout: TSSs, N runs, blacklist, TADs, elements
    tss = _place_tss(rng, n_genes, tel + 2000, size - tel - 2000, p.min_tss_gap)
    strand = np.where(rng.random(n_genes) < 0.5, 1, -1).astype(np.int64)
    near_tss = np.zeros(size, dtype=bool)
    for t in tss:
        near_tss[max(0, t - 5000) : t + 5000] = True
    n_mask = np.zeros(size, dtype=bool)
    n_mask[:tel] = True
    n_mask[size - tel :] = True
    n_gaps = int(rng.poisson(p.n_gaps_per_mb * size / 1e6))
    for s, e in _place_intervals(rng, n_gaps, p.n_gap_width, tel, size - tel, ~near_tss):
        n_mask[s:e] = True
    n_blk = max(1, round(p.blacklist_per_mb * size / 1e6))
    blk_free = ~(_dilate(n_mask, 1000) | _dilate(near_tss, 0))
    blacklist = _place_intervals(rng, n_blk, p.blacklist_width, tel, size - tel, blk_free)
    blk_mask = np.zeros(size, dtype=bool)
    for s, e in blacklist:
        blk_mask[s:e] = True
    boundaries = st.tad_boundaries(rng, size, p.tad_mean)
    el_start, el_end = _place_elements(rng, p, size, tss, _dilate(n_mask | blk_mask, 200))
    n_el = el_start.size
    functional = np.zeros(n_el, dtype=bool)
    functional[rng.permutation(n_el)[: round(p.functional_fraction * n_el)]] = True
    body = np.clip(rng.lognormal(np.log(p.gene_body_median), 0.6, n_genes), 2000, 80_000).astype(np.int64)
    cgi = rng.random(n_genes) < p.cgi_fraction

    # --- motif grammar and activities
    mrng = _rng(seed, ci, _RNG_MOTIF)
    el_motifs: list[list[int]] = [[] for _ in range(n_el)]
    func_idx = np.flatnonzero(functional)
    decoy_idx = np.flatnonzero(~functional)
    for i, m in zip(func_idx, _motif_lists(mrng, func_idx.size, p.element_activators_mean,
                                           p.element_repressor_prob, 1, 5, p.min_motif_content)):
        el_motifs[i] = m
    for i, m in zip(decoy_idx, _motif_lists(mrng, decoy_idx.size, 0.0, p.decoy_repressor_prob, 0, 0, None)):
        el_motifs[i] = m
    pr_motifs = _motif_lists(mrng, n_genes, p.promoter_activators_mean, p.promoter_repressor_prob, 0, 4, None)
    arng = _rng(seed, ci, _RNG_ACTIVITY)
    # without a shared domain factor, 200-kb windows average many elements and every gene
    # looks alike; real genomes have active and quiet neighbourhoods
    domain = arng.lognormal(0.0, p.domain_activity_sigma, boundaries.size + 1)
    el_act = arng.lognormal(0.0, p.activity_sigma, n_el) * domain[st.tad_index(boundaries, (el_start + el_end) // 2)]
    pr_act = arng.lognormal(0.0, p.promoter_activity_sigma, n_genes) * domain[st.tad_index(boundaries, tss)]
    el_content = np.array([sg.motif_content(m) for m in el_motifs])
    pr_content = np.array([sg.motif_content(m) for m in pr_motifs])

    # --- sequence
    srng = _rng(seed, ci, _RNG_SEQ)
    # deamination happens once, after the repeats are in, so copies and background age alike
    codes = sg.background(srng, size, p.gc_mean, p.gc_isochore_sd, p.isochore_block, 0.0)
    lower = np.zeros(size, dtype=bool)
    cgi_s, cgi_e = _promoter_zone(tss, strand, 600, 400)
    for s, e in zip(cgi_s[cgi], cgi_e[cgi]):
        codes[s:e] = sg.iid_bases(srng, p.cgi_gc, e - s)
    pz_s, pz_e = _promoter_zone(tss, strand, 300, 100)
    protected = n_mask.copy()
    for s, e in zip(np.concatenate((el_start, cgi_s)), np.concatenate((el_end, cgi_e))):
        protected[s:e] = True
    sg.insert_repeats(srng, codes, lower, protected, p.repeat_fraction)
    # repeat copies are young and CpG-rich; age them like the rest (CpG islands exempt)
    old_cgi = [codes[s:e].copy() for s, e in zip(cgi_s[cgi], cgi_e[cgi])]
    sg.deaminate_cpg(srng, codes, p.cpg_deamination)
    for (s, e), seq in zip(zip(cgi_s[cgi], cgi_e[cgi]), old_cgi):
        codes[s:e] = seq
    codes[n_mask] = sg.N_CODE
    lower[n_mask] = False
    motif_rows = []
    refill_bg = (p.gc_mean, p.cpg_deamination)
    for i in range(n_el):
        name_i = f"{name}_el{i + 1:05d}"
        for m, ms, mstrand, mism in sg.plant_region(srng, codes, lower, int(el_start[i]), int(el_end[i]),
                                                    el_motifs[i], p.motif_mutation_prob, refill_bg):
            motif_rows.append((ms, m, mstrand, name_i, mism))
    gene_ids = [f"SIMG{gene_offset + g + 1:05d}" for g in range(n_genes)]
    for g in range(n_genes):
        refill = (p.cgi_gc, 0.0) if cgi[g] else refill_bg
        for m, ms, mstrand, mism in sg.plant_region(srng, codes, lower, int(pz_s[g]), int(pz_e[g]),
                                                    pr_motifs[g], p.motif_mutation_prob, refill):
            motif_rows.append((ms, m, mstrand, f"{gene_ids[g]}_promoter", mism))
    comp = sg.composition(codes)
    text = sg.to_text(codes, lower)
    del codes, lower

    # --- truth tables
    el_names = [f"{name}_el{i + 1:05d}" for i in range(n_el)]
    genes = pd.DataFrame({
        "gene_id": gene_ids, "name": [f"SG{gene_offset + g + 1}" for g in range(n_genes)], "chrom": name,
        "tss": tss, "strand": strand, "body": body, "cpg_island": cgi,
        "promoter_activity": pr_act, "promoter_motif_content": pr_content,
    })
    elements = pd.DataFrame({
        "chrom": name, "start": el_start, "end": el_end, "name": el_names,
        "score": np.clip(np.round(200 * el_act), 0, 1000).astype(np.int64), "strand": ".",
        "class": np.where(functional, "functional", "decoy"), "activity": el_act,
        "motif_content": el_content,
        "n_activators": [sum(m in sg.ACTIVATORS for m in ms) for ms in el_motifs],
        "n_repressors": [sum(m in sg.REPRESSORS for m in ms) for ms in el_motifs],
    })
    promoters = pd.DataFrame({
        "chrom": name, "start": pz_s, "end": pz_e, "name": [f"{g}_promoter" for g in gene_ids],
        "score": np.clip(np.round(200 * pr_act), 0, 1000).astype(np.int64),
        "strand": np.where(strand > 0, "+", "-"), "activity": pr_act, "motif_content": pr_content,
        "cpg_island": cgi.astype(np.int64),
    })
    links = _links(p, boundaries, genes, elements, promoters)
    motifs = _motif_table(name, motif_rows)

    # --- observations
    sig_rng = _rng(seed, ci, _RNG_SIGNAL)
    for df in (elements, promoters):
        peak_scale = 1.0 if df is elements else 1.2  # promoters are the strongest DHSs
        df["dnase_height"] = peak_scale * p.dnase_peak * df["activity"] * sig_rng.lognormal(
            0.0, p.assay_noise_sigma, len(df))
        df["h3k27ac_height"] = peak_scale * p.h3k27ac_peak * df["activity"] * sig_rng.lognormal(
            0.0, p.assay_noise_sigma, len(df))
    prom_sig = pd.DataFrame({"tss": tss, "strand": strand, "dnase_height": promoters["dnase_height"],
                             "h3k27ac_height": promoters["h3k27ac_height"]})
    dnase_exp, k27_exp = st.expected_signals(sig_rng, size, n_mask, elements, prom_sig, blacklist, asdict(p))
    dnase = st.observe(sig_rng, dnase_exp, p.bp_noise_shape)
    k27 = st.observe(sig_rng, k27_exp, p.bp_noise_shape)
    del k27_exp
    rrng = _rng(seed, ci, _RNG_READS)
    r_start, r_end, r_strand = st.sample_reads(
        rrng, dnase_exp, int(rrng.poisson(p.reads_per_mb * size / 1e6)), p.read_length)
    del dnase_exp
    reads = pd.DataFrame({"start": r_start, "end": r_end, "strand": r_strand})
    pixels = st.hic_pixels(_rng(seed, ci, _RNG_HIC), size, n_mask, boundaries, asdict(p))
    return ChromSim(name, size, text, genes, elements, promoters, links, motifs, blacklist,
                    dnase, k27, reads, pixels, comp)


def _dilate(mask: np.ndarray, by: int) -> np.ndarray:
    """bool mask grown by ``by`` bp on both sides."""
    if by <= 0:
        return mask.copy()
    cum = np.concatenate((np.zeros(by + 1, np.int64), np.cumsum(mask, dtype=np.int64)))
    cum = np.concatenate((cum, np.full(by, cum[-1])))
    # cum[k] = number of True in mask[: k - by - 1]; window [i - by, i + by] -> cum[i+2by+1] - cum[i]
    return (cum[2 * by + 1 :] - cum[: -2 * by - 1]) > 0


def _links(
    p: SimParams, boundaries: np.ndarray, genes: pd.DataFrame, elements: pd.DataFrame, promoters: pd.DataFrame
) -> pd.DataFrame:
    """Every (region, gene) pair in reach with its effect = activity * contact * motif content.

    Regions are the elements (kind ``element``) and the other genes' promoters (kind
    ``promoter``); a gene's own promoter enters the formula as P_g instead.
    """
    tss = genes["tss"].to_numpy()
    frames = []
    for kind, df in (("element", elements), ("promoter", promoters)):
        s = df["start"].to_numpy(np.int64)
        e = df["end"].to_numpy(np.int64)
        r, g = _reach(s, e, tss, p.window)
        if kind == "promoter":
            own = r == g  # promoter table rows are in gene order
            r, g = r[~own], g[~own]
        centre = (s[r] + e[r]) // 2
        dist = centre - tss[g]
        cross = np.abs(st.tad_index(boundaries, centre) - st.tad_index(boundaries, tss[g]))
        c = st.contact(dist, cross, p.contact_d0, p.contact_gamma, p.insulation)
        effect = df["activity"].to_numpy()[r] * c * df["motif_content"].to_numpy()[r]
        frames.append(pd.DataFrame({
            "element": df["name"].to_numpy()[r], "gene_id": genes["gene_id"].to_numpy()[g],
            "effect": effect, "contact": c, "distance": dist, "kind": kind,
        }))
    return pd.concat(frames, ignore_index=True)


def _motif_table(chrom: str, rows: list[tuple[int, int, int, str, int]]) -> pd.DataFrame:
    """Planted motif instances as BED6+ rows sorted by start."""
    rows = sorted(rows)
    return pd.DataFrame({
        "chrom": chrom,
        "start": [r[0] for r in rows],
        "end": [r[0] + sg.MOTIF_LEN for r in rows],
        "name": [sg.MOTIFS[r[1]].name for r in rows],
        "score": [round(1000 * sg.MOTIFS[r[1]].weight / 1.2) for r in rows],
        "strand": ["+" if r[2] > 0 else "-" for r in rows],
        "region": [r[3] for r in rows],
        "kind": [sg.MOTIFS[r[1]].kind for r in rows],
        "mismatches": [r[4] for r in rows],
    }, columns=TRUTH_MOTIF_COLUMNS)


def expression_from_truth(genes: pd.DataFrame, links: pd.DataFrame, p: SimParams) -> pd.DataFrame:
    """Apply the expression formula: adds promoter_effect, distal_effect, drive, tpm_noise_free.

    Args:
        genes: gene_id, promoter_activity, promoter_motif_content.
        links: gene_id, effect.
    """
    out = genes.copy()
    distal = links.groupby("gene_id")["effect"].sum()
    out["promoter_effect"] = p.promoter_weight * out["promoter_activity"] * out["promoter_motif_content"]
    out["distal_effect"] = out["gene_id"].map(distal).fillna(0.0).to_numpy(np.float64)
    out["drive"] = p.basal + out["promoter_effect"] + out["distal_effect"]
    out["tpm_noise_free"] = p.tpm_scale * out["drive"]
    return out


# ----------------------------------------------------------------------------- whole genome


def simulate_genome(seed: int, params: SimParams) -> list[ChromSim]:
    """Simulate every chromosome; adds expression columns to each ``ChromSim.genes``.

    Added gene columns: promoter_effect, distal_effect, drive, tpm_noise_free, noise_z, value
    (value = tpm_noise_free * 10 ** (noise_sd_log10 * noise_z)).
    """
    if len(params.chrom_sizes) != len(params.genes_per_chrom):
        raise InputError("simulate: chrom_sizes and genes_per_chrom differ in length; give one gene count per chromosome")
    chroms = []
    offset = 0
    for ci in range(len(params.chrom_sizes)):
        t0 = time.perf_counter()
        sim = _simulate_chrom(seed, ci, params, offset)
        genes = expression_from_truth(sim.genes, sim.links, params)
        z = _rng(seed, ci, _RNG_NOISE).standard_normal(len(genes))
        genes["noise_z"] = z
        genes["value"] = genes["tpm_noise_free"] * 10.0 ** (params.noise_sd_log10 * z)
        sim.genes = genes
        offset += len(genes)
        chroms.append(sim)
        log.debug("simulated %s (%d bp, %d genes, %d elements) in %.2f s", sim.name, sim.size,
                  len(genes), len(sim.elements), time.perf_counter() - t0)
    return chroms


def simulate(
    output: str | os.PathLike, seed: int = 1, scale: str = "small", force: bool = False, **overrides
) -> dict:
    """Write a complete simulated data set to the directory ``output``.

    Args:
        output: directory to create (atomically; replaced only with ``force``).
        seed: fixes every random draw; the same seed writes the same files.
        scale: ``tiny`` (CI), ``small`` (quickstart) or ``full`` (benchmark).
        overrides: SimParams fields to change (recorded in simulation.json).

    Returns:
        The simulation.json content (dict).

    Raises:
        OutputExistsError: ``output`` exists and ``force`` is false.
        InputError: unknown scale or inconsistent parameters.
    """
    from seq2exp_cli.io.bigwig import write_bigwig
    from seq2exp_cli.io.fasta import write_fasta
    from seq2exp_cli.io.hic import write_cool, write_juicer_dump
    from seq2exp_cli.io.motifs import write_meme

    if seed < 0:
        raise InputError(f"--seed: {seed} is negative; give a seed >= 0")
    params = params_for_scale(scale, **overrides)
    t0 = time.perf_counter()
    with atomic_directory(output, force=force) as tmp:
        chroms = simulate_genome(seed, params)
        t_gen = time.perf_counter() - t0
        sizes = {c.name: c.size for c in chroms}
        write_fasta(tmp / FILES["fasta"], {c.name: c.text for c in chroms})
        (tmp / FILES["chrom_sizes"]).write_text("".join(f"{k}\t{v}\n" for k, v in sizes.items()))
        for c in chroms:
            c.text = ""  # free the sequence before the tracks are written
        write_bigwig(tmp / FILES["dnase"], sizes, {c.name: c.dnase for c in chroms})
        write_bigwig(tmp / FILES["h3k27ac"], sizes, {c.name: c.h3k27ac for c in chroms})
        pixels = pd.concat([c.pixels.assign(chrom1=c.name, chrom2=c.name) for c in chroms], ignore_index=True)
        write_cool(tmp / FILES["hic_cool"], sizes, params.hic_resolution, pixels)
        for c in chroms:
            write_juicer_dump(tmp / FILES["hic_juicer"].format(chrom=c.name), c.pixels)
        genes = pd.concat([c.genes for c in chroms], ignore_index=True)
        write_tables(tmp, chroms, genes, sizes)
        write_meme(tmp / FILES["motifs"], motif_database(params.motif_mutation_prob))
        split = {
            "train": [n for n in sizes if n not in params.valid_chroms + params.test_chroms],
            "valid": list(params.valid_chroms),
            "test": list(params.test_chroms),
        }
        manifest = write_manifest_dict(seed, params, sizes, split, chroms, genes, time.perf_counter() - t0, t_gen)
        (tmp / FILES["manifest"]).write_text(json.dumps(manifest, indent=2) + "\n")
        # temporary files and directories are private (0600/0700); a data set is for sharing
        for f in tmp.iterdir():
            f.chmod(0o644)
        tmp.chmod(0o755)
    log.info("simulated %s scale: %d chromosomes, %d genes, %d elements in %s (%.1f s)", scale,
             len(chroms), len(genes), manifest["counts"]["elements"], output, time.perf_counter() - t0)
    return manifest
