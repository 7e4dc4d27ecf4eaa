"""``seq2exp simulate``: a synthetic genome whose causal regulatory elements are known.

The simulator writes the same kinds of files users bring (FASTA, GTF, expression table,
bigWigs, .cool and Juicer dumps, blacklist, DNase reads), motif databases and the truth. It is
meant for quick starts and for measuring whether a model finds the elements that matter.

Generative model (every step vectorised numpy, fixed by ``seed``; docs/simulator.md):

0. Grammar (once per seed, its own random stream; ``simulate.grammar``): 3-6 activator and
   1-3 repressor motifs (12 bp, weights drawn) and one CTCF-like insulator motif.
1. Layout (per chromosome): TSSs uniformly spread with a minimum gap, random strand; N runs
   at the ends and a few inside; blacklist regions; TAD boundaries with log-normal domain sizes.
2. Candidates (200-1000 bp) away from promoters, N runs and blacklist, one per
   ``element_spacing`` bp of window-covered sequence, in six classes (``simulate.layout``):
   **functional** (1 + Poisson activators, maybe a repressor), signal-matched **decoys**
   (no activator, maybe a repressor), **orphans** (like functional, but in gene-free sequence:
   no gene in reach), **closed** (like functional, but activity 0: no chromatin signal),
   **insulators** (1-3 insulator motifs, accessible) and **inert** (nothing). Accessible
   classes draw activity a = f_TAD * LogNormal(0, activity_sigma) from the same distribution
   (f_TAD ~ LogNormal(0, domain_activity_sigma), one per TAD), so their chromatin signal is
   alike; only sequence and position tell them apart.
3. Promoters (the 400 bp [-300, +100) around each TSS, in transcription orientation) get
   Poisson activator motifs, maybe one repressor, and activity a_p = f_TAD * LogNormal(0, promoter_activity_sigma).
4. Motif content of a region: M = max(0, sum of planted activator weights - sum of planted
   repressor weights); insulator motifs weigh 0.
5. Contact between loci x, y: c = (1 + |x - y| / d0) ** -gamma * insulation ** k, where k
   counts TAD boundaries between them.
6. Expression of gene g (TPM-like; users apply log10(1 + value)):

       E(e, g)   = a_e * c(centre_e, tss_g) * M_e       for every candidate e in reach of g
       E(h, g)   = a_h * c(centre_h, tss_g) * M_h       for every other gene's promoter h in reach
       P_g       = promoter_weight * a_g * M_g          (own promoter)
       drive_g   = basal + P_g + sum_e E(e, g) + sum_h E(h, g)
       tpm_nf_g  = tpm_scale * drive_g
       value_g   = tpm_nf_g * 10 ** (noise_sd_log10 * z_g),   z_g ~ N(0, 1)

   A region [s, e) is in reach of g when it lies inside both strand conventions' window:
   s >= tss - window // 2 + 1 and e <= tss + window // 2. Only functional candidates have
   E > 0. With ``null_distal`` there are none and E(h, g) = 0 too: only a gene's own
   promoter acts.
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
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from seq2exp_cli.simulate import genome as sg
from seq2exp_cli.simulate import layout as lay
from seq2exp_cli.simulate import tracks as st
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.atomic import atomic_directory
from seq2exp_cli.simulate.chrom import ChromSim
from seq2exp_cli.simulate.files import (
    FILES, TRUTH_MOTIF_COLUMNS, write_databases, write_manifest_dict, write_tables,
)
from seq2exp_cli.simulate.grammar import MOTIF_LEN, Grammar, draw_grammar
from seq2exp_cli.simulate.params import SCALES, SimParams, params_for_scale

__all__ = ["SCALES", "ChromSim", "SimParams", "expression_from_truth", "grammar_for", "params_for_scale",
           "simulate", "simulate_genome"]

log = logging.getLogger(__name__)

# component ids for independent random streams: changing one step never shifts another
_RNG_LAYOUT, _RNG_SEQ, _RNG_MOTIF, _RNG_ACTIVITY, _RNG_SIGNAL, _RNG_READS, _RNG_HIC, _RNG_NOISE = range(8)


def grammar_for(seed: int, p: SimParams) -> Grammar:
    """The motif grammar of ``seed`` under the ranges of ``p``."""
    return draw_grammar(seed, p.n_activators, p.n_repressors, p.activator_weight, p.repressor_weight)


def _rng(seed: int, chrom_index: int, component: int) -> np.random.Generator:
    return np.random.default_rng([seed, chrom_index, component])


# ----------------------------------------------------------------------------- one chromosome


@dataclass
class _Layout:
    """Positions of one chromosome: genes, N runs, blacklist, TADs and candidates."""

    tss: np.ndarray
    strand: np.ndarray
    body: np.ndarray
    cgi: np.ndarray
    n_mask: np.ndarray
    blacklist: list[tuple[int, int]]
    boundaries: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    classes: np.ndarray


def _layout(rng: np.random.Generator, p: SimParams, size: int, n_genes: int) -> _Layout:
    """TSSs, N runs, blacklist, TAD boundaries, candidate intervals and their classes."""
    tel = p.telomere_bp
    tss = lay.place_tss(rng, n_genes, tel + 2000, size - tel - 2000, p.min_tss_gap)
    strand = np.where(rng.random(n_genes) < 0.5, 1, -1).astype(np.int64)
    near_tss = np.zeros(size, dtype=bool)
    for t in tss:
        near_tss[max(0, t - 5000) : t + 5000] = True
    n_mask = np.zeros(size, dtype=bool)
    n_mask[:tel] = True
    n_mask[size - tel :] = True
    n_gaps = int(rng.poisson(p.n_gaps_per_mb * size / 1e6))
    for s, e in lay.place_intervals(rng, n_gaps, p.n_gap_width, tel, size - tel, ~near_tss):
        n_mask[s:e] = True
    n_blk = max(1, round(p.blacklist_per_mb * size / 1e6))
    blk_free = ~(lay.dilate(n_mask, 1000) | near_tss)
    blacklist = lay.place_intervals(rng, n_blk, p.blacklist_width, tel, size - tel, blk_free)
    blk_mask = np.zeros(size, dtype=bool)
    for s, e in blacklist:
        blk_mask[s:e] = True
    boundaries = st.tad_boundaries(rng, size, p.tad_mean)
    starts, ends, orphan = lay.place_candidates(rng, p, size, tss, lay.dilate(n_mask | blk_mask, 200))
    classes = lay.assign_classes(rng, p, orphan)
    body = np.clip(rng.lognormal(np.log(p.gene_body_median), 0.6, n_genes), 2000, 80_000).astype(np.int64)
    cgi = rng.random(n_genes) < p.cgi_fraction
    return _Layout(tss, strand, body, cgi, n_mask, blacklist, boundaries, starts, ends, classes)


def _sequence(
    rng: np.random.Generator, p: SimParams, grammar: Grammar, g: _Layout, size: int,
    regions: list[tuple[str, int, int, list[int], tuple[float, float]]],
) -> tuple[str, list[tuple[int, int, int, str, int]], dict]:
    """FASTA text, planted motif rows (start, motif, strand, region, mismatches) and composition.

    ``regions``: (name, start, end, motif indices, refill (GC, deamination)) per candidate and
    promoter, planted in that order."""
    # deamination happens once, after the repeats are in, so copies and background age alike
    codes = sg.background(rng, size, p.gc_mean, p.gc_isochore_sd, p.isochore_block, 0.0)
    lower = np.zeros(size, dtype=bool)
    cgi_s, cgi_e = lay.promoter_zone(g.tss, g.strand, 600, 400)
    for s, e in zip(cgi_s[g.cgi], cgi_e[g.cgi]):
        codes[s:e] = sg.iid_bases(rng, p.cgi_gc, e - s)
    protected = g.n_mask.copy()
    for s, e in zip(np.concatenate((g.starts, cgi_s)), np.concatenate((g.ends, cgi_e))):
        protected[s:e] = True
    sg.insert_repeats(rng, codes, lower, protected, p.repeat_fraction)
    # repeat copies are young and CpG-rich; age them like the rest (CpG islands exempt)
    old_cgi = [codes[s:e].copy() for s, e in zip(cgi_s[g.cgi], cgi_e[g.cgi])]
    sg.deaminate_cpg(rng, codes, p.cpg_deamination)
    for (s, e), seq in zip(zip(cgi_s[g.cgi], cgi_e[g.cgi]), old_cgi):
        codes[s:e] = seq
    codes[g.n_mask] = sg.N_CODE
    lower[g.n_mask] = False
    motif_rows = []
    for name, start, end, motifs, refill in regions:
        for m, ms, mstrand, mism in sg.plant_region(rng, grammar, codes, lower, start, end, motifs,
                                                    p.motif_mutation_prob, refill):
            motif_rows.append((ms, m, mstrand, name, mism))
    return sg.to_text(codes, lower), motif_rows, sg.composition(codes)


def _simulate_chrom(seed: int, ci: int, p: SimParams, grammar: Grammar, gene_offset: int) -> ChromSim:
    """Simulate chromosome number ``ci`` (0-based) with genes numbered from ``gene_offset``."""
    name = p.names()[ci]
    size = int(p.chrom_sizes[ci])
    n_genes = int(p.genes_per_chrom[ci])
    g = _layout(_rng(seed, ci, _RNG_LAYOUT), p, size, n_genes)
    n_el = g.starts.size

    # --- motifs and activities
    mrng = _rng(seed, ci, _RNG_MOTIF)
    el_motifs = lay.candidate_motifs(mrng, grammar, p, g.classes)
    pr_motifs = lay.motif_lists(mrng, grammar, n_genes, p.promoter_activators_mean, p.promoter_repressor_prob,
                                0, 4, None)
    arng = _rng(seed, ci, _RNG_ACTIVITY)
    # without a shared domain factor, 200-kb windows average many elements and every gene
    # looks alike; real genomes have active and quiet neighbourhoods
    domain = arng.lognormal(0.0, p.domain_activity_sigma, g.boundaries.size + 1)
    el_act = arng.lognormal(0.0, p.activity_sigma, n_el) * domain[st.tad_index(g.boundaries, (g.starts + g.ends) // 2)]
    el_act[~np.isin(g.classes, list(lay.ACCESSIBLE))] = 0.0  # closed and inert: no chromatin signal
    pr_act = arng.lognormal(0.0, p.promoter_activity_sigma, n_genes) * domain[st.tad_index(g.boundaries, g.tss)]

    # --- sequence
    el_names = [f"{name}_el{i + 1:05d}" for i in range(n_el)]
    gene_ids = [f"SIMG{gene_offset + k + 1:05d}" for k in range(n_genes)]
    gene_names = [f"SG{gene_offset + k + 1}" for k in range(n_genes)]
    pz_s, pz_e = lay.promoter_zone(g.tss, g.strand, 300, 100)
    refill_bg = (p.gc_mean, p.cpg_deamination)
    regions = [(el_names[i], int(g.starts[i]), int(g.ends[i]), el_motifs[i], refill_bg) for i in range(n_el)]
    regions += [(f"{gene_ids[k]}_promoter", int(pz_s[k]), int(pz_e[k]), pr_motifs[k],
                 (p.cgi_gc, 0.0) if g.cgi[k] else refill_bg) for k in range(n_genes)]
    text, motif_rows, comp = _sequence(_rng(seed, ci, _RNG_SEQ), p, grammar, g, size, regions)

    # --- truth tables
    genes, elements, promoters = _truth_tables(p, grammar, name, g, gene_ids, gene_names, el_names, el_motifs, el_act,
                                               pr_motifs, pr_act, pz_s, pz_e)
    links = _links(p, g.boundaries, genes, elements, promoters)
    el_links = links[links["kind"] == "element"].groupby("element")["effect"]
    # reindex, not Series.map: map over string columns is ~100x slower
    elements["effect_max"] = el_links.max().reindex(elements["name"]).fillna(0.0).to_numpy(np.float64)
    elements["genes_in_reach"] = el_links.size().reindex(elements["name"]).fillna(0).to_numpy(np.int64)
    motifs = _motif_table(name, grammar, motif_rows)

    # --- observations
    sig_rng = _rng(seed, ci, _RNG_SIGNAL)
    for df in (elements, promoters):
        peak_scale = 1.0 if df is elements else 1.2  # promoters are the strongest DHSs
        df["dnase_height"] = peak_scale * p.dnase_peak * df["activity"] * sig_rng.lognormal(
            0.0, p.assay_noise_sigma, len(df))
        df["h3k27ac_height"] = peak_scale * p.h3k27ac_peak * df["activity"] * sig_rng.lognormal(
            0.0, p.assay_noise_sigma, len(df))
    prom_sig = pd.DataFrame({"tss": g.tss, "strand": g.strand, "dnase_height": promoters["dnase_height"],
                             "h3k27ac_height": promoters["h3k27ac_height"]})
    accessible = elements[elements["activity"] > 0]
    dnase_exp, k27_exp = st.expected_signals(sig_rng, size, g.n_mask, accessible, prom_sig, g.blacklist, asdict(p))
    dnase = st.observe(sig_rng, dnase_exp, p.bp_noise_shape)
    k27 = st.observe(sig_rng, k27_exp, p.bp_noise_shape)
    del k27_exp
    rrng = _rng(seed, ci, _RNG_READS)
    r_start, r_end, r_strand = st.sample_reads(
        rrng, dnase_exp, int(rrng.poisson(p.reads_per_mb * size / 1e6)), p.read_length)
    del dnase_exp
    reads = pd.DataFrame({"start": r_start, "end": r_end, "strand": r_strand})
    pixels = st.hic_pixels(_rng(seed, ci, _RNG_HIC), size, g.n_mask, g.boundaries, asdict(p))
    return ChromSim(name, size, text, genes, elements, promoters, links, motifs, g.blacklist,
                    dnase, k27, reads, pixels, comp)


def _truth_tables(
    p: SimParams, grammar: Grammar, name: str, g: _Layout, gene_ids: list[str], gene_names: list[str],
    el_names: list[str],
    el_motifs: list[list[int]], el_act: np.ndarray, pr_motifs: list[list[int]], pr_act: np.ndarray,
    pz_s: np.ndarray, pz_e: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The genes, candidates and promoters tables of one chromosome."""
    el_content = np.array([grammar.content(m) for m in el_motifs], dtype=np.float64)
    pr_content = np.array([grammar.content(m) for m in pr_motifs], dtype=np.float64)
    genes = pd.DataFrame({
        "gene_id": gene_ids, "name": gene_names, "chrom": name,
        "tss": g.tss, "strand": g.strand, "body": g.body, "cpg_island": g.cgi,
        "promoter_activity": pr_act, "promoter_motif_content": pr_content,
    })
    elements = pd.DataFrame({
        "chrom": name, "start": g.starts, "end": g.ends, "name": el_names,
        "score": np.clip(np.round(200 * el_act), 0, 1000).astype(np.int64), "strand": ".",
        "class": g.classes.astype(str), "activity": el_act, "motif_content": el_content,
        "n_activators": [grammar.count(ms, "activator") for ms in el_motifs],
        "n_repressors": [grammar.count(ms, "repressor") for ms in el_motifs],
        "n_insulators": [grammar.count(ms, "insulator") for ms in el_motifs],
    })
    promoters = pd.DataFrame({
        "chrom": name, "start": pz_s, "end": pz_e, "name": [f"{gid}_promoter" for gid in gene_ids],
        "score": np.clip(np.round(200 * pr_act), 0, 1000).astype(np.int64),
        "strand": np.where(g.strand > 0, "+", "-"), "activity": pr_act, "motif_content": pr_content,
        "cpg_island": g.cgi.astype(np.int64),
    })
    return genes, elements, promoters


