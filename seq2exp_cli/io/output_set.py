"""A set of output files that appears whole or not at all, with its run record written last.

Every file is first written into an owner-named staging directory beside its target
(``.{record}.seq2exp-{host}-{pid}-{start}-{random}.set``, see :mod:`seq2exp_cli.io.atomic`).
Committing writes a journal (targets and checksums), renames the files onto their targets,
then writes the run record (``status``, and size + SHA-256 of every file) and removes the
staging directories. A reader can trust a set whose run record says ``complete`` and whose
checksums match.

A run killed while staging leaves only its staging directories; one killed while renaming
leaves a journal. The next run for the same record removes the staging directories of runs
that are gone and rolls an interrupted commit back (files it had renamed are removed when
their checksum matches, files it had replaced are restored), so it starts from the state
before the killed run and needs no ``--force``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from seq2exp_cli.errors import DiskFullError, InputError
from seq2exp_cli.io.atomic import (
    _owner_alive,
    _parse_owner,
    atomic_path,
    check_output_free,
    check_parent_writable,
    is_space_error,
    temporary_name,
)

log = logging.getLogger(__name__)

JOURNAL = "journal.json"
_BACKUP_PREFIX = "replaced."


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _stale_staging(directory: Path, record_name: str) -> list[Path]:
    """Staging directories for ``record_name`` in ``directory`` whose writer is gone."""
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        owner = _parse_owner(entry.name, record_name)
        if owner is not None and entry.name.endswith(".set") and not _owner_alive(*owner):
            found.append(entry)
    return found


def _roll_back(journal: dict[str, Any]) -> None:
    """Undo an interrupted commit described by ``journal`` (unless its run record made it)."""
    record = Path(journal["record"])
    if record.is_file():
        try:
            done = json.loads(record.read_text()).get("set_id") == journal["set_id"]
        except (OSError, ValueError, AttributeError):
            done = False
        if done:
            return  # the commit finished; only the staging directories are left to remove
    for entry in journal["files"]:
        target, backup = Path(entry["target"]), Path(entry["backup"])
        if target.is_file() and file_digest(target)["sha256"] == entry["sha256"]:
            target.unlink()
        if backup.is_file() and not target.exists():
            os.replace(backup, target)
    log.warning("rolled back the outputs of an interrupted run (%s)", record)


def recover(paths: dict[str, Path], record: Path) -> None:
    """Roll back interrupted commits and remove stale staging directories for this set's record."""
    directories = dict.fromkeys(_parent(Path(p)).resolve() for p in [*paths.values(), record])
    stale = [s for d in directories for s in _stale_staging(d, Path(record).name)]
    for staging in stale:
        journal = staging / JOURNAL
        if journal.is_file():
            try:
                _roll_back(json.loads(journal.read_text()))
            except (OSError, ValueError, KeyError) as exc:
                raise InputError(f"{journal}: cannot roll back an interrupted run ({exc}); remove the outputs "
                                 f"it lists and {staging} by hand") from None
    for staging in stale:
        shutil.rmtree(staging, ignore_errors=True)
    if stale:
        log.info("removed %d staging director(ies) of killed runs for %s", len(stale), record)


class OutputSet:
    """Stage, then commit, a set of outputs (``{kind: final path}``) and their run record.

    Use as a context manager; write each output to ``staged[kind]``, then call
    :meth:`commit` with the run record. Leaving the block without committing (an error)
    removes everything staged; the targets are untouched.
    """

    def __init__(self, paths: dict[str, Path], record: Path, force: bool) -> None:
        self.targets = {kind: Path(p) for kind, p in paths.items()}
        self.record = Path(record)
        self.force = force
        self.staged: dict[str, Path] = {}
        self._staging: dict[Path, Path] = {}
        for path in [*self.targets.values(), self.record]:
            check_parent_writable(path)
        recover(self.targets, self.record)
        for path in [*self.targets.values(), self.record]:
            check_output_free(path, force)

    def __enter__(self) -> OutputSet:
        for kind, target in self.targets.items():
            parent = _parent(target).resolve()
            if parent not in self._staging:
                staging = parent / temporary_name(self.record.name, "set")
                staging.mkdir(0o777)
                self._staging[parent] = staging
            self.staged[kind] = self._staging[parent] / target.name
        parent = _parent(self.record).resolve()
        if parent not in self._staging:
            staging = parent / temporary_name(self.record.name, "set")
            staging.mkdir(0o777)
            self._staging[parent] = staging
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        if exc is not None and (isinstance(exc, DiskFullError) or is_space_error(exc)):
            # name the output the user asked for, not its hidden staging copy
            message = str(exc) if isinstance(exc, DiskFullError) else str(DiskFullError.from_oserror(exc))
            for kind, staged in self.staged.items():
                message = message.replace(str(staged), str(self.targets[kind]))
            raise DiskFullError(message) from exc

    def commit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Rename every staged file onto its target, then write ``record`` (+ status and checksums)."""
        missing = [kind for kind, path in self.staged.items() if not path.is_file()]
        if missing:
            raise RuntimeError(f"output set: {', '.join(missing)} not written")
        files = {kind: {"path": str(self.targets[kind]), **file_digest(path)} for kind, path in self.staged.items()}
        set_id = self._staging[_parent(self.record).resolve()].name
        journal = {"record": str(self.record.resolve()), "set_id": set_id, "files": [
            {"target": str(self.targets[kind].resolve()), "sha256": files[kind]["sha256"],
             "backup": str(self.staged[kind].with_name(_BACKUP_PREFIX + self.staged[kind].name))}
            for kind in self.staged]}
        journal_path = self._staging[_parent(self.record).resolve()] / JOURNAL
        try:
            with atomic_path(journal_path) as tmp:
                tmp.write_text(json.dumps(journal, indent=1) + "\n")
            for kind, entry in zip(self.staged, journal["files"]):
                if self.targets[kind].exists():
                    os.replace(self.targets[kind], entry["backup"])  # kept until the record is written
                os.replace(self.staged[kind], self.targets[kind])
            full = {**record, "status": "complete", "set_id": set_id, "files": files}
            with atomic_path(self.record) as tmp:
                tmp.write_text(json.dumps(full, indent=2) + "\n")
        except BaseException as exc:
            _roll_back(journal)
            if isinstance(exc, OSError) and is_space_error(exc):
                raise DiskFullError.from_oserror(exc, self.record) from exc
            raise
        return full
