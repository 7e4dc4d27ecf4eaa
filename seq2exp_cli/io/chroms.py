"""Chromosome names: one alias step, done once, up front, for every input.

The FASTA is the reference: its names and its order are the dataset's. Every other input
(tracks, Hi-C, genes, blacklist) gets a map ``its name -> FASTA name`` built here. Names
match when equal, or when they agree after dropping a ``chr`` prefix and case, with the
mitochondrial aliases ``M``/``MT`` treated as one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from seq2exp_cli.errors import ChromosomeNameError

log = logging.getLogger(__name__)

_MITO = {"m", "mt"}


def canonical_chrom_key(name: str) -> str:
    """Return the key under which aliases of one chromosome meet.

    ``chr1``, ``Chr1`` and ``1`` all give ``1``; ``chrM``, ``MT`` and ``M`` give ``m``.
    """
    key = name.strip().lower()
    if key.startswith("chr"):
        key = key[3:]
    if key in _MITO:
        key = "m"
    return key


def build_alias_map(
    reference: Iterable[str],
    names: Iterable[str],
    source: str,
    *,
    required: Iterable[str] = (),
) -> dict[str, str]:
    """Map each name of ``source`` onto a reference (FASTA) name.

    Args:
        reference: the FASTA's chromosome names.
        names: the names this input uses.
        source: the input's file path, for messages.
        required: reference names this input must cover (e.g. the chromosomes that carry
            genes); a missing one raises.

    Returns:
        ``{name_in_source: reference_name}`` for every source name that matches; names with
        no counterpart are left out (a bigWig may cover contigs the FASTA lacks).

    Raises:
        ChromosomeNameError: when nothing matches at all, or a required chromosome is absent.
    """
    reference = list(reference)
    names = list(names)
    by_key: dict[str, str] = {}
    for ref in reference:
        by_key.setdefault(canonical_chrom_key(ref), ref)
    ref_set = set(reference)
    mapping: dict[str, str] = {}
    for name in names:
        if name in ref_set:
            mapping[name] = name
            continue
        target = by_key.get(canonical_chrom_key(name))
        if target is not None and target not in mapping.values():
            mapping[name] = target
    renamed = {k: v for k, v in mapping.items() if k != v}
    if renamed:
        shown = ", ".join(f"{k}->{v}" for k, v in list(renamed.items())[:5])
        more = "" if len(renamed) <= 5 else f" (+{len(renamed) - 5} more)"
        log.info("%s: chromosome aliases applied: %s%s", source, shown, more)
    if names and not mapping:
        raise ChromosomeNameError(
            f"{source}: no chromosome name matches the FASTA "
            f"(file has {_preview(names)}; FASTA has {_preview(reference)}); "
            "use the same assembly, or rename the chromosomes of one file"
        )
    covered = set(mapping.values())
    missing = [c for c in required if c not in covered]
    if missing:
        raise ChromosomeNameError(
            f"{source}: chromosome {missing[0]!r} of the FASTA is missing from this file "
            f"(file has {_preview(names)}); give a file that covers {_preview(missing)}"
        )
    return mapping


def rename_required(mapping: Mapping[str, str], name: str, source: str, reference: Iterable[str]) -> str:
    """Return the FASTA name for ``name`` from ``source``, or raise naming both sides."""
    if name in mapping:
        return mapping[name]
    reference = list(reference)
    raise ChromosomeNameError(
        f"{source}: chromosome {name!r} is not in the FASTA (FASTA has {_preview(reference)}); "
        "drop these records or give the FASTA that contains it"
    )


def _preview(names: Iterable[str], limit: int = 4) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