def _links(
    p: SimParams, boundaries: np.ndarray, genes: pd.DataFrame, elements: pd.DataFrame, promoters: pd.DataFrame
) -> pd.DataFrame:
    """Every (region, gene) pair in reach with its effect = activity * contact * motif content.

    Regions are the candidates (kind ``element``; orphans are in no gene's reach) and the other
    genes' promoters (kind ``promoter``, effect 0 with ``null_distal``); a gene's own promoter
    enters the formula as P_g instead.
    """
    tss = genes["tss"].to_numpy()
    frames = []
    for kind, df in (("element", elements), ("promoter", promoters)):
        s = df["start"].to_numpy(np.int64)
        e = df["end"].to_numpy(np.int64)
        r, g = lay.reach(s, e, tss, p.window)
        if kind == "promoter":
            own = r == g  # promoter table rows are in gene order
            r, g = r[~own], g[~own]
        centre = (s[r] + e[r]) // 2
        dist = centre - tss[g]
        cross = np.abs(st.tad_index(boundaries, centre) - st.tad_index(boundaries, tss[g]))
        c = st.contact(dist, cross, p.contact_d0, p.contact_gamma, p.insulation)
        effect = df["activity"].to_numpy()[r] * c * df["motif_content"].to_numpy()[r]
        if kind == "promoter" and p.null_distal:
            effect = np.zeros_like(effect)  # the null: only a gene's own promoter acts on it
        frames.append(pd.DataFrame({
            "element": df["name"].to_numpy()[r], "gene_id": genes["gene_id"].to_numpy()[g],
            "effect": effect, "contact": c, "distance": dist, "kind": kind,
        }))
    return pd.concat(frames, ignore_index=True)


