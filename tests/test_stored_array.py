"""Dataset arrays are read with positional reads, never kept mapped (resident memory stays flat)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.stored_array import StoredArray


def test_reads_match_the_file(tmp_path) -> None:
    values = np.arange(3 * 1000, dtype=np.float16).reshape(3, 1000)
    path = tmp_path / "tracks.f16"
    values.tofile(path)
    row = StoredArray(path, np.float16, 1000, base=1000)
    assert np.array_equal(row.read(10, 25), values[1, 10:35])
    out = np.zeros((2, 50), np.float16)
    row.read_into(out[1, 5:45], 900)
    assert np.array_equal(out[1, 5:45], values[1, 900:940]) and not out[0].any()
    with pytest.raises(IndexError):
        row.read(990, 20)


def test_a_truncated_file_is_a_clean_error(tmp_path) -> None:
    path = tmp_path / "seq.u8"
    np.zeros(100, np.uint8).tofile(path)
    with pytest.raises(InputError, match="truncated"):
        StoredArray(path, np.uint8, 200).read(50, 100)


def _child_read(array: StoredArray, queue) -> None:
    queue.put(array.read(3, 4).tolist())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_worker_reads_through_its_own_descriptor(tmp_path) -> None:
    path = tmp_path / "seq.u8"
    np.arange(20, dtype=np.uint8).tofile(path)
    array = StoredArray(path, np.uint8, 20)
    array.read(0, 2)  # the parent's descriptor is open before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_read, args=(array, queue))
    proc.start()
    assert queue.get(timeout=30) == [3, 4, 5, 6]
    proc.join(timeout=30)
    assert array.read(10, 2).tolist() == [10, 11]


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs /proc")
def test_reading_every_gene_maps_no_dataset_array(tiny_dataset) -> None:
    from seq2exp_cli.dataset import PreparedDataset

    data = PreparedDataset(tiny_dataset)
    for i in range(len(data)):
        data.load_gene(i)
    data.region_track(0, "seq")
    arrays = str((Path(tiny_dataset) / "arrays").resolve())
    mapped = [line for line in Path("/proc/self/maps").read_text().splitlines() if arrays in line]
    # a mapping would keep every page it served resident: RSS would grow with the genome
    assert not [m for m in mapped if "seq.u8" in m or "tracks." in m], mapped


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_dataloader_workers_read_the_same_windows(tiny_dataset) -> None:
    import torch

    from seq2exp_cli.dataset import GeneWindows, PreparedDataset, collate_windows

    data = PreparedDataset(tiny_dataset)
    indices = np.arange(min(len(data), 12))
    data.load_gene(0)  # descriptors opened in the parent before the workers fork
    loader = torch.utils.data.DataLoader(GeneWindows(data, indices), batch_size=4, collate_fn=collate_windows,
                                         num_workers=2, multiprocessing_context="fork")
    seqs = torch.cat([batch["seq"] for batch in loader]).numpy()
    assert np.array_equal(seqs, np.stack([data.load_gene(int(i))["seq"] for i in indices]))
