"""Atomic outputs: complete or absent, never partial, with ordinary permissions."""

import os
import stat

import pytest

from seq2exp_cli.errors import InputError, OutputExistsError
from seq2exp_cli.io.atomic import atomic_directory, atomic_path, check_output_free


def test_atomic_path_renames_on_success_and_cleans_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_outputs_get_umask_permissions_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "f") as tmp:
            tmp.write_text("x")
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "inner").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_atomic_directory_force_and_refusal(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    with pytest.raises(OutputExistsError, match="--force"):
        with atomic_directory(target):
            pass
    with atomic_directory(target, force=True) as tmp:
        (tmp / "new").write_text("1")
    assert [p.name for p in target.iterdir()] == ["new"]
    check_output_free(tmp_path / "absent", force=False)


def test_missing_parent_is_a_user_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        with atomic_path(tmp_path / "no" / "file"):
            pass
