"""All-or-nothing outputs: full disks, killed runs (simulated by their leftovers), concurrent
writers, and byte-identical outputs from one seed."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_MODEL_ARGS, invoke, prepare_args

from seq2exp_cli.io import atomic
from seq2exp_cli.io.output_set import OutputSet, file_digest, temporary_name


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _stale_name(target: str, kind: str) -> str:
    """A temporary name of a killed writer on this host."""
    return f".{target}.seq2exp-{atomic._host()}-{_dead_pid()}-123-abcd.{kind}"


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# --------------------------------------------------------------------------- full disks


def test_prepare_on_a_full_disk_is_one_line_naming_the_bytes(tiny_inputs, tmp_path, monkeypatch):
    # a memmap over a sparse file dies with SIGBUS when the disk fills; space is allocated first
    monkeypatch.setattr(os, "posix_fallocate", _no_space)
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(prepare_args(tiny_inputs, out / "ds"))
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "seq.u8" in line and "needs" in line and "bytes" in line and "no space left" in line
    assert list(out.iterdir()) == []


def test_prepare_checks_free_space_before_writing(tiny_inputs, tmp_path, monkeypatch):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(prepare_args(tiny_inputs, out / "ds"))
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert str(out / "ds") in line and "needs" in line and "1,000 bytes free" in line
    assert list(out.iterdir()) == []


def test_call_elements_on_a_full_disk_leaves_nothing(score_bedgraph, tmp_path, monkeypatch):
    from seq2exp_cli.io import bed

    real = bed.write_table
    calls = []

    def fill_up(path, table, schema, *args, **kwargs):
        calls.append(schema)
        if schema == "summits":  # the narrowPeak is complete, the disk fills on the second file
            with atomic.atomic_path(path) as tmp:
                tmp.write_text("chrA\t1")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, table, schema, *args, **kwargs)

    monkeypatch.setattr(bed, "write_table", fill_up)
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(["-q", "call-elements", "--from-bedgraph", score_bedgraph, "-o", out / "el.bed"])
    assert result.exit_code == 1 and calls[:2] == ["narrowPeak", "summits"]
    line = _one_error_line(result)
    assert str(out / "el.summits.bed") in line and "bytes" in line and ".seq2exp-" not in line
    assert list(out.iterdir()) == []


def test_predict_on_a_full_disk_leaves_nothing(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_csv", _no_space)
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(["predict", tiny_model, tiny_dataset, "-o", out / "p.tsv", "--device", "cpu"])
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "no space left" in line and "p.tsv" in line
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- killed runs


def test_prepare_removes_partial_directories_of_killed_runs(tiny_inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / _stale_name("ds", "partial")
    (stale / "arrays").mkdir(parents=True)
    (stale / "arrays" / "seq.u8").write_bytes(b"\0" * 1000)
    live = out / f".ds.seq2exp-{atomic.owner_tag()}-beef.partial"  # a running writer's (this process)
    live.mkdir()
    result = invoke(prepare_args(tiny_inputs, out / "ds"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["ds", live.name])


def test_call_elements_rerun_after_a_kill_while_staging(score_bedgraph, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    staging = out / _stale_name("el.run.json", "set")
    staging.mkdir()
    (staging / "el.bed").write_text("chrA\t0\t10\n")
    (staging / ".el.bw.seq2exp-x.tmp").write_bytes(b"\0")
    result = invoke(["call-elements", "--from-bedgraph", score_bedgraph, "-o", out / "el.bed"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["el.bed", "el.run.json", "el.summits.bed"]


def test_call_elements_rerun_after_a_kill_while_renaming(score_bedgraph, tmp_path):
    """Killed between two renames: the next run rolls the half-renamed set back, then writes its own."""
    out = tmp_path / "out"
    out.mkdir()
    args = ["call-elements", "--from-bedgraph", score_bedgraph, "-o", out / "el.bed", "--cutoff", "0.7"]
    assert invoke(args).exit_code == 0
    expected = {p.name: p.read_bytes() for p in out.iterdir()}
    # what a run killed after renaming el.bed (but not the summits, nor run.json) leaves
    staging = out / _stale_name("el.run.json", "set")
    staging.mkdir()
    (out / "el.summits.bed").rename(staging / "el.summits.bed")
    (out / "el.run.json").unlink()
    journal = {"record": str((out / "el.run.json").resolve()), "set_id": staging.name, "files": [
        {"target": str((out / name).resolve()), "sha256": file_digest(
            out / name if name == "el.bed" else staging / name)["sha256"], "backup": str(staging / f"replaced.{name}")}
        for name in ("el.bed", "el.summits.bed")]}
    (staging / "journal.json").write_text(json.dumps(journal))
    result = invoke(args)  # no --force needed
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "el.run.json"} == {
        k: v for k, v in expected.items() if k != "el.run.json"}
    record = json.loads((out / "el.run.json").read_text())
    assert record["status"] == "complete"
    for entry in record["files"].values():
        assert file_digest(entry["path"]) == {"bytes": entry["bytes"], "sha256": entry["sha256"]}


def test_a_failed_force_commit_restores_the_old_set(tmp_path, monkeypatch):
    paths = {"a": tmp_path / "a.txt", "b": tmp_path / "b.txt"}
    for p in paths.values():
        p.write_text("old " + p.name)
    real_replace = os.replace
    count = {"n": 0}

    def flaky(src, dst):
        count["n"] += 1
        if count["n"] == 4:  # backup a, move a, backup b, then fail moving b
            raise OSError(errno.EIO, "I/O error")
        return real_replace(src, dst)

    with OutputSet(paths, tmp_path / "run.json", force=True) as outputs:
        for kind, p in outputs.staged.items():
            p.write_text("new " + kind)
        monkeypatch.setattr(os, "replace", flaky)
        with pytest.raises(OSError):
            outputs.commit({})
    monkeypatch.setattr(os, "replace", real_replace)
    assert {p.read_text() for p in paths.values()} == {"old a.txt", "old b.txt"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_run_record_lists_every_file_with_its_checksum(score_bedgraph, tmp_path):
    result = invoke(["call-elements", "--from-bedgraph", score_bedgraph, "-o", tmp_path / "el.bed",
                     "--bigwig", tmp_path / "el.bw", "--cutoff-analysis"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "el.run.json").read_text())
    assert record["status"] == "complete"
    assert set(record["files"]) == {"narrowPeak", "summits", "bigwig", "cutoff_analysis"}
    assert record["outputs"]["narrowPeak"] == str(tmp_path / "el.bed")
    for entry in record["files"].values():
        assert file_digest(entry["path"])["sha256"] == entry["sha256"]


# --------------------------------------------------------------------------- concurrent writers


def test_temporaries_never_touch_the_umask(tmp_path, monkeypatch):
    def no_umask(mask):
        raise AssertionError("os.umask changes the mask of every thread")

    monkeypatch.setattr(os, "umask", no_umask)
    with atomic.atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("x")
    with atomic.atomic_directory(tmp_path / "d") as tmp:
        (tmp / "x").write_text("x")
    monkeypatch.undo()
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~mask


def test_force_swaps_through_names_of_their_own(tmp_path, monkeypatch):
    target = tmp_path / "ds"
    target.mkdir()
    (tmp_path / ".ds.old").mkdir()  # another run's (or a fixed name's) leftover is left alone
    moved = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (moved.append(Path(b).name), real_replace(a, b))[1])
    with atomic.atomic_directory(target, force=True) as tmp:
        (tmp / "new").write_text("1")
    old_names = [n for n in moved if n.endswith(".old")]
    assert len(old_names) == 1 and atomic.owner_tag() in old_names[0]
    assert temporary_name("ds", "old") != temporary_name("ds", "old")
    assert (tmp_path / ".ds.old").is_dir() and (target / "new").is_file()


# --------------------------------------------------------------------------- determinism


def test_one_seed_gives_byte_identical_model_predictions_and_peaks(tiny_dataset, tiny_model, tmp_path):
    run = tmp_path / "run"
    assert invoke(["-q", "train", tiny_dataset, "-o", run, *TINY_MODEL_ARGS]).exit_code == 0
    assert (run / "model.pt").read_bytes() == (tiny_model / "model.pt").read_bytes()
    outputs = []
    for k, model in enumerate((tiny_model, run)):
        pred, peaks = tmp_path / f"p{k}.tsv", tmp_path / f"e{k}.bed"
        assert invoke(["-q", "predict", model, tiny_dataset, "-o", pred, "--device", "cpu"]).exit_code == 0
        result = invoke(["-q", "call-elements", model, tiny_dataset, "-o", peaks, "--device", "cpu"])
        assert result.exit_code == 0, result.output
        outputs.append((pred.read_bytes(), peaks.read_bytes().replace(b"e1_", b"e0_")))
    assert outputs[0] == outputs[1]


def test_resume_reproduces_metrics_tsv(tmp_path):
    from test_training import _fit, _fit_cut_and_resume

    _fit(tmp_path, "full", max_steps=8, eval_every=4)
    _fit_cut_and_resume(tmp_path, "cut", 3, max_steps=8, eval_every=4)
    full = pd.read_csv(tmp_path / "full" / "metrics.tsv", sep="\t").drop(columns="elapsed_s")
    cut = pd.read_csv(tmp_path / "cut" / "metrics.tsv", sep="\t").drop(columns="elapsed_s")
    assert len(full) == 2
    pd.testing.assert_frame_equal(full, cut, check_exact=True)
