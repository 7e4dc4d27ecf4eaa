#!/usr/bin/env bash
# One pass over everything seq2exp does on a GPU, in about 8 minutes on one H100/H200:
#   1. the CUDA tests (pure-PyTorch scan and motif stem on CUDA vs CPU; mamba_ssm vs pure);
#   2. a paper-scale training step (R 1, 200-kb windows, batch 8, d_model 128 x 4 + 4 layers,
#      bf16 autocast) with the pure-PyTorch scan, then with mamba_ssm when it imports or installs;
#      time per step and peak GPU memory (benchmarks/bench_train.py --device cuda);
#   3. a 1-GPU torchrun smoke test: an NCCL all_reduce, then `seq2exp train` under torchrun on a
#      tiny simulated dataset;
#   4. call-elements on the GPU with the model from 3.
# Results: OUT/gpu_check.md (summary, one line per stage), OUT/gpu_train_pure.md and
# OUT/gpu_train_mamba_ssm.md (bench_train tables). Every stage has its own time limit, and a
# stage that fails is recorded and the next one runs.
#
# Usage: benchmarks/gpu_check.sh [--out DIR] [--work DIR] [--batch N] [--steps N]
#                                [--skip-install] [--dry-run] [-h]
set -u -o pipefail

usage() {
  cat <<'EOF'
usage: benchmarks/gpu_check.sh [options]
  --out DIR        where the gpu_*.md results go (default: benchmarks/results)
  --work DIR       scratch directory for the simulated data and runs (default: a new temporary one)
  --batch N        genes per paper-scale step (default: 8; halved on out-of-memory down to 1)
  --steps N        timed paper-scale steps after one warm-up (default: 2)
  --skip-install   do not try `pip install mamba-ssm` when it does not import
  --dry-run        print the stages and their commands, run nothing (no GPU needed)
  -h, --help       this text
EOF
}

die() { echo "gpu_check: $*" >&2; exit 2; }

