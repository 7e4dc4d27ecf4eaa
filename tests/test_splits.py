"""Split assignment: chromosomes, position blocks, files, and the empty-split check."""

import numpy as np
import pandas as pd
import pytest

from seq2exp_cli.errors import InputError
from seq2exp_cli.splits import check_splits, split_by_blocks, split_by_chroms, split_from_file


def test_chrom_split_resolves_aliases():
    chroms = pd.Series(["chr1", "22", "chrX", "3", "chr21", "chr2"])
    split = split_by_chroms(chroms, ("chr22", "chrX"), ("chr3", "chr21"))
    assert split.tolist() == ["train", "test", "test", "valid", "valid", "train"]


def test_chrom_split_refuses_chromosome_in_both():
    with pytest.raises(InputError, match="both test and validation"):
        split_by_chroms(pd.Series(["chr1"]), ("chr1",), ("1",))


def test_block_split_keeps_blocks_whole_and_hits_fractions():
    rng = np.random.default_rng(0)
    tss = pd.Series(np.sort(rng.integers(0, 50_000_000, 500)))
    chroms = pd.Series(["chr22"] * 500)
    split = split_by_blocks(chroms, tss, 2_000_000, 0.15, 0.15, seed=1)
    blocks = tss // 2_000_000
    for _, group in split.groupby(blocks):
        assert group.nunique() == 1  # a block is never divided
    share = split.value_counts(normalize=True)
    assert 0.15 <= share["test"] < 0.35 and 0.15 <= share["valid"] < 0.35
    assert split.equals(split_by_blocks(chroms, tss, 2_000_000, 0.15, 0.15, seed=1))
    assert not split.equals(split_by_blocks(chroms, tss, 2_000_000, 0.15, 0.15, seed=2))


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.0, 0.2), (0.2, 1.2)])
def test_block_split_rejects_bad_fractions(fractions):
    with pytest.raises(InputError):
        split_by_blocks(pd.Series(["c"]), pd.Series([1]), 1000, *fractions, seed=0)


def test_split_file(tmp_path):
    path = tmp_path / "split.tsv"
    path.write_text("gene_id\tsplit\ng1\ttrain\ng2\ttest\ng3\tvalid\n")
    assert split_from_file(pd.Series(["g3", "g1", "g2"]), path).tolist() == ["valid", "train", "test"]
    path.write_text("g1\ttrain\ng2\ttesting\n")
    with pytest.raises(InputError, match="'testing'"):
        split_from_file(pd.Series(["g1", "g2"]), path)
    path.write_text("g1\ttrain\n")
    with pytest.raises(InputError, match="'g2'"):
        split_from_file(pd.Series(["g1", "g2"]), path)


def test_split_without_labels_is_allowed_with_a_warning(caplog):
    genes = pd.DataFrame({"split": ["train", "valid", "test"], "target": [1.0, 2.0, np.nan]})
    with caplog.at_level("WARNING", logger="seq2exp_cli"):
        check_splits(genes, "--test-chroms chr9")
    assert "'test' has no labelled gene with --test-chroms chr9 (1 genes in it)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="seq2exp_cli"):
        check_splits(genes.assign(target=np.nan), "x")  # predict-only data: no labels, no warning
    assert caplog.text == ""


def test_auto_split_holds_out_blocks_on_one_chromosome_and_chromosomes_otherwise(caplog):
    from seq2exp_cli.splits import split_auto

    rng = np.random.default_rng(0)
    one = pd.DataFrame({"chrom": "chr22", "tss": np.sort(rng.integers(0, 40_000_000, 200)),
                        "target": rng.random(200)})
    with caplog.at_level("INFO", logger="seq2exp_cli"):
        split, how = split_auto(one, ("chr22", "chrX"), ("chr3", "chr21"), 2_000_000, 0.15, 0.15, 1)
    assert how.startswith("--split-mode blocks") and set(split) == {"train", "valid", "test"}
    assert "position blocks are held out instead" in caplog.text
    many = pd.DataFrame({"chrom": ["chr1", "chr3", "chr22"] * 10, "tss": np.arange(30) * 1000,
                         "target": rng.random(30)})
    split, how = split_auto(many, ("chr22", "chrX"), ("chr3", "chr21"), 2_000_000, 0.15, 0.15, 1)
    assert how.startswith("--split-mode chroms")
    assert split.tolist() == ["train", "valid", "test"] * 10
