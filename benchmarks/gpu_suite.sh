#!/usr/bin/env bash
# trusteq's GPU suite: one prepared script for one CUDA GPU, about 10 minutes once installed.
#
#   bash benchmarks/gpu_suite.sh [RESULTS_DIR]        # default: $OUT if set, else gpu_results/
#   SKIP_INSTALL=1 bash benchmarks/gpu_suite.sh        # the GPU stack is already installed
#   SKIP_QUICKSTART=1 / SKIP_EXPLAIN=1 / SKIP_ATTACK=1 / SKIP_KNN=1 / SKIP_PAPER=1 / WITH_QA=1
#
# It (1) installs the GPU stack into the project's venv (a CUDA torch build, then faiss-gpu in
# place of faiss-cpu: the two ship the same `faiss` module and must never be installed together),
# (2) runs the gpu-marked tests, the quick-start on the GPU (`trainer=gpu`), the explainer and
# attack benchmarks, the kNN benchmark at N = 100k and 1M (exact and IVF on the GPU), and
# benchmarks/paper_scale.py on CUDA, and (3) writes every result as JSON under RESULTS_DIR, with
# `suite.json` naming the device (nvidia-smi) beside each step's seconds and exit code.
#
# Needs: an NVIDIA driver for CUDA 12.x, Python 3.11, `make setup` done (or SKIP_INSTALL=1 with
# an equivalent venv), and a package index (PyPI, the PyTorch CUDA index) for step (1). Nothing
# is fetched from model or data hubs: the quick-start uses the offline data and weights.
# Not run in the session that wrote it (no GPU was lent): numbers come from its first real run.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS="${1:-${OUT:-gpu_results}}"
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
PY="${PY:-.venv/bin/python}"
BIN="$(dirname "$PY")"
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cu128}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export TRUSTEQ_ROOT="${TRUSTEQ_ROOT:-$PWD}"
LOG="$RESULTS/suite.log"
: >"$LOG"
STEPS="$RESULTS/steps.jsonl"
: >"$STEPS"

device_name() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1
}

step() {  # step NAME COMMAND...: run, time, record {name, seconds, rc, device}
  local name="$1"; shift
  echo "=== $name: $*" | tee -a "$LOG"
  local started=$SECONDS
  "$@" >>"$LOG" 2>&1
  local rc=$?
  local seconds=$((SECONDS - started))
  printf '{"step": "%s", "seconds": %d, "rc": %d, "device": "%s"}\n' \
    "$name" "$seconds" "$rc" "$(device_name)" | tee -a "$STEPS"
  return 0
}

if [ -z "${SKIP_INSTALL:-}" ]; then
  # CUDA torch at the project's pinned version, then faiss-gpu in place of faiss-cpu.
  step install_torch "$PY" -m pip install -q --index-url "$TORCH_INDEX" "torch==2.13.0"
  step uninstall_faiss_cpu "$PY" -m pip uninstall -y faiss-cpu
  step install_faiss_gpu "$PY" -m pip install -q -c constraints.txt "faiss-gpu==1.15.1"
fi

"$PY" - >"$RESULTS/environment.json" 2>>"$LOG" <<'EOF'
import json, faiss, torch
print(json.dumps({
    "torch": torch.__version__, "cuda": torch.version.cuda,
    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
    "faiss": faiss.__version__, "faiss_gpus": faiss.get_num_gpus(),
}, indent=2))
EOF
cat "$RESULTS/environment.json" | tee -a "$LOG"

step gpu_tests "$PY" -m pytest -q -m gpu tests/scale/test_gpu_paths.py \
  --junitxml="$RESULTS/gpu_tests.xml"

if [ -z "${SKIP_QUICKSTART:-}" ]; then
  # The README's quick-start, on the GPU; its tables land in the Hydra run folder.
  step quickstart "$BIN/trusteq-study" experiment=quickstart trainer=gpu \
    hydra.run.dir="$RESULTS/quickstart"
fi

if [ -z "${SKIP_EXPLAIN:-}" ]; then
  step explain_speed "$PY" benchmarks/explain_speed.py --batch-size 256 \
    --json "$RESULTS/explain_speed.json"
fi

if [ -z "${SKIP_ATTACK:-}" ]; then
  step attack_speed "$PY" benchmarks/attack_speed.py --batch-size 256 \
    --json "$RESULTS/attack_speed.json"
fi

if [ -z "${SKIP_KNN:-}" ]; then
  step knn_100k "$PY" benchmarks/knn_scale.py --sizes 100000 --methods trusteq ivf \
    --data clustered --json "$RESULTS/knn_100k.json"
  step knn_1m "$PY" benchmarks/knn_scale.py --sizes 1000000 --methods trusteq ivf \
    --data clustered --json "$RESULTS/knn_1m.json"
fi

if [ -z "${SKIP_PAPER:-}" ]; then
  step paper_scale "$PY" benchmarks/paper_scale.py --device cuda --bf16 --batch 32 \
    --repeats 5 --threads 8 --lengths 64 384 512 --json "$RESULTS/paper_scale.json"
fi

if [ -n "${WITH_QA:-}" ]; then
  # The offline extractive-QA study (Disfl-QA); on the GPU the readers learn to answer.
  step disfl_qa_ood "$BIN/trusteq-study" experiment=disfl_qa_ood trainer=gpu \
    hydra.run.dir="$RESULTS/disfl_qa_ood"
fi

"$PY" - "$STEPS" "$RESULTS/suite.json" <<'EOF'
import json, sys
steps = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
json.dump({"steps": steps, "failed": [s["step"] for s in steps if s["rc"] != 0]},
          open(sys.argv[2], "w"), indent=2)
print(json.dumps(steps, indent=2))
EOF
echo "results: $RESULTS"
