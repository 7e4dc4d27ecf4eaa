#!/usr/bin/env bash
# The whole pipeline on real data: K562, hg38 chr22 (../shared/data/k562_chr22, see its README).
# One chromosome only, so genes are split into contiguous position blocks. CPU recipe: a small
# model (d 32, one layer per stack) at 200-bp resolution, 150 steps: about 6 minutes on 2 cores.
# STEPS=N sets the training length; on a GPU use --device cuda --resolution 1. Ends with a report comparing
#   - predicted vs measured expression (RNA-seq TPM) on the test blocks, against the
#     promoter-activity baseline sqrt(DNase RPM x H3K27ac RPM) within 1 kb of the TSS (ABC), and
#   - the called elements against ABC's candidate elements and MACS2 DNase peaks.
# Usage: examples/k562_chr22.sh [KIT_DIR] [OUT_DIR]
set -euo pipefail
KIT=${1:-"$(dirname "$0")/../../shared/data/k562_chr22"}
OUT=${2:-k562_chr22_run}
STEPS=${STEPS:-150}
mkdir -p "$OUT"

seq2exp prepare --fasta "$KIT/hg38.chr22.fa.gz" \
    --genes "$KIT/RefSeqCurated.170308.CollapsedGeneBounds.chr22.hg38.bed" \
    --expression "$KIT/K562.ENCFF934YBO.TPM.txt" \
    --track dnase="$KIT/k562.dnase.chr22.bw" --track h3k27ac="$KIT/k562.h3k27ac.chr22.bw" \
    --hic "$KIT/K562.chr22.hg38.hic" --blacklist "$KIT/GRCh38_unified_blacklist.bed" \
    --split-mode blocks --block-size 2000000 --force -o "$OUT/data"

seq2exp train "$OUT/data" -o "$OUT/model" --force --device cpu --resolution 200 --d-model 32 --n-layers 1 \
    --max-steps "$STEPS" --batch-size 8 --eval-every 50 --lr 3e-3

seq2exp predict "$OUT/model" "$OUT/data" --split test -o "$OUT/predictions.tsv" --force

# the top 5% of scored bases: a trained bottleneck keeps scores near its marginal mean (0.1)
seq2exp call-elements "$OUT/model" "$OUT/data" -o "$OUT/elements.bed" --top-fraction 0.05 \
    --bigwig "$OUT/elements.score.bw" --force

python "$(dirname "$0")/k562_chr22_report.py" "$KIT" "$OUT" -o "$OUT/report.md"
cat "$OUT/report.md"
