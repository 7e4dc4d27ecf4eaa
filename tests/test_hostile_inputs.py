"""Hostile inputs for every command: each case runs one command line in-process and checks the
promise of the README: a mistake ends with exit code 1 (a usage mistake: 2, as Click's), one
stderr line naming the file and the flag, no traceback, and nothing left at or beside the
output path. Inputs accepted on purpose (with a warning where they look wrong) are cases too.

The inputs are the tiny synthetic kit of conftest.py (built once per session); each case
writes its broken file into its own temporary directory.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL_ARGS, invoke, prepare_args


@dataclass
class Kit:
    inputs: dict[str, Path]
    dataset: Path
    model: Path
    bedgraph: Path
    work: Path  # this case's directory for broken inputs
    out: Path  # this case's (empty) output directory


@dataclass
class Case:
    build: Callable[[Kit], list[str]]
    code: int = 1
    names: tuple[str, ...] = ()  # substrings the error line must hold (a file, a flag)
    warns: tuple[str, ...] = ()  # accepted cases: substrings a warning must hold
    output: str | None = None  # accepted cases: the output (under out/) that must exist
    needs_model: bool = False
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- broken files


def write(kit: Kit, name: str, content: str | bytes) -> Path:
    path = kit.work / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def cut(kit: Kit, source: Path, name: str, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    return write(kit, name, data[: int(len(data) * fraction)])


def noise(kit: Kit, name: str, n: int = 4096) -> Path:
    return write(kit, name, np.random.default_rng(5).integers(0, 256, n, dtype=np.uint8).tobytes())


def genes_tsv(kit: Kit, rows: list[str], name: str = "genes.tsv", bom: bool = False) -> Path:
    text = "gene_id\tname\tchrom\ttss\tstrand\tgene_type\n" + "".join(r + "\n" for r in rows)
    return write(kit, name, ("\ufeff" if bom else "") + text)


def tsv_rows(kit: Kit) -> list[str]:
    return kit.inputs["genes_tsv"].read_text().splitlines()[1:]


def expression_with(kit: Kit, value: str) -> Path:
    lines = kit.inputs["expression"].read_text().splitlines()
    first = lines[1].split("\t")
    lines[1] = "\t".join([first[0], value, *first[2:]])
    return write(kit, "expr.tsv", "\n".join(lines) + "\n")


def bigwig(kit: Kit, name: str, sizes: dict[str, int], values: dict[str, np.ndarray]) -> Path:
    from seq2exp_cli.io.bigwig import write_bigwig

    path = kit.work / name
    write_bigwig(path, sizes, values)
    return path


def copy_dataset(kit: Kit) -> Path:
    copy = kit.work / "ds"
    shutil.copytree(kit.dataset, copy)
    return copy


def copy_model(kit: Kit) -> Path:
    copy = kit.work / "run"
    shutil.copytree(kit.model, copy)
    return copy


def prep(kit: Kit, **replace) -> list[str]:
    return prepare_args(kit.inputs, kit.out / "ds", **replace)


def train(kit: Kit, *extra, dataset: Path | None = None) -> list[str]:
    return ["-q", "train", dataset or kit.dataset, "-o", kit.out / "run", *TINY_MODEL_ARGS, *extra]


def predict(kit: Kit, *extra, run: Path | None = None, dataset: Path | None = None) -> list[str]:
    return ["-q", "predict", run or kit.model, dataset or kit.dataset, "-o", kit.out / "p.tsv", "--device", "cpu",
            *extra]


def call(kit: Kit, *extra) -> list[str]:
    return ["-q", "call-elements", *extra, "-o", kit.out / "el.bed"]


def call_model(kit: Kit, *extra, run: Path | None = None, dataset: Path | None = None) -> list[str]:
    return call(kit, run or kit.model, dataset or kit.dataset, "--device", "cpu", *extra)


def config(kit: Kit, text: str) -> Path:
    return write(kit, "cfg.toml", text)


def truncated_bgzf_fasta(kit: Kit) -> Path:
    import pysam

    path = kit.work / "genome.fa.gz"
    pysam.tabix_compress(str(kit.inputs["fasta"]), str(path))
    return cut(kit, path, "genome.fa.gz", 0.5)


def stale_fai(kit: Kit) -> Path:
    path = cut(kit, kit.inputs["fasta"], "genome.fa", 0.6)
    shutil.copy(str(kit.inputs["fasta"]) + ".fai", str(path) + ".fai")
    return path


def shorter_chrom_track(kit: Kit) -> Path:
    return bigwig(kit, "short.bw", {"chr1": 290_000, "chr2": 200_000},
                  {"chr1": np.ones(290_000, np.float32), "chr2": np.ones(200_000, np.float32)})


def nan_track(kit: Kit) -> Path:
    values = {c: np.ones(n, np.float32) for c, n in (("chr1", 300_000), ("chr2", 200_000))}
    values["chr1"][20_000:20_100] = 3.4e38
    return bigwig(kit, "huge.bw", {"chr1": 300_000, "chr2": 200_000}, values)


def damaged_array(kit: Kit) -> Path:
    ds = copy_dataset(kit)
    seq = ds / "arrays" / "seq.u8"
    seq.write_bytes(seq.read_bytes()[:1000])
    return ds


def edited_manifest(kit: Kit, edit: Callable[[dict], None]) -> Path:
    ds = copy_dataset(kit)
    manifest = json.loads((ds / "manifest.json").read_text())
    edit(manifest)
    (ds / "manifest.json").write_text(json.dumps(manifest))
    return ds


def model_file(kit: Kit, content: Callable[[Path], bytes]) -> Path:
    run = copy_model(kit)
    (run / "model.pt").write_bytes(content(run / "model.pt"))
    return run


# --------------------------------------------------------------------------- the cases

CASES: dict[str, Case] = {
    # prepare: the genome
    "prepare-fasta-missing": Case(lambda k: prep(k, fasta=k.work / "nope.fa"), names=("nope.fa", "--fasta")),
    "prepare-fasta-empty": Case(lambda k: prep(k, fasta=write(k, "empty.fa", "")), names=("empty.fa", "--fasta")),
    "prepare-fasta-noise": Case(lambda k: prep(k, fasta=noise(k, "noise.fa")), names=("noise.fa", "--fasta")),
    "prepare-fasta-stale-fai": Case(lambda k: prep(k, fasta=stale_fai(k)), names=("genome.fa", "--fasta", ".fai")),
    "prepare-fasta-plain-gzip": Case(
        lambda k: prep(k, fasta=write(k, "g.fa.gz", gzip.compress(k.inputs["fasta"].read_bytes()))),
        names=("g.fa.gz", "--fasta", "bgzip > g.fa.bgz")),
    "prepare-fasta-truncated-bgzf": Case(lambda k: prep(k, fasta=truncated_bgzf_fasta(k)),
                                         names=("genome.fa.gz", "--fasta", "truncated")),
    # prepare: genes
    "prepare-genes-missing": Case(lambda k: prep(k, genes=k.work / "nope.gtf"), names=("nope.gtf", "--genes")),
    "prepare-genes-empty": Case(lambda k: prep(k, genes=write(k, "empty.gtf", "")), names=("empty.gtf", "--genes")),
    "prepare-genes-noise": Case(lambda k: prep(k, genes=noise(k, "noise.txt")), names=("noise.txt", "--genes")),
    "prepare-gtf-cut-mid-line": Case(lambda k: prep(k, genes=cut(k, k.inputs["gtf"], "cut.gtf", 0.47)),
                                     names=("cut.gtf", "--genes")),
    "prepare-genes-unknown-chrom": Case(
        lambda k: prep(k, genes=genes_tsv(k, tsv_rows(k) + ["GX\tGX\tchr9\t500\t+\tlncRNA"])),
        names=("genes.tsv", "--genes", "chr9", "--exclude-chroms")),
    "prepare-genes-duplicate-id": Case(lambda k: prep(k, genes=genes_tsv(k, tsv_rows(k) + tsv_rows(k)[:1])),
                                       names=("genes.tsv", "--genes", "more than once")),
    "prepare-genes-tss-out-of-range": Case(
        lambda k: prep(k, genes=genes_tsv(k, tsv_rows(k) + ["GX\tGX\tchr1\t999999999\t+\tlncRNA"])),
        names=("genes.tsv", "--genes", "999999999")),
    "prepare-genes-bad-strand": Case(lambda k: prep(k, genes=genes_tsv(k, tsv_rows(k) + ["GX\tGX\tchr1\t500\t*\tlncRNA"])),
                                     names=("genes.tsv", "--genes", "strand")),
    "prepare-genes-tsv-with-bom-accepted": Case(lambda k: prep(k, genes=genes_tsv(k, tsv_rows(k), bom=True)),
                                                code=0, output="ds"),
    # prepare: expression
    "prepare-expression-missing": Case(lambda k: prep(k, expression=k.work / "nope.tsv"),
                                       names=("nope.tsv", "--expression")),
    "prepare-expression-empty": Case(lambda k: prep(k, expression=write(k, "e.tsv", "")),
                                     names=("e.tsv", "--expression")),
    "prepare-expression-not-a-number": Case(lambda k: prep(k, expression=expression_with(k, "high")),
                                            names=("expr.tsv", "--expression", "high")),
    "prepare-expression-infinite": Case(lambda k: prep(k, expression=expression_with(k, "inf")),
                                        names=("expr.tsv", "--expression", "infinite")),
    "prepare-expression-negative": Case(lambda k: prep(k, expression=expression_with(k, "-3")),
                                        names=("expr.tsv", "--expression", "--target-transform none")),
    "prepare-expression-nan-accepted": Case(lambda k: prep(k, expression=expression_with(k, "nan")),
                                            code=0, output="ds"),
    "prepare-expression-duplicate-id": Case(
        lambda k: prep(k, expression=write(k, "dup.tsv", k.inputs["expression"].read_text()
                                           + k.inputs["expression"].read_text().splitlines()[1] + "\n")),
        names=("dup.tsv", "--expression", "times")),
    # prepare: tracks
    "prepare-track-missing": Case(lambda k: prep(k, track=[f"dnase={k.work / 'nope.bw'}"]),
                                  names=("nope.bw", "--track")),
    "prepare-track-empty": Case(lambda k: prep(k, track=[f"dnase={write(k, 'e.bw', '')}"]), names=("e.bw", "--track")),
    "prepare-track-truncated": Case(lambda k: prep(k, track=[f"dnase={cut(k, k.inputs['dnase'], 'cut.bw', 0.3)}"]),
                                    names=("cut.bw", "--track")),
    "prepare-track-wrong-format": Case(lambda k: prep(k, track=["dnase=" + str(write(k, "bed.bw", "chr1\t0\t5\t1\n"))]),
                                       names=("bed.bw", "--track")),
    "prepare-track-chrom-mismatch": Case(
        lambda k: prep(k, track=[f"dnase={bigwig(k, 'other.bw', {'scaffold_1': 1000}, {'scaffold_1': np.ones(1000)})}"]),
        names=("other.bw", "--track", "chr1")),
    "prepare-track-shorter-chrom-warns": Case(lambda k: prep(k, track=[f"dnase={shorter_chrom_track(k)}"]),
                                              code=0, output="ds", warns=("short.bw", "290000", "another assembly")),
    "prepare-track-huge-values-warn": Case(lambda k: prep(k, track=[f"dnase={nan_track(k)}"]),
                                           code=0, output="ds", warns=("huge.bw", "3.4e+38")),
    "prepare-track-no-equals": Case(lambda k: prep(k, track=[str(k.inputs["dnase"])]), code=2,
                                    names=("--track", "NAME=PATH")),
    "prepare-track-path-as-name": Case(lambda k: prep(k, track=[f"../../x={k.inputs['dnase']}"]), code=2,
                                       names=("--track", "../../x")),
    "prepare-track-duplicate-name": Case(lambda k: prep(k, track=[f"a={k.inputs['dnase']}", f"a={k.inputs['h3k27ac']}"]),
                                         names=("--track", "twice")),
    # prepare: Hi-C, blacklist, splits, features
    "prepare-hic-missing": Case(lambda k: prep(k, hic=k.work / "nope.cool"), names=("nope.cool", "--hic")),
    "prepare-hic-noise": Case(lambda k: prep(k, hic=noise(k, "noise.cool")), names=("noise.cool", "--hic")),
    "prepare-hic-truncated": Case(lambda k: prep(k, hic=cut(k, k.inputs["cool"], "cut.cool", 0.4)),
                                  names=("cut.cool", "--hic")),
    "prepare-blacklist-missing": Case(lambda k: prep(k, blacklist=k.work / "nope.bed"),
                                      names=("nope.bed", "--blacklist")),
    "prepare-blacklist-negative": Case(lambda k: prep(k, blacklist=write(k, "bl.bed", "chr1\t-5\t100\n")),
                                       names=("bl.bed", "--blacklist", "line 1")),
    "prepare-blacklist-binary": Case(lambda k: prep(k, blacklist=noise(k, "bl.bed")), names=("bl.bed", "--blacklist")),
    "prepare-split-file-bad-label": Case(
        lambda k: prep(k, split_mode="file", split_file=write(
            k, "split.tsv", "".join(f"{r.split(chr(9))[0]}\tholdout\n" for r in tsv_rows(k)))),
        names=("split.tsv", "--split-file")),
    "prepare-gene-features-not-numeric": Case(
        lambda k: prep(k, gene_features=write(k, "feat.tsv", "gene_id\tx\n" + "".join(
            f"{r.split(chr(9))[0]}\tabc\n" for r in tsv_rows(k)))),
        names=("feat.tsv", "--gene-features")),
    # prepare: numbers and the output path
    "prepare-window-too-small": Case(lambda k: prep(k, window=1000), names=("--window 1000",)),
    "prepare-window-longer-than-chrom": Case(lambda k: prep(k, window=10**9), names=("--window", "chr")),
    "prepare-window-not-multiple-of-100-warns": Case(lambda k: prep(k, window=10_050), code=0, output="ds",
                                                     warns=("--window 10050", "--resolution")),
    "prepare-hic-resolution-zero": Case(lambda k: prep(k, hic_resolution=0), names=("--hic-resolution 0",)),
    "prepare-threads-zero": Case(lambda k: prep(k, threads=0), code=2, names=("--threads",)),
    "prepare-window-not-a-number": Case(lambda k: prep(k, window="wide"), code=2, names=("--window", "wide")),
    "prepare-output-parent-missing": Case(lambda k: prepare_args(k.inputs, k.out / "no" / "ds"),
                                          names=("no/ds", "does not exist")),
    "prepare-output-exists": Case(lambda k: prepare_args(k.inputs, k.dataset), names=(None, "--force")),
    # train
    "train-dataset-missing": Case(lambda k: train(k, dataset=k.work / "nope"), names=("nope", "seq2exp prepare")),
    "train-dataset-truncated-array": Case(lambda k: train(k, dataset=damaged_array(k)),
                                          names=("seq.u8", "seq2exp prepare")),
    "train-dataset-manifest-unreadable": Case(
        lambda k: train(k, dataset=(lambda d: (d / "manifest.json").write_text("{") and d)(copy_dataset(k))),
        names=("manifest.json", "seq2exp prepare")),
    "train-dataset-manifest-key-missing": Case(
        lambda k: train(k, dataset=edited_manifest(k, lambda m: m.pop("total_bp"))),
        names=("ds", "seq2exp prepare")),
    "train-dataset-genes-table-missing": Case(
        lambda k: train(k, dataset=(lambda d: (d / "genes.tsv").unlink() or d)(copy_dataset(k))),
        names=("genes.tsv", "seq2exp prepare")),
    "train-lr-nan": Case(lambda k: train(k, "--lr", "nan"), names=("lr", "finite")),
    "train-lr-negative": Case(lambda k: train(k, "--lr", "-1"), names=("lr", "> 0")),
    "train-max-steps-zero": Case(lambda k: train(k, "--max-steps", "0"), names=("max_steps", "> 0")),
    "train-toml-lr-string": Case(lambda k: train(k, "--config", config(k, '[training]\nlr = "fast"\n')),
                                 names=("cfg.toml", "lr", "number")),
    "train-toml-batch-size-float": Case(lambda k: train(k, "--config", config(k, "[training]\neval_batch_size = 2.5\n")),
                                        names=("cfg.toml", "eval_batch_size", "whole number")),
    "train-toml-d-model-string": Case(lambda k: train(k, "--config", config(k, '[model]\nd_state = "wide"\n')),
                                      names=("cfg.toml",)),
    "train-toml-syntax": Case(lambda k: train(k, "--config", config(k, "[training\nlr = 1\n")),
                              names=("cfg.toml", "TOML")),
    "train-toml-unknown-key": Case(lambda k: train(k, "--config", config(k, "[training]\nlearning_rate = 1\n")),
                                   names=("cfg.toml", "learning_rate")),
    "train-toml-betas-out-of-range": Case(lambda k: train(k, "--config", config(k, "[training]\nbetas = [0.9, 2]\n")),
                                          names=("cfg.toml", "betas")),
    "train-device-unknown": Case(lambda k: train(k, "--device", "tpu7"), names=("--device tpu7",)),
    "train-resolution-not-dividing": Case(lambda k: train(k, "--resolution", "7"), names=("resolution 7", "4, 5, 8, 10")),
    "train-resume-nothing": Case(lambda k: train(k, "--resume"), names=("run", "--resume")),
    "train-batch-size-not-a-number": Case(lambda k: train(k, "--batch-size", "abc"), code=2,
                                          names=("--batch-size", "abc")),
    "train-output-exists": Case(lambda k: ["-q", "train", k.dataset, "-o", k.model, *TINY_MODEL_ARGS],
                                names=("run", "--force")),
    # predict
    "predict-model-missing": Case(lambda k: predict(k, run=k.work), names=("model.pt", "seq2exp train")),
    "predict-model-noise": Case(lambda k: predict(k, run=model_file(k, lambda p: noise(k, "x").read_bytes())),
                                names=("model.pt",), needs_model=True),
    "predict-model-truncated": Case(lambda k: predict(k, run=model_file(k, lambda p: p.read_bytes()[:2000])),
                                    names=("model.pt",), needs_model=True),
    "predict-dataset-truncated-array": Case(lambda k: predict(k, dataset=damaged_array(k)), names=("seq.u8",),
                                            needs_model=True),
    "predict-batch-size-zero": Case(lambda k: predict(k, "--batch-size", "0"), names=("--batch-size",),
                                    needs_model=True, extra={"codes": (1, 2)}),
    "predict-split-unknown": Case(lambda k: predict(k, "--split", "holdout"), code=2, names=("--split", "holdout")),
    "predict-output-exists": Case(lambda k: ["-q", "predict", k.model, k.dataset, "-o", k.inputs["expression"]],
                                  names=("expression.tsv", "--force"), needs_model=True),
    "predict-device-unknown": Case(lambda k: predict(k, "--device", "tpu7"), names=("--device tpu7",),
                                   needs_model=True),
    # call-elements
    "call-bedgraph-empty": Case(lambda k: call(k, "--from-bedgraph", write(k, "e.bdg", "")),
                                names=("e.bdg", "--from-bedgraph")),
    "call-bedgraph-header-only": Case(lambda k: call(k, "--from-bedgraph", write(k, "h.bdg", "track type=bedGraph\n")),
                                      names=("h.bdg", "--from-bedgraph")),
    "call-bedgraph-negative-start": Case(lambda k: call(k, "--from-bedgraph", write(k, "n.bdg", "chrA\t-100\t50\t0.9\n")),
                                         names=("n.bdg", "--from-bedgraph", "-100")),
    "call-bedgraph-noise": Case(lambda k: call(k, "--from-bedgraph", noise(k, "x.bdg")), names=("x.bdg", "--from-bedgraph")),
    "call-bedgraph-unsorted": Case(
        lambda k: call(k, "--from-bedgraph", write(k, "u.bdg", "chrA\t500\t900\t0.9\nchrA\t0\t100\t0.8\n")),
        names=("u.bdg", "--from-bedgraph", "sort")),
    "call-bedgraph-missing": Case(lambda k: call(k, "--from-bedgraph", k.work / "nope.bdg"), code=2,
                                  names=("nope.bdg", "--from-bedgraph")),
    "call-bigwig-noise": Case(lambda k: call(k, "--from-bigwig", noise(k, "x.bw")), names=("x.bw", "--from-bigwig")),
    "call-bigwig-truncated": Case(lambda k: call(k, "--from-bigwig", cut(k, k.inputs["dnase"], "c.bw", 0.3)),
                                  names=("c.bw", "--from-bigwig")),
    "call-bedgraph-nan-values-warn": Case(
        lambda k: call(k, "--from-bedgraph", write(k, "nan.bdg", "chrA\t0\t300\t0.9\nchrA\t300\t400\tnan\n")),
        code=0, output="el.bed", warns=("nan.bdg", "NaN")),
    "call-cutoff-nan": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "--cutoff", "nan"), names=("--cutoff",)),
    "call-cutoff-negative-warns": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "--cutoff", "-0.5"),
                                       code=0, output="el.bed", warns=("--cutoff -0.5",)),
    "call-top-fraction-two": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "--top-fraction", "2"),
                                  names=("--top-fraction 2",)),
    "call-pvalue-zero": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "-p", "0"), names=("-p",)),
    "call-min-length-zero": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "-l", "0"), names=("--min-length",)),
    "call-output-is-directory": Case(lambda k: ["-q", "call-elements", "--from-bedgraph", k.bedgraph, "-o", k.out],
                                     code=2, names=("-o",)),
    "call-no-mode": Case(lambda k: call(k), code=2, names=("RUN_DIR", "--from-bigwig")),
    "call-two-sources": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "--from-bigwig", k.inputs["dnase"]),
                             code=2, names=("--from-bigwig", "--from-bedgraph")),
    "call-chrom-sizes-noise": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "--chrom-sizes", noise(k, "c.sizes")),
                                   names=("c.sizes", "--chrom-sizes")),
    "call-chrom-mismatch": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "--chrom-sizes",
                                               write(k, "c.sizes", "chrZ\t5000\n")),
                                names=("scores.bdg", "--chrom-sizes", "chrA")),
    "call-bigwig-output-dir-missing": Case(lambda k: call(k, "--from-bedgraph", k.bedgraph, "--bigwig",
                                                          k.work / "no" / "x.bw"), names=("x.bw", "does not exist")),
    "call-output-exists": Case(lambda k: ["-q", "call-elements", "--from-bedgraph", k.bedgraph, "-o",
                                          k.inputs["blacklist"]], names=("blacklist.bed", "--force")),
    "call-model-missing": Case(lambda k: call_model(k, run=k.work), names=("model.pt", "seq2exp train")),
    "call-model-dataset-truncated": Case(lambda k: call_model(k, dataset=damaged_array(k)), names=("seq.u8",),
                                         needs_model=True),
    # plot-locus
    "plot-unknown-gene": Case(lambda k: ["-q", "plot-locus", k.model, k.dataset, "--gene", "NOPE", "-o",
                                         k.out / "x.png", "--device", "cpu"], names=("NOPE", "--gene"),
                              needs_model=True),
    "plot-model-missing": Case(lambda k: ["-q", "plot-locus", k.work, k.dataset, "--gene", "GENE01", "-o",
                                          k.out / "x.png"], names=("model.pt",)),
    "plot-elements-missing": Case(lambda k: ["-q", "plot-locus", k.model, k.dataset, "--gene", "GENE01", "-o",
                                             k.out / "x.png", "--elements", k.work / "nope.bed", "--device", "cpu"],
                                  names=("nope.bed", "--elements"), needs_model=True),
    "plot-output-exists": Case(lambda k: ["-q", "plot-locus", k.model, k.dataset, "--gene", "GENE01", "-o",
                                          k.inputs["blacklist"]], names=("blacklist.bed", "--force"), needs_model=True),
    # simulate
    "simulate-scale-unknown": Case(lambda k: ["-q", "simulate", "-o", k.out / "sim", "--scale", "huge"], code=2,
                                   names=("--scale", "huge")),
    "simulate-seed-negative": Case(lambda k: ["-q", "simulate", "-o", k.out / "sim", "--seed", "-1"], code=2,
                                   names=("--seed", "-1")),
    "simulate-output-exists": Case(lambda k: ["-q", "simulate", "-o", k.dataset, "--scale", "tiny"],
                                   names=(None, "--force")),
    "simulate-output-parent-missing": Case(lambda k: ["-q", "simulate", "-o", k.out / "no" / "sim", "--scale", "tiny"],
                                           names=("no/sim", "does not exist")),
}


@pytest.fixture(scope="module")
def kit_parts(tiny_inputs, tiny_dataset, tiny_model, score_bedgraph):
    return tiny_inputs, tiny_dataset, tiny_model, score_bedgraph


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    assert all(line.startswith("[seq2exp]") for line in lines if not line.startswith("Error:")), stderr
    return errors[0]


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(name, kit_parts, tmp_path):
    case = CASES[name]
    inputs, dataset, model, bedgraph = kit_parts
    if name.startswith("plot-"):
        pytest.importorskip("matplotlib")
    if name == "train-device-cuda":
        pytest.skip("CUDA present")
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    kit = Kit(inputs, dataset, model, bedgraph, work, out)
    before_inputs = sorted(p.name for p in inputs["fasta"].parent.iterdir())
    args = case.build(kit)
    result = invoke(args)
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "[E::" not in result.stderr, result.stderr  # htslib's own lines never reach the user
    codes = case.extra.get("codes", (case.code,))
    assert result.exit_code in codes, (result.exit_code, text)
    if result.exit_code == 0:
        assert case.output and (out / case.output).exists(), text
        assert not any(".seq2exp-" in p.name for p in out.iterdir()), list(out.iterdir())
        for warning in case.warns:
            assert warning in result.stderr, result.stderr
    else:
        line = _error_line(result.stderr)
        for part in case.names:
            if part is not None:
                assert part in line, line
        assert list(out.iterdir()) == [], list(out.iterdir())  # nothing at or beside the output path
    assert sorted(p.name for p in inputs["fasta"].parent.iterdir()) == before_inputs  # inputs untouched
    assert not any(p.name.endswith((".gzi", ".fai")) for p in work.iterdir() if p.name.startswith("genome.fa.gz"))


def test_enough_cases():
    assert len(CASES) >= 60
