"""Motif databases in MEME's minimal text format (what JASPAR, HOCOMOCO and the MEME suite export).

Only what seq2exp needs: each motif's identifier, optional name, and letter-probability matrix
over A, C, G, T, plus the file's background letter frequencies (uniform when absent).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2exp_cli.errors import InputError

ALPHABET = "ACGT"
_MATRIX = re.compile(r"letter-probability matrix:(.*)", re.IGNORECASE)
_WIDTH = re.compile(r"\bw=\s*(\d+)")


@dataclass(frozen=True)
class Motif:
    """One position probability matrix: ``probs`` float [w, 4] (A, C, G, T; rows sum to 1)."""

    name: str
    probs: np.ndarray

    @property
    def width(self) -> int:
        return int(self.probs.shape[0])

    def reverse_complement(self) -> Motif:
        """The motif on the other strand (rows reversed, A<->T and C<->G swapped)."""
        return Motif(f"{self.name}(-)", self.probs[::-1, ::-1].copy())


def read_meme(path: str | Path) -> tuple[list[Motif], np.ndarray]:
    """Motifs and background frequencies [4] from a MEME minimal-format file.

    Raises InputError naming the file and line for a malformed matrix, a non-DNA alphabet or
    a file with no motif."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the motif file ({exc}); give a MEME-format text file") from exc
    background = np.full(4, 0.25)
    motifs: list[Motif] = []
    name: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        where = f"{path}:{i + 1}"
        if line.startswith("ALPHABET") and "ACGT" not in line.replace(" ", "").upper():
            raise InputError(f"{where}: alphabet {line!r} is not DNA (ACGT); give a DNA motif file")
        if line.lower().startswith("background letter frequencies") and i + 1 < len(lines):
            background = _parse_background(lines[i + 1], f"{path}:{i + 2}")
        elif line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise InputError(f"{where}: MOTIF line without an identifier")
            name = parts[1] if len(parts) == 2 else f"{parts[1]} {parts[2]}"
        elif (match := _MATRIX.match(line)) is not None:
            if name is None:
                raise InputError(f"{where}: letter-probability matrix before any MOTIF line")
            width_match = _WIDTH.search(match.group(1))
            rows: list[list[float]] = []
            j = i + 1
            while j < len(lines) and (width_match is None or len(rows) < int(width_match.group(1))):
                fields = lines[j].split()
                if not fields:
                    if width_match is None and rows:
                        break
                    j += 1
                    continue
                try:
                    values = [float(x) for x in fields]
                except ValueError:
                    if width_match is None and rows:
                        break
                    raise InputError(f"{path}:{j + 1}: matrix row {lines[j].strip()!r} of motif {name!r} "
                                     "is not 4 numbers") from None
                if len(values) != 4 or not all(math.isfinite(v) and v >= 0 for v in values):
                    raise InputError(f"{path}:{j + 1}: matrix row {lines[j].strip()!r} of motif {name!r} "
                                     "needs 4 non-negative probabilities (A C G T)")
                rows.append(values)
                j += 1
            if not rows or (width_match is not None and len(rows) != int(width_match.group(1))):
                raise InputError(f"{where}: motif {name!r} has {len(rows)} matrix rows, not the w= it declares")
            probs = np.asarray(rows, dtype=np.float64)
            totals = probs.sum(1, keepdims=True)
            if np.any(totals <= 0):
                raise InputError(f"{where}: motif {name!r} has a row of zeros")
            motifs.append(Motif(name, probs / totals))
            name = None
            i = j
            continue
        i += 1
    if not motifs:
        raise InputError(f"{path}: no 'letter-probability matrix' found; give a MEME-format motif file "
                         "(JASPAR: download the collection in MEME format)")
    return motifs, background


def _parse_background(line: str, where: str) -> np.ndarray:
    fields = line.split()
    values = dict(zip(fields[0::2], fields[1::2]))
    try:
        freqs = np.array([float(values[b]) for b in ALPHABET])
    except (KeyError, ValueError):
        raise InputError(f"{where}: background line {line.strip()!r} is not 'A p C p G p T p'") from None
    if np.any(freqs <= 0):
        raise InputError(f"{where}: background frequencies must be positive")
    return freqs / freqs.sum()


def write_meme(path: str | Path, motifs: list[Motif], background: np.ndarray | None = None) -> None:
    """Write motifs in MEME minimal format (atomically)."""
    from seq2exp_cli.io.atomic import atomic_path

    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
           "Background letter frequencies", " ".join(f"{b} {p:.3f}" for b, p in zip(ALPHABET, bg)), ""]
    for motif in motifs:
        out.append(f"MOTIF {motif.name}")
        out.append(f"letter-probability matrix: alength= 4 w= {motif.width} nsites= 20 E= 0")
        out.extend(" ".join(f"{p:.6f}" for p in row) for row in motif.probs)
        out.append("")
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_text("\n".join(out))


