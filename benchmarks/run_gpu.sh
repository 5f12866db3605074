#!/usr/bin/env bash
# The whole GPU check in one command, for a bare CUDA machine lent for minutes (an H200: ~8 min).
#
#   benchmarks/run_gpu.sh [OUT_DIR]          # default: $OUT when set (the device tool's folder), else ./gpu_check
#   GPU_CHECK_SECONDS=900 benchmarks/run_gpu.sh runs/gpu   # a longer budget
#
# Writes every figure to OUT_DIR/gpu_figures.txt as it comes, and every stage's full output to
# OUT_DIR/gpu_check.log. Stages run in order of value, each with its own time limit, all within
# GPU_CHECK_SECONDS (default 480): a stage that would start with too little time left is skipped
# and says so, so a slow machine still returns the first figures.
#   install      carried wheels in .whl/ (a machine without a registry; benchmarks/README.md), then
#                pip install -e '.[test]' keeping the installed torch; else runs from the checkout
#   figures      bench_gpu: the device's matmul rates; a paper-size step eager / compiled / CUDA graphs /
#                tf32 / bf16: steps/s, TFLOP/s, fraction of the matmul rate, compile time, host syncs,
#                the 100k-step paper run extrapolated (target <= 15 min)
#   tests        the device-parametrised tests on cuda (pytest -k cuda)
#   seeds        bench_seeds, eager: seed-steps/s at S = 1, 2, 4, 8, 16, quick and paper (target: S = 8 >= 4x at quick)
#   concurrency  bench_gpu: how many concurrent quick-size trials saturate the device
#   parity       bench_gpu: quick budget, 4 seeds, fp32 vs tf32 vs bf16 final val/mse
#   paper_run    python -m tune_ired.train at paper size, compiled, 300 steps (3 evaluations)
#   seeds_compiled  bench_seeds, eager and compiled, S = 1 and 8 at quick
#   train        bench_train: eager and compiled vs the reference-style step on the GPU
#   sweep        a quick sweep with --gpus-per-trial 0.25 (only where Ray is installed)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
OUT_DIR=${1:-${OUT:-gpu_check}}
BUDGET_S=${GPU_CHECK_SECONDS:-480}
MIN_STAGE_S=20  # a stage with less time than this left is skipped
PY=${PYTHON:-python3}
SITE=${TMPDIR:-/tmp}/tune_ired_site
mkdir -p "$OUT_DIR"
FIGURES=$OUT_DIR/gpu_figures.txt
LOG=$OUT_DIR/gpu_check.log
STAGE_OUT=$(mktemp)
: >"$FIGURES"
: >"$LOG"
export PYTHONUNBUFFERED=1
START=$SECONDS

note() { echo "$*" | tee -a "$FIGURES" "$LOG"; }

# stage NAME LIMIT_S LINES COMMAND...: run COMMAND within its limit (and the check's budget); its whole
# output goes to the log, its last LINES lines (warnings dropped) to the figures file.
stage() {
  local name=$1 limit=$2 lines=$3
  shift 3
  local left=$((BUDGET_S - (SECONDS - START)))
  ((limit > left)) && limit=$left
  note ""
  if ((limit < MIN_STAGE_S)); then
    note "== $name: SKIPPED, ${left} s of the check's ${BUDGET_S} s left"
    return
  fi
  note "== $name ($((SECONDS - START)) s in, limit ${limit} s): $*"
  local began=$SECONDS rc=0
  timeout "$limit" "$@" >"$STAGE_OUT" 2>&1 || rc=$?
  cat "$STAGE_OUT" >>"$LOG"
  grep -v -E 'Warning|warnings.warn|USDT' "$STAGE_OUT" | tail -n "$lines" >>"$FIGURES"
  local how="exit $rc"
  ((rc == 124)) && how="STOPPED at its time limit"
  note "-- $name: $how after $((SECONDS - began)) s"
}

install() {
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl/*.whl || return 1
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
  fi
  if ! timeout 120 "$PY" -m pip install -q --retries 1 --timeout 10 -e '.[test]'; then
    echo "pip install -e '.[test]' failed (no registry here?): running from the checkout"
  fi
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  "$PY" -c "import torch, ema_pytorch, tune_ired; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
}

note "tune_ired GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | tee -a "$FIGURES" "$LOG"
note "CPUs: $(nproc); python: $("$PY" --version 2>&1)"
install >"$STAGE_OUT" 2>&1
INSTALLED=$?
cat "$STAGE_OUT" >>"$LOG"
tail -n 2 "$STAGE_OUT" | tee -a "$FIGURES"
if ((INSTALLED != 0)); then
  note "install failed: see $LOG"
  exit 1
fi
export PYTHONPATH  # from install

stage figures 240 40 "$PY" -m benchmarks.bench_gpu --stages rates paper
stage tests 150 6 "$PY" -m pytest -q -p no:cacheprovider -k cuda tests/test_data.py tests/test_model.py \
  tests/test_model_fast.py tests/test_diffusion.py tests/test_mining.py tests/test_dcd.py tests/test_seed_batch.py \
  tests/test_train.py tests/test_speed.py
stage seeds 120 16 "$PY" -m benchmarks.bench_seeds --device cuda --sizes quick paper --seeds 1 2 4 8 16 \
  --variants eager --steps 20 --repeats 3
stage concurrency 90 10 "$PY" -m benchmarks.bench_gpu --stages concurrency
stage parity 90 6 "$PY" -m benchmarks.bench_gpu --stages parity
stage paper_run 120 6 "$PY" -m tune_ired.train --budget paper --set device=cuda --set compile=true \
  --set train_steps=300 --set eval_every=100 --out "$(mktemp -d)/paper_run"
stage seeds_compiled 120 8 "$PY" -m benchmarks.bench_seeds --device cuda --sizes quick --seeds 8 \
  --variants eager compiled --steps 20 --repeats 3
stage train 120 14 "$PY" -m benchmarks.bench_train --device cuda --sizes paper quick --precisions fp32 bf16 \
  --calls 10 --reps 5 --no-breakdown
if "$PY" -c "import ray, optuna" 2>/dev/null; then
  stage sweep 120 8 "$PY" -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --gpus-per-trial 0.25 \
    --storage "$(mktemp -d)"
else
  note ""
  note "== sweep: SKIPPED, Ray or Optuna is not installed (Ray's wheel, 79 MB, is over the lent machine's 64 MiB carry)"
fi
note ""
note "GPU check done in $((SECONDS - START)) s"
rm -f "$STAGE_OUT"
