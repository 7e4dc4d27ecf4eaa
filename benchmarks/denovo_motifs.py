"""The de novo motifs ``train`` seeds its motif channels with (``--motifs denovo``), for one
prepared dataset: a table of each motif's seed k-mer, enrichment and sites, and its CPU time.

With ``--compare FILE.meme`` (a diagnostic, never an input of the method) each motif of the file
is matched to its most similar de novo motif (Pearson correlation of the aligned probability
columns, best offset and strand, at least 5 columns overlapping).

    python benchmarks/denovo_motifs.py DATASET [--compare motifs.meme] [--annotate jaspar] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best Pearson correlation of two PWMs' overlapping columns over offsets (and b's strands)."""
    best = -1.0
    for other in (b, b[::-1, ::-1]):
        for off in range(-other.shape[0] + 5, a.shape[0] - 4):
            lo, hi = max(0, off), min(a.shape[0], off + other.shape[0])
            if hi - lo >= 5:
                best = max(best, float(np.corrcoef(a[lo:hi].ravel(), other[lo - off:hi - off].ravel())[0, 1]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--compare", type=Path, default=None)
    parser.add_argument("--annotate", default=None, metavar="SPEC",
                        help="name each de novo motif by its most similar motif of a database (jaspar or a MEME file)")
    parser.add_argument("--max-motifs", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from seq2exp_cli.dataset import PreparedDataset
    from seq2exp_cli.io.motifs import read_meme
    from seq2exp_cli.model.motif_discovery import discover_motifs

    data = PreparedDataset(args.dataset)
    start = time.process_time()
    motifs, _, record = discover_motifs(data, args.max_motifs)
    cpu = time.process_time() - start
    lines = [f"# De novo motifs of `{args.dataset}`", "",
             f"`python benchmarks/denovo_motifs.py {args.dataset}"
             + (f" --compare {args.compare}" if args.compare else "")
             + (f" --annotate {args.annotate}" if args.annotate else "") + "`", "",
             f"Rule: {record['rule']}.", "",
             f"{record.get('sampled_bases', 0):,} bases sampled, {record.get('accessible_bases', 0):,} accessible, "
             f"{record.get('enriched_kmers', 0)} enriched k-mers; {len(motifs)} motifs in {cpu:.1f} CPU s.", "",
             "| motif (consensus) | seed | z | fold | sites | width |", "|---|---|---|---|---|---|"]
    lines += [f"| {c['name']} | {c['seed']} | {c['z']} | {c['fold']} | {c['sites']} | {c['width']} |"
              for c in record["chosen"]]
    if args.compare:
        reference, _ = read_meme(args.compare)
        lines += ["", f"Each motif of `{args.compare}` and its most similar de novo motif:", "",
                  "| reference motif | best de novo motif | similarity |", "|---|---|---|"]
        for ref in reference:
            scores = [similarity(m.probs, ref.probs) for m in motifs]
            if scores:
                k = int(np.argmax(scores))
                lines.append(f"| {ref.name} | {motifs[k].name} | {scores[k]:.3f} |")
            else:
                lines.append(f"| {ref.name} | - | - |")
    if args.annotate:
        from seq2exp_cli.io.motifs import load_motifs

        database, _, source = load_motifs(args.annotate)
        lines += ["", f"Each de novo motif and its most similar motif of {source}:", "",
                  "| de novo motif | most similar database motif | similarity |", "|---|---|---|"]
        for motif in motifs:
            scores = [similarity(motif.probs, ref.probs) for ref in database]
            k = int(np.argmax(scores))
            lines.append(f"| {motif.name} | {database[k].name} | {scores[k]:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
