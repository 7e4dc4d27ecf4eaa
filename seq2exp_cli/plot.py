"""``plot-locus``: one gene's window as stacked browser-style tracks (matplotlib, optional extra).

Panels, top to bottom, all in genomic coordinates: each signal track, the Hi-C contact of each
bin with the TSS bin, the model's mask score, called elements, planted truth (when known:
functional elements in one colour, decoys in another), and the gene's TSS with its strand.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from seq2exp_cli.errors import InputError

log = logging.getLogger(__name__)

TRUTH_COLOURS = {"functional": "#1b9e77", "decoy": "#d95f02"}


def _require_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError("plot-locus needs matplotlib; install it with: pip install 'seq2exp[plot]'") from exc
    return plt


def find_gene(dataset, gene: str) -> int:
    """Row index of ``gene`` by gene_id, else by name."""
    for column in ("gene_id", "name"):
        hits = np.flatnonzero((dataset.genes[column] == gene).to_numpy())
        if len(hits):
            return int(hits[0])
    examples = ", ".join(dataset.genes["gene_id"].head(3))
    raise InputError(f"{dataset.path}: no gene {gene!r} (by gene_id or name); e.g. {examples}")


def _intervals_in(table: pd.DataFrame | None, chrom: str, start: int, end: int) -> pd.DataFrame:
    if table is None or table.empty:
        return pd.DataFrame(columns=["chrom", "start", "end"])
    sel = (table["chrom"] == chrom) & (table["end"] > start) & (table["start"] < end)
    return table[sel]


#: panel label of each call-elements score kind
SCORE_LABELS = {"mask": "mask score", "contribution": "share of\ngene input"}


def plot_locus(
    dataset,
    index: int,
    out: Path,
    mask: np.ndarray | None = None,
    elements: pd.DataFrame | None = None,
    truth: pd.DataFrame | None = None,
    title: str | None = None,
    score_label: str = "mask score",
) -> Path:
    """Draw gene ``index``'s window to ``out`` (PNG/PDF/SVG by extension) and return ``out``.

    ``mask`` is the per-bp score in genomic orientation (float[window]), drawn under
    ``score_label``; ``elements`` and ``truth`` are BED-like tables (chrom, start, end[, class]).
    """
    from seq2exp_cli.io.atomic import atomic_path

    plt = _require_matplotlib()
    chrom, start, end, strand = dataset.genomic_window(index)
    item = dataset.load_gene(index)
    signals = np.asarray(item["signals"], dtype=np.float32)
    if strand == "-":
        signals = signals[::-1]
    x = np.arange(start, end)
    names = list(dataset.signal_names)
    panels = len(names) + (mask is not None) + 2
    fig, axes = plt.subplots(panels, 1, figsize=(11, 1.25 * panels + 0.6), sharex=True)
    row = 0
    for k, name in enumerate(names):
        ax = axes[row]
        ax.fill_between(x, signals[:, k], step="mid", color="#555555" if name != "hic" else "#7570b3", lw=0)
        ax.set_ylabel(name if name != "hic" else "Hi-C\n(TSS bin)", rotation=0, ha="right", va="center")
        row += 1
    if mask is not None:
        ax = axes[row]
        ax.fill_between(x, mask, step="mid", color="#e7298a", lw=0)
        ax.set_ylim(0, max(1e-6, float(mask.max())) if score_label != SCORE_LABELS["mask"] else 1)
        ax.set_ylabel(score_label, rotation=0, ha="right", va="center")
        row += 1
    ax = axes[row]
    for r in _intervals_in(elements, chrom, start, end).itertuples(index=False):
        ax.axvspan(max(r.start, start), min(r.end, end), ymin=0.55, ymax=0.95, color="#e7298a")
    for r in _intervals_in(truth, chrom, start, end).itertuples(index=False):
        colour = TRUTH_COLOURS.get(getattr(r, "cls", "functional"), "#666666")
        ax.axvspan(max(r.start, start), min(r.end, end), ymin=0.05, ymax=0.45, color=colour)
    ax.set_yticks([0.25, 0.75], ["truth" if truth is not None else "", "called"])
    ax.set_ylim(0, 1)
    row += 1
    ax = axes[row]
    tss = int(dataset.genes.at[index, "tss"])
    direction = 1 if strand == "+" else -1
    ax.annotate("", xy=(tss + direction * 0.05 * (end - start), 0.5), xytext=(tss, 0.5),
                arrowprops={"arrowstyle": "->", "lw": 2})
    ax.axvline(tss, color="black", lw=1)
    name = dataset.genes.at[index, "name"] or dataset.genes.at[index, "gene_id"]
    ax.text(tss, 0.9, f"{name} ({strand})", ha="center", va="top")
    ax.set_yticks([])
    ax.set_xlim(start, end)
    ax.set_xlabel(f"{chrom} position (bp)")
    if truth is not None:
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in TRUTH_COLOURS.values()]
        axes[-2].legend(handles, list(TRUTH_COLOURS), loc="upper right", fontsize=8, frameon=False)
    fig.suptitle(title or f"{name} {chrom}:{start:,}-{end:,}")
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    log.info("locus plot written to %s", out)
    return out


def read_truth(path: Path) -> pd.DataFrame:
    """A truth BED (chrom, start, end, name, score, strand, class, ...) as chrom/start/end/cls."""
    table = pd.read_csv(path, sep="\t", header=None, comment="#", dtype={0: str})
    frame = table.iloc[:, :3].set_axis(["chrom", "start", "end"], axis=1)
    frame["cls"] = table.iloc[:, 6].astype(str) if table.shape[1] > 6 else "functional"
    return frame