#: the JASPAR collection and taxon read by a bare ``--motifs jaspar``
JASPAR_DEFAULT_COLLECTION = "CORE"
JASPAR_DEFAULT_TAXON = "vertebrates"


def jaspar_databases() -> dict[str, Path]:
    """``{release: path}`` of the JASPAR SQLite files bundled with the ``pyjaspar`` package
    (found without importing it; empty when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("pyjaspar")
    if spec is None or not spec.submodule_search_locations:
        return {}
    found: dict[str, Path] = {}
    for location in spec.submodule_search_locations:
        for path in sorted(Path(location, "data").glob("JASPAR*.sqlite")):
            found[path.stem.replace("JASPAR", "")] = path
    return found


def parse_jaspar_spec(spec: str, releases: list[str]) -> tuple[str, str, str]:
    """``jaspar[:RELEASE][:COLLECTION][:TAXON]`` (any order after ``jaspar``) -> (release,
    collection, taxon); defaults: the newest bundled release, CORE, vertebrates."""
    release, collection, taxon = (max(releases) if releases else ""), JASPAR_DEFAULT_COLLECTION, JASPAR_DEFAULT_TAXON
    for part in spec.split(":")[1:]:
        part = part.strip()
        if part.isdigit():
            release = part
        elif part.isupper():
            collection = part
        elif part:
            taxon = part.lower()
    return release, collection, taxon


def read_jaspar(spec: str = "jaspar") -> tuple[list[Motif], np.ndarray, str]:
    """Motifs of a JASPAR release/collection/taxon from pyjaspar's bundled SQLite, offline.

    The latest version of each matrix is kept; counts become probabilities; the background is
    uniform (as in JASPAR's own MEME exports). Returns (motifs, background, description)."""
    import sqlite3

    databases = jaspar_databases()
    if not databases:
        raise InputError(f"--motifs {spec}: the JASPAR databases come with the pyjaspar package, which is not "
                         "installed; run `pip install pyjaspar` (or give a MEME file)")
    release, collection, taxon = parse_jaspar_spec(spec, list(databases))
    if release not in databases:
        raise InputError(f"--motifs {spec}: JASPAR release {release} is not bundled; use one of "
                         f"{', '.join(sorted(databases))}")
    db = sqlite3.connect(f"file:{databases[release]}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT m.ID, m.BASE_ID, m.VERSION, m.NAME FROM MATRIX m JOIN MATRIX_ANNOTATION a ON a.ID = m.ID "
            "WHERE m.COLLECTION = ? AND a.TAG = 'tax_group' AND lower(a.VAL) = ? ORDER BY m.BASE_ID, m.VERSION",
            (collection, taxon)).fetchall()
        latest = {base: (mid, version, name) for mid, base, version, name in rows}  # last version wins
        motifs = []
        for base, (mid, version, name) in sorted(latest.items()):
            cells = db.execute("SELECT row, col, val FROM MATRIX_DATA WHERE ID = ?", (mid,)).fetchall()
            width = max(col for _, col, _ in cells)
            counts = np.zeros((width, 4))
            for letter, col, value in cells:
                counts[int(col) - 1, ALPHABET.index(letter.upper())] = float(value)
            totals = counts.sum(1, keepdims=True)
            if np.all(totals > 0):
                motifs.append(Motif(f"{base}.{version} {name}", counts / totals))
    finally:
        db.close()
    if not motifs:
        raise InputError(f"--motifs {spec}: JASPAR {release} has no {collection} motifs for taxon {taxon!r}; "
                         "check the collection (CORE, UNVALIDATED, ...) and taxon (vertebrates, plants, insects, ...)")
    return motifs, np.full(4, 0.25), f"JASPAR{release} {collection} {taxon}"


def load_motifs(spec: str) -> tuple[list[Motif], np.ndarray, str]:
    """``--motifs``: ``jaspar...`` (see :func:`read_jaspar`) or the path of a MEME file.
    Returns (motifs, background, a description of the source)."""
    if spec == "jaspar" or spec.startswith("jaspar:"):
        return read_jaspar(spec)
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"--motifs {spec}: no such motif file; give a MEME file or `jaspar` "
                         "(the JASPAR databases bundled with pyjaspar)")
    motifs, background = read_meme(path)
    return motifs, background, str(path)