def _motif_table(chrom: str, grammar: Grammar, rows: list[tuple[int, int, int, str, int]]) -> pd.DataFrame:
    """Planted motif instances as BED6+ rows sorted by start."""
    rows = sorted(rows)
    motifs = grammar.motifs
    top = max(m.weight for m in motifs)
    return pd.DataFrame({
        "chrom": chrom,
        "start": [r[0] for r in rows],
        "end": [r[0] + MOTIF_LEN for r in rows],
        "name": [motifs[r[1]].name for r in rows],
        "score": [round(1000 * motifs[r[1]].weight / top) for r in rows],
        "strand": ["+" if r[2] > 0 else "-" for r in rows],
        "region": [r[3] for r in rows],
        "kind": [motifs[r[1]].kind for r in rows],
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
    out["distal_effect"] = distal.reindex(out["gene_id"]).fillna(0.0).to_numpy(np.float64)
    out["drive"] = p.basal + out["promoter_effect"] + out["distal_effect"]
    out["tpm_noise_free"] = p.tpm_scale * out["drive"]
    return out


# ----------------------------------------------------------------------------- whole genome


def simulate_genome(seed: int, params: SimParams, grammar: Grammar | None = None) -> list[ChromSim]:
    """Simulate every chromosome; adds expression columns to each ``ChromSim.genes``.

    ``grammar`` defaults to the seed's own (``grammar_for``). Added gene columns:
    promoter_effect, distal_effect, drive, tpm_noise_free, noise_z, value
    (value = tpm_noise_free * 10 ** (noise_sd_log10 * noise_z)).
    """
    if len(params.chrom_sizes) != len(params.genes_per_chrom):
        raise InputError("simulate: chrom_sizes and genes_per_chrom differ in length; give one gene count per chromosome")
    grammar = grammar_for(seed, params) if grammar is None else grammar
    chroms = []
    offset = 0
    for ci in range(len(params.chrom_sizes)):
        t0 = time.perf_counter()
        sim = _simulate_chrom(seed, ci, params, grammar, offset)
        genes = expression_from_truth(sim.genes, sim.links, params)
        z = _rng(seed, ci, _RNG_NOISE).standard_normal(len(genes))
        genes["noise_z"] = z
        genes["value"] = genes["tpm_noise_free"] * 10.0 ** (params.noise_sd_log10 * z)
        sim.genes = genes
        offset += len(genes)
        chroms.append(sim)
        log.debug("simulated %s (%d bp, %d genes, %d candidates) in %.2f s", sim.name, sim.size,
                  len(genes), len(sim.elements), time.perf_counter() - t0)
    return chroms


def simulate(
    output: str | os.PathLike, seed: int = 1, scale: str = "small", force: bool = False, **overrides
) -> dict:
    """Write a complete simulated data set to the directory ``output``.

    Args:
        output: directory to create (atomically; replaced only with ``force``).
        seed: fixes every random draw, the motif grammar included; the same seed writes the
            same files.
        scale: ``tiny`` (CI), ``small`` (quickstart), ``medium`` (headline benchmark) or
            ``full`` (200-kb windows).
        overrides: SimParams fields to change (recorded in simulation.json), e.g.
            ``null_distal=True`` for a genome where no distal region acts.

    Returns:
        The simulation.json content (dict).

    Raises:
        OutputExistsError: ``output`` exists and ``force`` is false.
        InputError: unknown scale or inconsistent parameters.
    """
    from seq2exp_cli.io.bigwig import write_bigwig
    from seq2exp_cli.io.fasta import write_fasta
    from seq2exp_cli.io.hic import write_cool, write_juicer_dump

    if seed < 0:
        raise InputError(f"--seed: {seed} is negative; give a seed >= 0")
    params = params_for_scale(scale, **overrides)
    t0 = time.perf_counter()
    with atomic_directory(output, force=force) as tmp:
        grammar = grammar_for(seed, params)
        chroms = simulate_genome(seed, params, grammar)
        t_gen = time.perf_counter() - t0
        sizes = {c.name: c.size for c in chroms}
        write_fasta(tmp / FILES["fasta"], {c.name: c.text for c in chroms})
        (tmp / FILES["chrom_sizes"]).write_text("".join(f"{k}\t{v}\n" for k, v in sizes.items()))
        for c in chroms:
            c.text = ""  # free the sequence before the tracks are written
        write_bigwig(tmp / FILES["dnase"], sizes, {c.name: c.dnase for c in chroms})
        write_bigwig(tmp / FILES["h3k27ac"], sizes, {c.name: c.h3k27ac for c in chroms})
        for c in chroms:
            c.dnase = c.h3k27ac = np.zeros(0, np.float32)
        pixels = pd.concat([c.pixels.assign(chrom1=c.name, chrom2=c.name) for c in chroms], ignore_index=True)
        write_cool(tmp / FILES["hic_cool"], sizes, params.hic_resolution, pixels)
        del pixels
        for c in chroms:
            write_juicer_dump(tmp / FILES["hic_juicer"].format(chrom=c.name), c.pixels)
        genes = pd.concat([c.genes for c in chroms], ignore_index=True)
        write_tables(tmp, chroms, genes, sizes)
        databases = write_databases(tmp, seed, grammar, params)
        split = {
            "train": [n for n in sizes if n not in params.valid_chroms + params.test_chroms],
            "valid": list(params.valid_chroms),
            "test": list(params.test_chroms),
        }
        manifest = write_manifest_dict(seed, params, grammar, databases, sizes, split, chroms, genes,
                                       time.perf_counter() - t0, t_gen)
        (tmp / FILES["manifest"]).write_text(json.dumps(manifest, indent=2) + "\n")
        # temporary files and directories are private (0600/0700); a data set is for sharing
        for f in tmp.iterdir():
            f.chmod(0o644)
        tmp.chmod(0o755)
    log.info("simulated %s scale: %d chromosomes, %d genes, %d candidates in %s (%.1f s)", scale,
             len(chroms), len(genes), manifest["counts"]["candidates"], output, time.perf_counter() - t0)
    return manifest
