#!/usr/bin/env bash
# The whole pipeline on real data: K562, hg38 chr22 (../shared/data/k562_chr22, see its README).
# The inputs as they come: the RNA-seq TPM table as it is (its `symbol` column matches the genes),
# and, as the data lie on one chromosome, prepare holds out contiguous position blocks by itself.
# Training uses the default preset (`cpu` on a CPU: epochs sized to the 295 training genes, early
# stopping) with the stem's motif detectors seeded from JASPAR (offline, through pyjaspar:
# pip install ".[motifs]"). EXTRA="--max-steps 100" shortens training; on a GPU the preset is `gpu`.
# Ends with a report comparing
#   - predicted vs measured expression (RNA-seq TPM) on the test blocks, against the
#     promoter-activity baseline sqrt(DNase RPM x H3K27ac RPM) within 1 kb of the TSS (ABC), and
#   - the called elements against ABC's candidate elements and MACS2 DNase peaks.
# Usage: examples/k562_chr22.sh [KIT_DIR] [OUT_DIR]
set -euo pipefail
KIT=${1:-"$(dirname "$0")/../../shared/data/k562_chr22"}
OUT=${2:-k562_chr22_run}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"

seq2exp prepare --fasta "$KIT/hg38.chr22.fa.gz" \
    --genes "$KIT/RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed" \
    --expression "$KIT/k562_chr22_genes_rnaseq_tpm.tsv" --expression-column K562_TPM \
    --track dnase="$KIT/k562.dnase.chr22.bw" --track h3k27ac="$KIT/k562.h3k27ac.chr22.bw" \
    --hic "$KIT/K562.chr22.hg38.hic" --blacklist "$KIT/GRCh38_unified_blacklist.bed" \
    --force -o "$OUT/data"

# shellcheck disable=SC2086  # EXTRA holds several options
seq2exp train "$OUT/data" -o "$OUT/model" --force --motifs jaspar $EXTRA

seq2exp predict "$OUT/model" "$OUT/data" --split test -o "$OUT/predictions.tsv" --force

# the top 5% of scored bases (the default): a trained bottleneck keeps scores near its marginal mean
seq2exp call-elements "$OUT/model" "$OUT/data" -o "$OUT/elements.narrowPeak" --cell-type K562 \
    --bigwig "$OUT/elements.score.bw" --force

python "$(dirname "$0")/k562_chr22_report.py" "$KIT" "$OUT" -o "$OUT/report.md"
cat "$OUT/report.md"
