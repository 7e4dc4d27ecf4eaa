"""io/bed.py: schemas, atomic writers, bedGraph round trip, runs helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seq2exp_cli.column_table import ColumnTable
from seq2exp_cli.errors import InputError
from seq2exp_cli.io import bed
from seq2exp_cli.io.bigwig import write_bigwig_runs


def test_schemas_have_the_documented_columns() -> None:
    assert bed.NARROWPEAK_COLUMNS == (
        "chrom", "start", "end", "name", "score", "strand", "signalValue", "pValue", "qValue", "peak")
    assert bed.LINKS_COLUMNS == (
        "chr", "start", "end", "name", "class", "TargetGene", "TargetGeneTSS", "TargetGeneIsExpressed",
        "TargetGeneEnsembl_ID", "isSelfPromoter", "CellType", "distanceToTSS", "Score")
    assert len(bed.INTERACT_COLUMNS) == 18  # UCSC interact: bed5+13
    assert bed.CUTOFF_ANALYSIS_COLUMNS == ("cutoff", "n_elements", "total_bp", "mean_length")
    assert len(bed.SUMMITS_COLUMNS) == 5 and len(bed.BEDPE_COLUMNS) == 8


def test_write_table_round_trip_and_header_rules(tmp_path) -> None:
    links = pd.DataFrame({"chr": ["chr1"], "start": [10], "end": [20], "name": ["x_element_1"], "class": ["distal"],
                          "TargetGene": ["G"], "TargetGeneTSS": [100], "TargetGeneIsExpressed": [True],
                          "TargetGeneEnsembl_ID": ["ENSG01"], "isSelfPromoter": [False], "CellType": ["K562"],
                          "distanceToTSS": [85], "Score": [0.5], "extra": [1]})
    bed.write_table(tmp_path / "l.tsv", links, "links")
    text = (tmp_path / "l.tsv").read_text().splitlines()
    assert text[0] == "\t".join(bed.LINKS_COLUMNS)
    assert text[1] == "chr1\t10\t20\tx_element_1\tdistal\tG\t100\tTrue\tENSG01\tFalse\tK562\t85\t0.5"
    back = bed.read_table(tmp_path / "l.tsv", "links")
    assert list(back.columns) == list(bed.LINKS_COLUMNS)
    bed.write_table(tmp_path / "s.bed", pd.DataFrame({"chrom": ["c"], "start": [1], "end": [2], "name": ["n"],
                                                       "score": [0.25]}), "summits")
    assert (tmp_path / "s.bed").read_text() == "c\t1\t2\tn\t0.25\n"
    with pytest.raises(ValueError):
        bed.write_table(tmp_path / "bad.bed", pd.DataFrame({"chrom": ["c"]}), "summits")
    assert not (tmp_path / "bad.bed").exists()


def test_empty_table_is_an_empty_file(tmp_path) -> None:
    empty = pd.DataFrame({c: [] for c in bed.NARROWPEAK_COLUMNS})
    bed.write_table(tmp_path / "e.bed", empty, "narrowPeak")
    assert (tmp_path / "e.bed").read_text() == ""
    assert bed.read_table(tmp_path / "e.bed", "narrowPeak").empty


def test_bedgraph_round_trip_keeps_float32_exactly(tmp_path) -> None:
    rng = np.random.default_rng(0)
    values = rng.random(50).astype(np.float32)
    starts = np.arange(0, 500, 10, dtype=np.int64)
    runs = bed.Runs(starts, starts + 10, values)
    assert bed.write_bedgraph(tmp_path / "x.bdg", iter([("chr2", runs)])) == 50
    back = bed.read_bedgraph(tmp_path / "x.bdg")
    assert list(back) == ["chr2"]
    np.testing.assert_array_equal(back["chr2"].values, values)
    np.testing.assert_array_equal(back["chr2"].starts, starts)


def test_read_bedgraph_skips_track_lines_merges_equal_and_rejects_overlap(tmp_path) -> None:
    path = tmp_path / "a.bdg"
    path.write_text("track type=bedGraph\nc1\t0\t5\t1\nc1\t5\t9\t1\nc1\t12\t20\t2\n")
    runs = bed.read_bedgraph(path)["c1"]
    assert runs.starts.tolist() == [0, 12] and runs.ends.tolist() == [9, 20]
    path.write_text("c1\t0\t10\t1\nc1\t5\t20\t2\n")
    with pytest.raises(InputError, match="overlaps"):
        bed.read_bedgraph(path)
    path.write_text("c1\tzero\t10\t1\n")
    with pytest.raises(InputError):
        bed.read_bedgraph(path)
    with pytest.raises(InputError, match="not found"):
        bed.read_bedgraph(tmp_path / "missing.bdg")


def test_fill_gaps_and_runs_to_array() -> None:
    runs = bed.Runs(np.array([2, 5]), np.array([4, 7]), np.array([1.0, 0.0], np.float32))
    full = bed.fill_gaps(runs, 10)
    assert full.starts.tolist() == [0, 2, 4] and full.ends.tolist() == [2, 4, 10]
    assert full.values.tolist() == [0.0, 1.0, 0.0]
    arr = bed.runs_to_array(runs, 8, fill=-1.0)
    assert arr.tolist() == [-1, -1, 1, 1, -1, 0, 0, -1]


def test_read_chrom_sizes(tmp_path) -> None:
    (tmp_path / "g.sizes").write_text("chrB\t100\nchrA\t50\n")
    assert list(bed.read_chrom_sizes(tmp_path / "g.sizes").items()) == [("chrB", 100), ("chrA", 50)]
    (tmp_path / "bad.sizes").write_text("chrB\tx\n")
    with pytest.raises(InputError):
        bed.read_chrom_sizes(tmp_path / "bad.sizes")


def test_bigwig_writer_round_trip(tmp_path) -> None:
    from seq2exp_cli.io.bigwig import BigWigTrack

    runs = {"c1": bed.Runs(np.array([10]), np.array([20]), np.array([0.5], np.float32))}
    write_bigwig_runs(tmp_path / "x.bw", {"c1": 100, "c2": 50}, runs)
    with BigWigTrack(tmp_path / "x.bw") as track:
        values = track.read("c1", 0, 100)
    assert values[10:20].tolist() == [0.5] * 10 and values[:10].sum() == 0 and values[20:].sum() == 0


def test_fill_gaps_matches_a_per_base_reference() -> None:
    rng = np.random.default_rng(3)
    for trial in range(30):
        size = int(rng.integers(1, 400))
        edges = np.unique(rng.integers(0, size + 1, int(rng.integers(2, 40))))
        keep = rng.random(edges.size - 1) < 0.6
        runs = bed.Runs(edges[:-1][keep].astype(np.int64), edges[1:][keep].astype(np.int64),
                        rng.choice(np.array([0.0, 0.5, 1.0], np.float32), int(keep.sum())))
        fill = float(rng.choice([0.0, 0.5]))
        full = bed.fill_gaps(runs, size, fill=fill)
        # covers [0, size) with abutting, maximal runs holding the same per-base values
        assert full.starts[0] == 0 and full.ends[-1] == size
        assert (full.starts[1:] == full.ends[:-1]).all()
        assert (full.values[1:] != full.values[:-1]).all()
        np.testing.assert_array_equal(bed.runs_to_array(full, size), bed.runs_to_array(runs, size, fill=fill))


def test_write_table_text_equals_pandas_to_csv(tmp_path) -> None:
    rng = np.random.default_rng(9)
    n = 40
    table = pd.DataFrame({
        "chrom": [f"chr{k % 3}" for k in range(n)], "start": rng.integers(0, 10**9, n),
        "end": rng.integers(0, 10**9, n), "name": [f"e_{k}" for k in range(n)],
        "score": rng.integers(0, 1000, n), "strand": ".",
        "signalValue": rng.random(n).astype(np.float32),
        "pValue": np.where(rng.random(n) < 0.2, np.nan, rng.random(n) * 1e4),
        "qValue": np.array([np.inf, -np.inf, -0.0, 1e-12] * 10), "peak": rng.integers(0, 100, n),
    })
    for schema, frame in (("narrowPeak", table), ("links", table.assign(
            chr=table["chrom"], TargetGene="G", TargetGeneTSS=table["start"], distanceToTSS=table["peak"],
            Score=table["pValue"], CellType="K562", isSelfPromoter=table["peak"] > 50,
            TargetGeneIsExpressed=pd.array([True, False, None, True] * 10, dtype="boolean"),
            TargetGeneEnsembl_ID=[None, "ENSG00000000003"] * 20, **{"class": "distal"})),
            ("narrowPeak", table.assign(name=["a\tb"] + [f"e{k}" for k in range(1, n)]))):  # quoted -> pandas
        bed.write_table(tmp_path / "ours.txt", frame, schema)
        columns, header = bed.SCHEMAS[schema]
        frame.loc[:, list(columns)].to_csv(tmp_path / "pandas.txt", sep="\t", header=header, index=False,
                                           float_format="%.6g", lineterminator="\n")
        assert (tmp_path / "ours.txt").read_text() == (tmp_path / "pandas.txt").read_text()


def test_column_table_writes_what_its_dataframe_writes(tmp_path) -> None:
    rng = np.random.default_rng(4)
    n = 30
    table = ColumnTable({
        "chrom": np.array([f"chr{k % 2}" for k in range(n)], dtype=object), "start": rng.integers(0, 10**6, n),
        "end": rng.integers(0, 10**6, n), "name": np.array([f"e_{k}" for k in range(n)], dtype=object),
        "score": rng.integers(0, 1000, n), "strand": np.full(n, ".", dtype=object),
        "signalValue": rng.random(n).astype(np.float32), "pValue": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
        "qValue": np.array([-0.0, 1e-12, 3.0] * 10), "peak": rng.integers(0, 100, n), "extra": np.arange(n),
    })
    assert len(table) == n and "extra" in table and not table.empty and table.columns[0] == "chrom"
    bed.write_table(tmp_path / "cols.bed", table, "narrowPeak")
    bed.write_table(tmp_path / "frame.bed", table.to_frame(), "narrowPeak")
    assert (tmp_path / "cols.bed").read_bytes() == (tmp_path / "frame.bed").read_bytes()
    # a field that needs quoting goes through pandas, from a ColumnTable too
    quoted = table.assign(name=np.array(["a\tb"] + [f"e{k}" for k in range(1, n)], dtype=object))
    bed.write_table(tmp_path / "q.bed", quoted, "narrowPeak")
    assert (tmp_path / "q.bed").read_text().startswith('chr0\t') and '"a\tb"' in (tmp_path / "q.bed").read_text()
    picked = table.take(np.array([3, 1]))
    assert picked["start"].tolist() == [table["start"][3], table["start"][1]]
    both = ColumnTable.concat([picked, picked])
    assert len(both) == 4 and both["name"].tolist() == ["e_3", "e_1", "e_3", "e_1"]
    with pytest.raises(ValueError):
        ColumnTable({"a": np.zeros(2), "b": np.zeros(3)})


def test_write_bedgraph_text_equals_pandas_to_csv(tmp_path) -> None:
    rng = np.random.default_rng(2)
    ends = np.cumsum(rng.integers(1, 50, 500))
    starts = np.concatenate(([0], ends[:-1]))
    values = rng.random(500).astype(np.float32)
    values[::7], values[::11], values[5] = 0.0, -0.0, np.float32(1 / 3)
    runs = bed.Runs(starts, ends, values)
    bed.write_bedgraph(tmp_path / "ours.bdg", iter([("chr1", runs), ("chrUn_x", runs)]))
    frames = [pd.DataFrame({"chrom": c, "start": starts, "end": ends, "value": values}) for c in ("chr1", "chrUn_x")]
    pd.concat(frames).to_csv(tmp_path / "pandas.bdg", sep="\t", header=False, index=False,
                             float_format=bed.BEDGRAPH_FLOAT_FORMAT, lineterminator="\n")
    assert (tmp_path / "ours.bdg").read_bytes() == (tmp_path / "pandas.bdg").read_bytes()
