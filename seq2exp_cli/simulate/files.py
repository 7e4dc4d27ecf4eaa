"""Output files of ``seq2exp simulate``: names, truth-table columns and the text writers.

The binary formats (FASTA, bigWig, .cool, Juicer dumps) go through ``seq2exp_cli.io``; this
module writes the annotation, expression, reads, truth tables, motif databases and the
``simulation.json`` content.
Floats are written with a fixed format so the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from seq2exp_cli import __version__
from seq2exp_cli.records import jsonable
from seq2exp_cli.simulate.grammar import Grammar, motif_databases
from seq2exp_cli.simulate.layout import CLASSES

if TYPE_CHECKING:
    from seq2exp_cli.simulate.chrom import ChromSim
    from seq2exp_cli.simulate.params import SimParams

FILES = {
    "fasta": "genome.fa",
    "chrom_sizes": "chrom.sizes",
    "genes_gtf": "genes.gtf",
    "genes_tsv": "genes.tsv",
    "expression": "expression.tsv",
    "dnase": "dnase.bw",
    "h3k27ac": "h3k27ac.bw",
    "hic_cool": "hic.cool",
    "hic_juicer": "hic.{chrom}.RAWobserved.gz",
    "blacklist": "blacklist.bed",
    "dnase_reads": "dnase_reads.bed",
    "truth_elements": "truth_elements.bed",
    "truth_candidates": "truth_candidates.bed",
    "truth_links": "truth_links.tsv",
    "truth_genes": "truth_genes.tsv",
    "truth_promoters": "truth_promoters.bed",
    "truth_motifs": "truth_motifs.bed",
    "truth_grammar": "truth_grammar.tsv",
    "motifs_exact": "motifs_exact.meme",
    "motifs_noisy": "motifs_noisy.meme",
    "motifs": "motifs_noisy.meme",  # the database a user would bring: the noisy one
    "manifest": "simulation.json",
}
TRUTH_ELEMENT_COLUMNS = [
    "chrom", "start", "end", "name", "score", "strand", "class", "activity",
    "motif_content", "n_activators", "n_repressors",
]
#: truth_elements.bed holds the functional and decoy candidates only (its classes since format 1)
ELEMENT_FILE_CLASSES = ("functional", "decoy")
TRUTH_CANDIDATE_COLUMNS = [
    "chrom", "start", "end", "name", "score", "strand", "class", "n_activators", "effect_max",
    "activity", "motif_content", "n_repressors", "n_insulators", "genes_in_reach",
]
TRUTH_GRAMMAR_COLUMNS = ["name", "kind", "consensus", "weight", "exact_id", "noisy_id"]
TRUTH_PROMOTER_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "activity", "motif_content", "cpg_island"]
TRUTH_MOTIF_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "region", "kind", "mismatches"]


def _tsv(df: pd.DataFrame, path: Path, header: bool = True) -> None:
    # fixed float format: identical bytes across runs and platforms
    df.to_csv(path, sep="\t", index=False, header=header, float_format="%.6g", lineterminator="\n")


def _gtf(genes: pd.DataFrame, sizes: dict[str, int]) -> str:
    """Gene, transcript and exon records (1-based inclusive) for every gene."""
    lines = []
    for g in genes.itertuples(index=False):
        size = sizes[g.chrom]
        if g.strand > 0:
            s0, e0 = g.tss, min(size, g.tss + g.body)
        else:
            s0, e0 = max(0, g.tss + 1 - g.body), g.tss + 1
        st_char = "+" if g.strand > 0 else "-"
        attrs = f'gene_id "{g.gene_id}"; gene_name "{g.name}"; gene_type "protein_coding";'
        tattrs = attrs + f' transcript_id "{g.gene_id}.1";'
        lines.append(f"{g.chrom}\tseq2exp_sim\tgene\t{s0 + 1}\t{e0}\t.\t{st_char}\t.\t{attrs}")
        lines.append(f"{g.chrom}\tseq2exp_sim\ttranscript\t{s0 + 1}\t{e0}\t.\t{st_char}\t.\t{tattrs}")
        # first and last exon at the transcript ends, one in the middle: enough for readers
        length = e0 - s0
        ex = [(s0, s0 + min(200, length))]
        if length > 1000:
            mid = s0 + length // 2
            ex.append((mid, mid + 150))
            ex.append((e0 - 300, e0))
        for k, (a, b) in enumerate(ex if st_char == "+" else ex[::-1], start=1):
            lines.append(f"{g.chrom}\tseq2exp_sim\texon\t{a + 1}\t{b}\t.\t{st_char}\t.\t{tattrs} exon_number {k};")
    return "\n".join(lines) + "\n"


def write_tables(tmp: Path, chroms: list[ChromSim], genes: pd.DataFrame, sizes: dict[str, int]) -> None:
    """The text outputs: annotation, expression, blacklist, reads and truth files."""
    (tmp / FILES["genes_gtf"]).write_text(_gtf(genes, sizes))
    tsv = genes[["gene_id", "name", "chrom", "tss"]].assign(strand=np.where(genes["strand"] > 0, "+", "-"))
    _tsv(tsv, tmp / FILES["genes_tsv"])
    _tsv(genes[["gene_id", "value"]], tmp / FILES["expression"])
    truth_genes = genes[[
        "gene_id", "chrom", "tss", "promoter_activity", "promoter_motif_content", "cpg_island",
        "promoter_effect", "distal_effect", "drive", "tpm_noise_free", "noise_z", "value",
    ]].assign(strand=tsv["strand"], cpg_island=genes["cpg_island"].astype(np.int64),
              log10p1=np.log10(1.0 + genes["value"]))
    _tsv(truth_genes, tmp / FILES["truth_genes"])
    blk = pd.DataFrame([(c.name, s, e) for c in chroms for s, e in c.blacklist], columns=["chrom", "start", "end"])
    _tsv(blk, tmp / FILES["blacklist"], header=False)
    candidates = pd.concat([c.elements for c in chroms])
    elements = candidates[candidates["class"].isin(ELEMENT_FILE_CLASSES)]
    _tsv(elements[TRUTH_ELEMENT_COLUMNS], tmp / FILES["truth_elements"], header=False)
    _tsv(candidates[TRUTH_CANDIDATE_COLUMNS], tmp / FILES["truth_candidates"], header=False)
    _tsv(pd.concat([c.promoters[TRUTH_PROMOTER_COLUMNS] for c in chroms]), tmp / FILES["truth_promoters"],
         header=False)
    _tsv(pd.concat([c.motifs for c in chroms]), tmp / FILES["truth_motifs"], header=False)
    _tsv(pd.concat([c.links for c in chroms]), tmp / FILES["truth_links"])
    # millions of integer rows: f-strings write them ~2.5x faster than DataFrame.to_csv
    with open(tmp / FILES["dnase_reads"], "w", encoding="ascii") as out:
        for c in chroms:
            strand = np.where(c.reads["strand"].to_numpy() > 0, "+", "-").tolist()
            out.write("".join([f"{c.name}\t{s}\t{e}\t.\t0\t{d}\n" for s, e, d in zip(
                c.reads["start"].tolist(), c.reads["end"].tolist(), strand)]))


def write_manifest_dict(
    seed: int, p: SimParams, grammar: Grammar, databases: dict[str, dict[str, str]], sizes: dict[str, int],
    split: dict, chroms: list[ChromSim], genes: pd.DataFrame, seconds: float, seconds_generate: float,
) -> dict:
    """The simulation.json content: parameters, split, files, formula, grammar, counts, prepare command.

    ``databases``: per condition (exact, noisy), grammar motif name -> id in that file."""
    elements = pd.concat([c.elements for c in chroms])
    links = pd.concat([c.links for c in chroms])
    comp = {k: float(np.average([c.composition[k] for c in chroms], weights=list(sizes.values())))
            for k in chroms[0].composition}
    files = {k: v for k, v in FILES.items() if k != "hic_juicer"}
    files["hic_juicer"] = {c.name: FILES["hic_juicer"].format(chrom=c.name) for c in chroms}
    prepare = (
        f"seq2exp prepare --fasta {FILES['fasta']} --genes {FILES['genes_gtf']} "
        f"--expression {FILES['expression']} --track dnase={FILES['dnase']} "
        f"--track h3k27ac={FILES['h3k27ac']} --hic {FILES['hic_cool']} --hic-resolution {p.hic_resolution} "
        f"--blacklist {FILES['blacklist']} --window {p.window} "
        f"--valid-chroms {','.join(split['valid'])} --test-chroms {','.join(split['test'])} -o data/"
    )
    return {
        "format": "seq2exp-simulation",
        "format_version": 2,
        "seq2exp_version": __version__,
        "seed": seed,
        "scale": p.scale,
        "window": p.window,
        "hic_resolution": p.hic_resolution,
        "split": split,
        "chrom_sizes": sizes,
        "files": files,
        "columns": {
            "truth_elements": TRUTH_ELEMENT_COLUMNS,
            "truth_candidates": TRUTH_CANDIDATE_COLUMNS,
            "truth_grammar": TRUTH_GRAMMAR_COLUMNS,
            "truth_promoters": TRUTH_PROMOTER_COLUMNS,
            "truth_motifs": TRUTH_MOTIF_COLUMNS,
            "dnase_reads": ["chrom", "start", "end", "name", "score", "strand"],
        },
        "expression": {
            "units": "TPM-like; model target is log10(1 + value) (prepare --target-transform log10p1)",
            "formula": "value = tpm_scale * (basal + promoter_weight * a_g * M_g + sum effect) "
            "* 10 ** (noise_sd_log10 * z); effect = activity * contact * motif_content"
            + ("; null_distal: every distal effect is 0 (other genes' promoters included)" if p.null_distal else ""),
            "contact": "(1 + |distance| / contact_d0) ** -contact_gamma * insulation ** tad_boundaries_crossed",
            "reach": "start >= tss - window // 2 + 1 and end <= tss + window // 2",
        },
        "null_distal": p.null_distal,
        "motifs": [{**m, "exact_id": databases["exact"][m["name"]], "noisy_id": databases["noisy"][m["name"]]}
                   for m in grammar.to_records()],
        "motif_conditions": {
            "none": None, "exact": FILES["motifs_exact"], "noisy": FILES["motifs_noisy"],
            "noisy_distractors": p.database_distractors,
        },
        "params": jsonable(asdict(p)),
        "counts": {
            "chromosomes": len(sizes),
            "genes": len(genes),
            "candidates": len(elements),
            "elements": int(elements["class"].isin(ELEMENT_FILE_CLASSES).sum()),
            **{cls: int((elements["class"] == cls).sum()) for cls in CLASSES},
            "links": len(links),
            "dnase_reads": int(sum(len(c.reads) for c in chroms)),
            "hic_pixels": int(sum(len(c.pixels) for c in chroms)),
        },
        "composition": comp,
        "prepare_command": prepare,
        "seconds": {"generate": round(seconds_generate, 2), "total": round(seconds, 2)},
    }


def write_databases(tmp: Path, seed: int, grammar: Grammar, p: SimParams) -> dict[str, dict[str, str]]:
    """motifs_exact.meme, motifs_noisy.meme and truth_grammar.tsv; returns, per condition, each
    grammar motif's id in that file."""
    from seq2exp_cli.io.motifs import Motif, write_meme

    dbs = motif_databases(seed, grammar, p.motif_mutation_prob, p.database_distractors)
    ids = {}
    for condition, entries in dbs.items():
        write_meme(tmp / FILES[f"motifs_{condition}"], [Motif(e.motif_id, e.probs) for e in entries])
        ids[condition] = {e.source: e.motif_id for e in entries if e.source != "distractor"}
    table = pd.DataFrame(grammar.to_records()).assign(
        exact_id=lambda t: t["name"].map(ids["exact"]), noisy_id=lambda t: t["name"].map(ids["noisy"]))
    _tsv(table[TRUTH_GRAMMAR_COLUMNS], tmp / FILES["truth_grammar"])
    return ids
