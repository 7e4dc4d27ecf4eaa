"""Train/validation/test assignment of genes.

Three ways, all deterministic:

``chroms``
    whole chromosomes held out (the paper's split by default: test chr22 + chrX, validation
    chr3 + chr21, where present; names resolved through aliases).
``blocks``
    for one-chromosome data: the genome is cut into contiguous blocks of ``block_size`` bp by
    TSS position, and whole blocks are drawn (seeded) into test and validation until each holds
    its fraction of the genes. Neighbouring genes, whose windows overlap, stay on one side.
``file``
    a TSV ``gene_id<TAB>split`` given by the user.
``auto`` (the default)
    ``chroms`` when the held-out chromosomes leave labelled genes in every split, else
    ``blocks`` (data on one or few chromosomes), with a line saying which.

A split without labelled genes is allowed with a warning: an unlabelled test split is the
normal case when a chromosome is to be predicted (``seq2exp predict`` covers every split).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from seq2exp_cli.dataset import SPLITS
from seq2exp_cli.errors import InputError
from seq2exp_cli.io.chroms import canonical_chrom_key

log = logging.getLogger(__name__)


def split_by_chroms(chroms: pd.Series, test_chroms: Sequence[str], valid_chroms: Sequence[str]) -> pd.Series:
    """Assign ``test``/``valid`` to genes on the named chromosomes (aliases allowed), ``train`` else."""
    keys = chroms.map(canonical_chrom_key)
    test_keys = {canonical_chrom_key(c) for c in test_chroms}
    valid_keys = {canonical_chrom_key(c) for c in valid_chroms}
    both = test_keys & valid_keys
    if both:
        raise InputError(f"chromosome(s) {sorted(both)} named for both test and validation; give each once")
    split = pd.Series("train", index=chroms.index, dtype=object)
    split[keys.isin(valid_keys)] = "valid"
    split[keys.isin(test_keys)] = "test"
    return split


def split_by_blocks(
    chroms: pd.Series,
    tss: pd.Series,
    block_size: int,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
) -> pd.Series:
    """Draw whole position blocks into test and validation until each holds its gene fraction."""
    if block_size <= 0:
        raise InputError(f"--block-size {block_size}: must be a positive number of bp")
    for name, frac in (("--valid-fraction", valid_fraction), ("--test-fraction", test_fraction)):
        if not 0 < frac < 1:
            raise InputError(f"{name} {frac}: must be between 0 and 1")
    if valid_fraction + test_fraction >= 1:
        raise InputError(
            f"--valid-fraction {valid_fraction} + --test-fraction {test_fraction} leave no genes to train on"
        )
    block = chroms.astype(str) + ":" + (tss.astype(np.int64) // block_size).astype(str)
    counts = block.value_counts(sort=False)
    names = np.array(sorted(counts.index))
    rng = np.random.default_rng(seed)
    names = names[rng.permutation(len(names))]
    total = len(chroms)
    assignment: dict[str, str] = {}
    filled = {"test": 0, "valid": 0}
    targets = {"test": test_fraction * total, "valid": valid_fraction * total}
    for name in names:
        for split in ("test", "valid"):
            if filled[split] < targets[split]:
                assignment[name] = split
                filled[split] += int(counts[name])
                break
        else:
            assignment[name] = "train"
    return block.map(assignment)


def split_auto(
    genes: pd.DataFrame, test_chroms: Sequence[str], valid_chroms: Sequence[str],
    block_size: int, valid_fraction: float, test_fraction: float, seed: int,
) -> tuple[pd.Series, str]:
    """``chroms`` when every split then holds labelled genes (genes, for unlabelled data), else
    ``blocks``; returns the split and the equivalent options."""
    split = split_by_chroms(genes["chrom"], test_chroms, valid_chroms)
    has = genes["target"].notna() if "target" in genes and genes["target"].notna().any() else genes["chrom"].notna()
    present = set(split[has.to_numpy()])
    if present >= set(SPLITS):
        how = f"--split-mode chroms --test-chroms {','.join(test_chroms)} --valid-chroms {','.join(valid_chroms)}"
        log.info("splits: held-out chromosomes (%s)", how)
        return split, how
    split = split_by_blocks(genes["chrom"], genes["tss"], block_size, valid_fraction, test_fraction, seed)
    how = (f"--split-mode blocks --block-size {block_size} --valid-fraction {valid_fraction} "
           f"--test-fraction {test_fraction} --seed {seed}")
    chroms = genes["chrom"].nunique()
    log.info("splits: the test/valid chromosomes (%s; %s) leave %s without labelled genes in data on %d "
             "chromosome(s), so whole position blocks are held out instead (%s)",
             ",".join(test_chroms), ",".join(valid_chroms), ", ".join(sorted(set(SPLITS) - present)), chroms, how)
    return split, how


def split_from_file(gene_ids: pd.Series, path: Path) -> pd.Series:
    """Read ``gene_id<TAB>split``; every gene must be listed and splits must be train/valid/test."""
    if not path.is_file():
        raise InputError(f"{path}: split file not found; give a TSV of gene_id and split")
    table = pd.read_csv(path, sep="\t", header=None, comment="#", dtype=str, usecols=[0, 1], names=["gene_id", "split"])
    if len(table) and table.iloc[0, 1] == "split":
        table = table.iloc[1:]
    bad = table[~table["split"].isin(SPLITS)]
    if len(bad):
        raise InputError(
            f"{path}: split {bad.iloc[0]['split']!r} for gene {bad.iloc[0]['gene_id']!r}; use train, valid or test"
        )
    mapping = dict(zip(table["gene_id"], table["split"]))
    missing = gene_ids[~gene_ids.isin(mapping.keys())]
    if len(missing):
        raise InputError(
            f"{path}: gene {missing.iloc[0]!r} (and {len(missing) - 1} more) has no split; list every gene"
        )
    return gene_ids.map(mapping)


def check_splits(genes: pd.DataFrame, how: str) -> None:
    """Warn (once per split) when a dataset with labels has a split without a labelled gene:
    ``train`` then refuses it unless train and valid have labels, ``predict`` covers it."""
    if "target" not in genes or not genes["target"].notna().any():
        return
    labelled = genes[genes["target"].notna()]
    counts = labelled["split"].value_counts()
    for split in SPLITS:
        if counts.get(split, 0) == 0:
            use = ("it can be predicted but not scored" if split == "test"
                   else "`seq2exp train` needs labelled train and valid genes")
            log.warning("split %r has no labelled gene with %s (%d genes in it); %s", split, how,
                        int((genes["split"] == split).sum()), use)
    log.info(
        "splits (labelled genes): train %d, valid %d, test %d",
        counts.get("train", 0), counts.get("valid", 0), counts.get("test", 0),
    )
