#!/usr/bin/env bash
# One command for a machine with a CUDA GPU (within 5 minutes on one GPU): the torch and CUDA versions, the
# Part 1 default run's time, test accuracy and images per second on the GPU next to the same run on the CPU,
# whether a resumed CUDA run is identical to an uninterrupted one (the tests marked `gpu`), and a 2-GPU
# DDP run under torchrun when two GPUs are present. Every step has its own time limit; a step that runs
# over it is reported as such and the check goes on.
#
#   bash scripts/gpu-check.sh            # DATA_DIR=... names the Fashion-MNIST folder; OUT=... keeps the runs
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's code, whatever the venv points at
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
DATA=()
if [ -n "${DATA_DIR:-}" ]; then
    DATA=(--data-dir "$DATA_DIR")
    export SMALLCNN_FASHION="$DATA_DIR"  # the tests' real Fashion-MNIST (tests/conftest.py)
fi
start=$SECONDS

echo "== versions"
"$PY" -c '
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"{torch.cuda.device_count()} GPU(s): "
      + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
if not torch.cuda.is_available():
    raise SystemExit("error: torch finds no CUDA GPU here; this check needs one")
' || exit 2
gpus=$("$PY" -c 'import torch; print(torch.cuda.device_count())')

run() {  # run LIMIT_SECONDS NAME COMMAND...: one step, its output in $OUT/NAME.log, its wall time in
         # $OUT/NAME.seconds (start-up, data, training, test and plots), its status reported
    local limit=$1 name=$2 begin
    shift 2
    begin=$(date +%s.%N)
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local status=$?
    awk -v begin="$begin" -v end="$(date +%s.%N)" "BEGIN { print end - begin }" >"$OUT/$name.seconds"
    if [ $status -eq 124 ]; then echo "$name: stopped after ${limit} s (time limit); see $OUT/$name.log"
    elif [ $status -ne 0 ]; then echo "$name: failed (exit $status); the end of $OUT/$name.log:"; tail -5 "$OUT/$name.log"
    fi
    return $status
}

echo "== the Part 1 default run (smallcnn train fashion-mnist at its recipe): GPU, then CPU"
run 150 gpu-run "$PY" -m smallcnn train fashion-mnist --device cuda --out "$OUT/gpu" --overwrite ${DATA[@]+"${DATA[@]}"}
run 150 cpu-run "$PY" -m smallcnn train fashion-mnist --device cpu --out "$OUT/cpu" --overwrite ${DATA[@]+"${DATA[@]}"}
if [ "$gpus" -ge 2 ]; then
    echo "== DDP: torchrun --standalone --nproc-per-node 2 (one process per GPU)"
    run 60 ddp-run "$PY" -m torch.distributed.run --standalone --nproc-per-node 2 -m smallcnn train fashion-mnist \
        --device cuda --out "$OUT/ddp" --overwrite ${DATA[@]+"${DATA[@]}"}
else
    echo "== DDP: skipped (one GPU; a 2-GPU DDP run needs two)"
fi
"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'run':<10}{'device':<10}{'processes':>10}{'threads':>9}{'wall s':>8}{'train s':>9}{'test accuracy':>15}"
      f"{'images/s':>11}")
for name in ("gpu", "cpu", "ddp"):
    metrics = out / name / "metrics.json"
    if metrics.exists():
        m, wall = json.loads(metrics.read_text()), float((out / f"{name}-run.seconds").read_text())
        print(f"{name:<10}{m['device']:<10}{m.get('world_size', 1):>10}{m['threads']:>9}{wall:>8.1f}"
              f"{m['train_seconds']:>9.1f}{m['test_accuracy']:>15.2%}{m['images_per_second']:>11,.0f}")
print("wall s: the whole command (start-up, data, every epoch, test, plots); train s: the epochs alone")
EOF

echo "== the tests marked gpu (a deterministic CUDA run resumed after Ctrl-C is identical; --amp trains)"
run 70 gpu-tests "$PY" -m pytest -v -m gpu -p no:cacheprovider tests/test_distributed.py
grep -E "PASSED|FAILED|SKIPPED" "$OUT/gpu-tests.log" | sed 's/^tests\/test_distributed.py:://'
if grep -q "resumes_bit_for_bit PASSED" "$OUT/gpu-tests.log"; then
    echo "resume on the GPU: identical to the uninterrupted run (with --deterministic)"
else
    echo "resume on the GPU: NOT shown identical; see $OUT/gpu-tests.log"
fi
echo "== done in $((SECONDS - start)) s; the runs and logs are in $OUT"