positive_int() {  # name value
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 $2: give a whole number >= 1"
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/results"
WORK=""
BATCH=8
STEPS=2
INSTALL=1
DRY=0
PY="${PYTHON:-python}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; OUT="$2"; shift 2 ;;
    --work) [[ $# -ge 2 ]] || die "--work needs a directory"; WORK="$2"; shift 2 ;;
    --batch) [[ $# -ge 2 ]] || die "--batch needs a number"; positive_int --batch "$2"; BATCH="$2"; shift 2 ;;
    --steps) [[ $# -ge 2 ]] || die "--steps needs a number"; positive_int --steps "$2"; STEPS="$2"; shift 2 ;;
    --skip-install) INSTALL=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

[[ -n "$WORK" ]] || WORK="${TMPDIR:-/tmp}/seq2exp_gpu_check.$$"
SUMMARY="$OUT/gpu_check.md"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
DATA="$WORK/tiny"
RUN="$WORK/run"

# stage name | time limit (s) | command
STAGES=(
  "cuda-tests|90|$PY -m pytest -q -rs $ROOT/tests/test_backbone.py $ROOT/tests/test_stem_ops.py -k cuda"
  "paper-step-pure|150|paper_step pure $OUT/gpu_train_pure.md"
  "mamba-ssm|45|mamba_available"
  "paper-step-mamba-ssm|75|paper_step auto $OUT/gpu_train_mamba_ssm.md"
  "data|40|mkdir -p $DATA && $PY -m seq2exp_cli simulate --scale tiny -o $DATA/inputs && prepare_tiny"
  "torchrun-nccl|45|nccl_smoke && $PY -m torch.distributed.run --standalone --nproc-per-node 1 -m seq2exp_cli train $DATA/dataset -o $RUN --device cuda --max-steps 6 --eval-every 3 --checkpoint-every 3 --resolution 100 --d-model 32 --n-layers 1 --force"
  "call-elements|35|$PY -m seq2exp_cli call-elements $RUN $DATA/dataset -o $WORK/elements.bed --device cuda --force"
)

if [[ $DRY -eq 1 ]]; then
  echo "gpu_check dry run: out=$OUT work=$WORK batch=$BATCH steps=$STEPS install=$INSTALL"
  total=0
  for stage in "${STAGES[@]}"; do
    IFS='|' read -r name limit cmd <<<"$stage"
    total=$((total + limit))
    echo "stage $name (limit ${limit}s): $cmd"
  done
  echo "total limit ${total}s"
  exit 0
fi

command -v nvidia-smi >/dev/null || die "no nvidia-smi: run this on a machine with an NVIDIA GPU"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || die "torch does not see a GPU (CPU-only torch build?)"
mkdir -p "$OUT" "$WORK" || die "cannot create $OUT or $WORK"

paper_step() {  # scan output.md
  local scan="$1" output="$2" batch="$BATCH"
  while :; do
    if "$PY" "$HERE/bench_train.py" --device cuda --recipe paper --baseline none --scan "$scan" \
        --batch "$batch" --steps "$STEPS" --output "$output"; then
      return 0
    fi
    [[ $batch -gt 1 ]] || return 1
    batch=$((batch / 2))
    echo "gpu_check: paper-scale step failed at batch $((batch * 2)); trying batch $batch" >&2
  done
}

mamba_available() {
  "$PY" -c "import mamba_ssm.ops.selective_scan_interface" 2>/dev/null && return 0
  [[ $INSTALL -eq 1 ]] || { echo "mamba_ssm not importable (--skip-install)"; return 1; }
  "$PY" -m pip install --no-build-isolation mamba-ssm >"$WORK/pip_mamba_ssm.log" 2>&1 \
    || { echo "pip install mamba-ssm failed; tail of $WORK/pip_mamba_ssm.log:"; tail -5 "$WORK/pip_mamba_ssm.log"; return 1; }
  "$PY" -c "import mamba_ssm.ops.selective_scan_interface"
}

nccl_smoke() {  # one process group on NCCL: all_reduce and broadcast on the GPU
  cat >"$WORK/nccl_smoke.py" <<'PYEOF'
import torch, torch.distributed as dist
dist.init_process_group("nccl")
torch.cuda.set_device(dist.get_rank())
x = torch.full((1024,), float(dist.get_rank() + 1), device="cuda")
dist.all_reduce(x)
dist.broadcast(x, 0)
torch.cuda.synchronize()
assert float(x[0]) == dist.get_world_size() * (dist.get_world_size() + 1) / 2, float(x[0])
print("NCCL all_reduce ok, world", dist.get_world_size(), "NCCL", torch.cuda.nccl.version())
dist.destroy_process_group()
PYEOF
  "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 "$WORK/nccl_smoke.py"
}

prepare_tiny() {
  "$PY" - "$DATA" <<'PYEOF'
import json, sys
from pathlib import Path
from seq2exp_cli.quickstart import prepare_simulated
data = Path(sys.argv[1])
prepare_simulated(data / "inputs", json.loads((data / "inputs" / "simulation.json").read_text()), data / "dataset")
PYEOF
}

{
  echo "# GPU check"
  echo
  echo "\`benchmarks/gpu_check.sh\` on $(hostname), $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)."
  echo "torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')."
  echo
  echo "| stage | limit s | result | wall s |"
  echo "|---|---|---|---|"
} >"$SUMMARY"

mamba_ok=0
for stage in "${STAGES[@]}"; do
  IFS='|' read -r name limit cmd <<<"$stage"
  if [[ "$name" == "paper-step-mamba-ssm" && $mamba_ok -eq 0 ]]; then
    echo "| $name | $limit | skipped: mamba_ssm not available | 0 |" >>"$SUMMARY"
    continue
  fi
  echo "== $name (limit ${limit}s)" >&2
  start=$(date +%s)
  export -f paper_step mamba_available prepare_tiny nccl_smoke
  export PY HERE BATCH STEPS INSTALL WORK DATA
  timeout --kill-after=10 "$limit" bash -c "$cmd" >"$WORK/$name.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  if [[ $rc -eq 0 ]]; then
    result="ok"
    [[ "$name" == "mamba-ssm" ]] && mamba_ok=1
  elif [[ $rc -eq 124 || $rc -eq 137 ]]; then
    result="over the ${limit}s limit"
  else
    result="failed (exit $rc): $(tail -1 "$WORK/$name.log" | tr '|' '/' | cut -c1-160)"
  fi
  echo "| $name | $limit | $result | $took |" >>"$SUMMARY"
  tail -3 "$WORK/$name.log" >&2
done

{
  echo
  for table in "$OUT/gpu_train_pure.md" "$OUT/gpu_train_mamba_ssm.md"; do
    [[ -f "$table" ]] && { echo "Paper-scale step: see \`$(basename "$table")\`."; }
  done
  echo "Logs of every stage: \`$WORK/*.log\`."
} >>"$SUMMARY"
cat "$SUMMARY"
