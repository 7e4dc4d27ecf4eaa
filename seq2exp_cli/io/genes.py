"""Genes (GTF/GFF3, BED6+, TSV) -> one TSS per gene; expression tables -> targets."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from seq2exp_cli.errors import InputError
from seq2exp_cli.io.intervals import SKIP_PREFIXES, open_text

log = logging.getLogger(__name__)

GENE_COLUMNS = ("gene_id", "name", "chrom", "tss", "strand", "gene_type", "length")
TSV_ALIASES = {
    "gene_id": ("gene_id", "id", "ensembl_id", "gene"),
    "chrom": ("chrom", "chr", "chromosome"),
    "tss": ("tss",),
    "strand": ("strand",),
    "name": ("name", "symbol", "gene_name"),
    "gene_type": ("gene_type", "gene_biotype", "biotype"),
}
_NA_STRINGS = {"", "na", "nan", "n/a", "none", "null", "."}
_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*G\d+)\.\d+(_PAR_Y)?$")


def _strip_ext(name: str) -> str:
    name = name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _sniff(path: Path) -> str:
    name = _strip_ext(path.name)
    for ext, fmt in ((".gtf", "gtf"), (".gff3", "gff"), (".gff", "gff"), (".bed", "bed")):
        if name.endswith(ext):
            return fmt
    with open_text(path) as handle:
        for line in handle:
            if not line.strip() or line.startswith(("##", "track", "browser")):
                continue
            fields = line.rstrip("\n").split("\t")
            lowered = {f.strip().lstrip("#").lower() for f in fields}
            if lowered & set(TSV_ALIASES["gene_id"]) and lowered & set(TSV_ALIASES["tss"]):
                return "tsv"
            if line.startswith("#"):
                continue
            if len(fields) >= 9 and fields[3].isdigit() and fields[4].isdigit():
                return "gff" if "=" in fields[8] and '"' not in fields[8] else "gtf"
            if len(fields) >= 6 and fields[1].isdigit() and fields[2].isdigit():
                return "bed"
            break
    raise InputError(
        f"{path}: unknown gene annotation format; give GTF/GFF3, BED6 (chrom start end name score "
        "strand) or a TSV with gene_id, chrom, tss, strand columns (or pass the format explicitly)"
    )


def _tss(starts: np.ndarray, ends: np.ndarray, strands: np.ndarray) -> np.ndarray:
    """0-based first transcribed base: start for '+', end - 1 for '-' (half-open ends)."""
    return np.where(strands == "-", ends - 1, starts).astype(np.int64)


def _attribute(attrs: pd.Series, key: str) -> pd.Series:
    # GTF: key "value";  GFF3: key=value;
    pattern = rf'(?:^|;)\s*{re.escape(key)}(?:\s+"([^"]*)"|=([^;]*))'
    found = attrs.str.extract(pattern)
    return found[0].fillna(found[1])


def _read_gtf(path: Path, feature: str, id_attr: str, name_attr: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(
            path, sep="\t", comment="#", header=None, dtype=str, usecols=range(9), quoting=3
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: cannot parse as GTF/GFF (9 tab-separated columns) ({exc}); check the format") from exc
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: annotation file is empty; give a non-empty file") from None
    short = table[list(range(8))].isna().any(axis=1).to_numpy()
    if short.any():
        k = int(short.argmax())
        raise InputError(f"{path}: data row {k + 1} has fewer than 9 tab-separated columns (a file cut off "
                         f"or not GTF: {'|'.join(table.iloc[k].dropna().astype(str))[:60]!r}); fix or re-download it")
    rows = table[table[2] == feature]
    if rows.empty:
        features = ", ".join(sorted(table[2].dropna().unique())[:8])
        raise InputError(f"{path}: no {feature!r} lines (features present: {features}); pass another GTF feature")
    attrs = rows[8].fillna("")
    gene_id = _attribute(attrs, id_attr)
    if gene_id.isna().any():
        first = int(gene_id.isna().to_numpy().argmax())
        raise InputError(
            f"{path}: a {feature} line has no {id_attr!r} attribute ({attrs.iloc[first][:80]!r}); "
            "pass the attribute that holds the gene id"
        )
    name = _attribute(attrs, name_attr).fillna(gene_id)
    gtype = _attribute(attrs, "gene_type").fillna(_attribute(attrs, "gene_biotype")).fillna("")
    try:
        start = rows[3].astype(np.int64).to_numpy() - 1  # GTF/GFF: 1-based inclusive
        end = rows[4].astype(np.int64).to_numpy()
    except ValueError as exc:
        raise InputError(f"{path}: non-integer start/end in a {feature} line ({exc}); fix the file") from exc
    out = pd.DataFrame(
        {
            "gene_id": gene_id.to_numpy(),
            "name": name.to_numpy(),
            "chrom": rows[0].to_numpy(),
            "start": start,
            "end": end,
            "strand": rows[6].to_numpy(),
            "gene_type": gtype.to_numpy(),
            "_row": np.arange(len(rows)) + 1,
        }
    )
    if feature == "transcript":
        # one TSS per gene: its longest transcript (the first in file order on ties)
        out["_len"] = out["end"] - out["start"]
        order = out.sort_values(["_len", "_row"], ascending=[False, True], kind="stable")
        out = order.drop_duplicates("gene_id", keep="first").sort_values("_row").drop(columns="_len")
    return out


def _read_bed(path: Path) -> pd.DataFrame:
    header: list[str] | None = None
    records: list[list[str]] = []
    with open_text(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            if line.startswith(SKIP_PREFIXES):
                if line.startswith("#") and header is None and not records:
                    header = [h.strip().lower() for h in line[1:].rstrip("\n").split("\t")]
                continue
            records.append(line.rstrip("\n").split("\t"))
    short = [k for k, r in enumerate(records) if len(r) < 6]
    if short:
        raise InputError(
            f"{path}: data row {short[0] + 1} has {len(records[short[0]])} columns; genes BED needs "
            "6 (chrom start end name score strand)"
        )
    if not records:
        raise InputError(f"{path}: no genes in the BED file; give a non-empty file")
    try:
        start = np.array([int(r[1]) for r in records], dtype=np.int64)
        end = np.array([int(r[2]) for r in records], dtype=np.int64)
    except ValueError as exc:
        raise InputError(f"{path}: non-integer start/end ({exc}); fix the BED") from exc
    gtype = [""] * len(records)
    if header and "gene_type" in header:
        col = header.index("gene_type")
        gtype = [r[col] if col < len(r) else "" for r in records]
    names = [r[3] for r in records]
    return pd.DataFrame(
        {
            "gene_id": names,
            "name": names,
            "chrom": [r[0] for r in records],
            "start": start,
            "end": end,
            "strand": [r[5] for r in records],
            "gene_type": gtype,
            "_row": np.arange(len(records)) + 1,
        }
    )


def _pick(columns: Iterable[str], aliases: tuple[str, ...]) -> str | None:
    lowered = {c.lower().lstrip("#"): c for c in columns}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


def _read_tsv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot parse the gene TSV ({exc}); check the format") from exc
    cols: dict[str, str] = {}
    for key in ("gene_id", "chrom", "tss", "strand"):
        found = _pick(table.columns, TSV_ALIASES[key])
        if found is None:
            raise InputError(
                f"{path}: no {key} column (columns: {', '.join(table.columns)}); name one of "
                f"{', '.join(TSV_ALIASES[key])}"
            )
        cols[key] = found
    tss_raw = table[cols["tss"]].str.strip()
    bad = ~tss_raw.str.fullmatch(r"-?\d+")
    if bad.any():
        k = int(bad.to_numpy().argmax())
        raise InputError(
            f"{path}: row {k + 1} ({table[cols['gene_id']].iloc[k]}): tss {tss_raw.iloc[k]!r} is not an "
            "integer; give 0-based TSS positions"
        )
    tss = tss_raw.astype(np.int64).to_numpy()
    name_col = _pick(table.columns, TSV_ALIASES["name"])
    type_col = _pick(table.columns, TSV_ALIASES["gene_type"])
    strand = table[cols["strand"]].str.strip().to_numpy()
    return pd.DataFrame(
        {
            "gene_id": table[cols["gene_id"]].str.strip().to_numpy(),
            "name": (table[name_col] if name_col else table[cols["gene_id"]]).to_numpy(),
            "chrom": table[cols["chrom"]].str.strip().to_numpy(),
            # tss is given; start/end stand in so the shared TSS rule reproduces it (no gene length)
            "start": tss,
            "end": tss + 1,
            "length": np.zeros(len(table), dtype=np.int64),
            "strand": strand,
            "gene_type": (table[type_col] if type_col else pd.Series([""] * len(table))).to_numpy(),
            "_row": np.arange(len(table)) + 1,
        }
    )


def read_genes(
    path: str | os.PathLike,
    *,
    fmt: str = "auto",
    gtf_feature: str = "gene",
    gene_types: Iterable[str] | None = None,
    id_attribute: str = "gene_id",
    name_attribute: str = "gene_name",
) -> pd.DataFrame:
    """Read one TSS per gene.

    Args:
        path: GTF/GFF3 (1-based inclusive coordinates, converted), BED6+ (0-based; the name
            column is both gene_id and name; ``#``/``track``/``browser`` lines skipped, a
            ``#chrom ... gene_type`` header names extra columns), or TSV with a header holding
            gene_id (or id, ensembl_id, gene), chrom (chr, chromosome), tss, strand and
            optionally name/symbol, gene_type. Gzip allowed.
        fmt: ``auto`` (by extension, else content), ``gtf``, ``gff``, ``bed`` or ``tsv``.
        gtf_feature: GTF feature giving the gene bounds. ``transcript`` takes each gene's
            TSS from its longest transcript (first in file order on ties).
        gene_types: keep only these gene types (e.g. ``["protein_coding"]``).
        id_attribute, name_attribute: GTF/GFF attributes for the id and the name.

    Returns:
        DataFrame[gene_id, name, chrom, tss (int64, 0-based first transcribed base: start for
        '+', end - 1 for '-'), strand, gene_type, length (int64, end - start; 0 for a TSV,
        which gives no gene bounds)] in file order.

    Raises:
        InputError: missing file, unknown format, missing columns, bad strand, non-integer TSS,
            duplicate gene ids.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: gene annotation file not found; check the --genes path")
    kind = _sniff(path) if fmt == "auto" else fmt.lower()
    if kind in ("gtf", "gff", "gff3"):
        genes = _read_gtf(path, gtf_feature, id_attribute, name_attribute)
    elif kind == "bed":
        genes = _read_bed(path)
    elif kind == "tsv":
        genes = _read_tsv(path)
    else:
        raise InputError(f"{path}: unknown gene format {fmt!r}; use auto, gtf, gff, bed or tsv")
    bad = ~genes["strand"].isin(["+", "-"])
    if bad.any():
        k = int(bad.to_numpy().argmax())
        raise InputError(
            f"{path}: gene {genes['gene_id'].iloc[k]} (row {genes['_row'].iloc[k]}) has strand "
            f"{genes['strand'].iloc[k]!r}; strands must be '+' or '-'"
        )
    genes["tss"] = _tss(genes["start"].to_numpy(), genes["end"].to_numpy(), genes["strand"].to_numpy())
    genes["length"] = genes["length"] if "length" in genes else genes["end"] - genes["start"]
    if gene_types is not None:
        wanted = set(gene_types)
        genes = genes[genes["gene_type"].isin(wanted)]
        if genes.empty:
            raise InputError(f"{path}: no gene of type {sorted(wanted)}; check --gene-types")
    dup = genes["gene_id"].duplicated(keep=False)
    if dup.any():
        first = genes["gene_id"][dup].iloc[0]
        rows = genes["_row"][genes["gene_id"] == first].tolist()
        raise InputError(
            f"{path}: gene id {first!r} appears more than once (rows {', '.join(map(str, rows[:5]))}); "
            "use a unique id column (e.g. the name/symbol column) or de-duplicate the file"
        )
    genes = genes.reset_index(drop=True)
    genes[["tss", "length"]] = genes[["tss", "length"]].astype(np.int64)
    for col in ("gene_id", "name", "chrom", "strand", "gene_type"):
        genes[col] = genes[col].astype(str)
    log.info("%s: %d genes", path, len(genes))
    return genes.loc[:, list(GENE_COLUMNS)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_expression(
    path: str | os.PathLike, *, id_column: str | None = None, value_column: str | None = None,
    return_table: bool = False,
) -> pd.Series | tuple[pd.Series, pd.DataFrame]:
    """Read an expression table: one value per gene id (and the raw table with ``return_table``).

    Args:
        path: tab/whitespace/comma-separated, with a header, or headerless with the id in
            column 1 and the value in column 2 (e.g. ABC's ``symbol<TAB>TPM`` files).
        id_column: id column name (default: the first of gene_id, id, ensembl_id, gene, name,
            symbol; else the first column).
        value_column: value column (default: the only other column, or the only numeric one).

    Returns:
        float Series indexed by id (str), named after the value column; empty/NA cells -> NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: expression file not found; check the --expression path")
    with open_text(path) as handle:
        first = handle.readline()
    sep = "\t" if "\t" in first else ("," if "," in first else r"\s+")
    fields = re.split(sep if sep != r"\s+" else r"\s+", first.strip())
    headerless = len(fields) >= 2 and all(_is_number(f) or f.lower() in _NA_STRINGS for f in fields[1:])
    try:
        table = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, header=None if headerless else 0,
            engine="python" if sep == r"\s+" else "c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot parse the expression table ({exc}); check the format") from exc
    if headerless:
        table.columns = ["id"] + [f"column{k + 2}" for k in range(table.shape[1] - 1)]
    table.columns = [str(c) for c in table.columns]
    if table.shape[1] < 2:
        raise InputError(f"{path}: expression table needs an id and a value column; found {table.shape[1]} column(s)")
    if id_column is None:
        id_column = _pick(table.columns, TSV_ALIASES["gene_id"] + ("name", "symbol")) or table.columns[0]
    elif id_column not in table.columns:
        raise InputError(f"{path}: no column {id_column!r} (columns: {', '.join(table.columns)}); pass an existing id column")
    others = [c for c in table.columns if c != id_column]
    if value_column is None:
        if len(others) == 1:
            value_column = others[0]
        else:
            numeric = [
                c for c in others
                if table[c].map(lambda v: v.strip().lower() in _NA_STRINGS or _is_number(v)).all()
            ]
            if len(numeric) != 1:
                raise InputError(
                    f"{path}: cannot tell the value column among {', '.join(numeric or others)}; "
                    "pass the value column explicitly"
                )
            value_column = numeric[0]
    elif value_column not in table.columns:
        raise InputError(
            f"{path}: no column {value_column!r} (columns: {', '.join(table.columns)}); pass an existing value column"
        )
    raw = table[value_column].str.strip()
    na = raw.str.lower().isin(_NA_STRINGS)
    values = pd.to_numeric(raw.where(~na), errors="coerce")
    bad = values.isna() & ~na
    if bad.any():
        k = int(bad.to_numpy().argmax())
        line = k + (1 if headerless else 2)
        raise InputError(
            f"{path}: line {line} ({table[id_column].iloc[k]}): value {raw.iloc[k]!r} in column "
            f"{value_column!r} is not a number; fix it or leave it empty (NA)"
        )
    series = pd.Series(values.to_numpy(np.float64), index=table[id_column].str.strip().to_numpy(), name=value_column)
    series.index.name = "gene_id"
    if return_table:
        return series, table
    return series


def _id_like(column: pd.Series) -> bool:
    """Text that could be gene ids: nearly all distinct, mostly not numbers."""
    text = column.str.strip()
    text = text[~text.str.lower().isin(_NA_STRINGS)]
    if text.empty or text.nunique() < 0.9 * len(text):
        return False
    return not text.map(_is_number).mean() > 0.5


def read_expression_candidates(
    path: str | os.PathLike, *, id_column: str | None = None, value_column: str | None = None
) -> list[pd.Series]:
    """The expression values once per id-like column of the table (the named ``id_column``
    only, when given): each Series is indexed by that column's ids and named after it."""
    series, table = read_expression(path, id_column=id_column, value_column=value_column, return_table=True)
    if id_column is not None:
        return [series.rename(id_column)]
    out = []
    for column in table.columns:
        if column != series.name and _id_like(table[column]):
            candidate = pd.Series(series.to_numpy(), index=table[column].str.strip().to_numpy(), name=column)
            candidate.index.name = "gene_id"
            out.append(candidate)
    return out or [series.rename(table.columns[0])]


def _strip_version(ids: pd.Series | pd.Index) -> pd.Series:
    text = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    return text.str.replace(_ENSEMBL_VERSION, lambda m: m.group(1) + (m.group(2) or ""), regex=True)


def _match_targets(genes: pd.DataFrame, expression: pd.Series) -> tuple[np.ndarray, dict[str, int], list[str]]:
    """(target per gene, genes matched per key kind, duplicate-id conflicts) for one id column."""
    keys = pd.Series(np.asarray(expression.index, dtype=object)).astype(str)
    vals = expression.to_numpy(np.float64)
    stripped = _strip_version(keys)
    counts = keys.value_counts()
    stripped_counts = stripped.value_counts()
    first_val = dict(zip(keys[::-1], vals[::-1]))
    stripped_val = dict(zip(stripped[::-1], vals[::-1]))
    target = np.full(len(genes), np.nan)
    kinds = {"gene_id": 0, "name": 0, "version-less Ensembl id": 0}
    conflicts: list[str] = []
    for k, (gid, name, gid_stripped) in enumerate(
        zip(genes["gene_id"].astype(str), genes["name"].astype(str), _strip_version(genes["gene_id"]))
    ):
        for kind, key, table, cnt in (("gene_id", gid, first_val, counts), ("name", name, first_val, counts),
                                      ("version-less Ensembl id", gid_stripped, stripped_val, stripped_counts)):
            if key in table:
                if cnt[key] > 1:
                    conflicts.append(
                        f"id {key!r} appears {int(cnt[key])} times in the expression table and matches gene {gid}")
                target[k] = table[key]
                kinds[kind] += 1
                break
    return target, kinds, conflicts


def attach_targets(
    genes: pd.DataFrame, expression: pd.Series | list[pd.Series], *, transform: str = "log10p1", source: str
) -> pd.DataFrame:
    """Add a ``target`` column to ``genes`` from an expression Series (or several, one per id
    column of the table: the one matching the most genes is used, and the choice is logged).

    Each gene matches on gene_id, else on name, else on the Ensembl id without its version
    (``ENSG...12.3`` -> ``ENSG...12``); unmatched genes get NaN. Values that look
    log-transformed already (all in [0, 20], some fractional) get a warning under ``log10p1``.

    Args:
        genes: DataFrame with gene_id and name.
        expression: float Series indexed by id (``read_expression``), or a list of them
            (``read_expression_candidates``).
        transform: ``log10p1`` (log10(1 + value); negative values raise) or ``none``.
        source: the expression file, for messages.

    Returns:
        a copy of ``genes`` with a float64 ``target`` column.
    """
    if transform not in ("log10p1", "none"):
        raise InputError(f"{source}: unknown transform {transform!r}; use log10p1 or none")
    candidates = expression if isinstance(expression, list) else [expression]
    results = [(_match_targets(genes, c), c) for c in candidates]
    (target, kinds, conflicts), best = max(results, key=lambda r: sum(r[0][1].values()))
    matched = int(sum(kinds.values()))
    if not matched:
        keys = pd.Series(np.asarray(candidates[0].index, dtype=object)).astype(str)
        raise InputError(
            f"{source}: no gene matched the expression ids (genes: {', '.join(genes['gene_id'].astype(str)[:3])}; "
            f"expression: {', '.join(keys[:3])}); use the same id type (gene_id or name) in both"
        )
    if conflicts:
        raise InputError(f"{source}: {conflicts[0]}; de-duplicate the table or pass a unique id column")
    if len(candidates) > 1:
        tried = ", ".join(f"{c.name!r} {sum(r[1].values())}" for r, c in results)
        how = ", ".join(f"{n} by {kind}" for kind, n in kinds.items() if n)
        log.info("%s: expression ids from column %r matched %d of %d genes (%s; genes matched per column: %s)",
                 source, best.name, matched, len(genes), how, tried)
    if transform == "log10p1":
        negative = np.flatnonzero(target < 0)
        if negative.size:
            k = int(negative[0])
            raise InputError(
                f"{source}: gene {genes['gene_id'].iloc[k]} has value {target[k]} < 0, so log10(1 + x) "
                "is undefined; pass --target-transform none or give non-negative values"
            )
        _warn_if_log_scale(target, source)
        target = np.log10(1.0 + target)
    log.info("%s: %d of %d genes have a target", source, int(np.isfinite(target).sum()), len(genes))
    out = genes.copy()
    out["target"] = target
    return out


def _warn_if_log_scale(values: np.ndarray, source: str) -> None:
    """Warn when the values look log-transformed already (all within [0, 20], some fractional):
    TPM, FPKM, CAGE and count tables reach far higher values."""
    finite = values[np.isfinite(values)]
    if finite.size >= 10 and finite.max() <= 20 and np.any(finite != np.round(finite)):
        log.warning("%s: the values look log-transformed already (max %.3g); if they are, pass "
                    "--target-transform none (otherwise log10(1 + x) is applied again)", source, float(finite.max()))
