#!/usr/bin/env bash
# The device check of the GPU kernel layer (src/regionloss/_kernels): run on a CUDA machine
# from the project's root, with no network. Writes its logs to $OUT (default /tmp/out):
#   env.log            versions, GPU, what is installed
#   pytest_device.log  the tests that need a GPU (CuPy kernels, JAX formulations on the GPU)
#   pytest_kernels.log the rest of tests/kernels with JAX on the GPU (no CPU emulation)
#   bench_count.log / bench_count.json   bandwidth, CuPy counting, CuPy soft sums
#   bench_jax.log / bench_jax.json       JAX counting formulations, streaming update, torch
#   summary.txt        exit status and wall time of every step
# Every step has a hard timeout; the whole script stays under 6 minutes. Wheels in .whl/
# (array-api-compat, optional MONAI/smp, as benchmarks' peers) are installed to /tmp/site
# without network when present.
set -u
T0=$SECONDS
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONPATH=/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME TIMEOUT_S LOG COMMAND...
    local name=$1 limit=$2 log=$3
    shift 3
    local t=$SECONDS
    echo "### $name (limit ${limit} s, at $((SECONDS - T0)) s)"
    timeout --signal=TERM --kill-after=5 "$limit" "$@" > "$OUT/$log" 2>&1
    local rc=$?
    echo "$name: rc=$rc in $((SECONDS - t)) s (log $log)" | tee -a "$SUMMARY"
    tail -n 25 "$OUT/$log" | grep -v -i warning
}

if compgen -G ".whl/*.whl" > /dev/null; then
    step "install wheels" 20 install.log python3 -m pip install -q --no-index --no-deps \
        --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi

{
    nvidia-smi -L
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for m in ("numpy", "array_api_compat", "cupy", "jax", "torch", "torchmetrics", "hypothesis",
          "pytest", "xdist"):
    try:
        mod = importlib.import_module(m)
        print(m, getattr(mod, "__version__", "?"))
    except Exception as exc:  # noqa: BLE001
        print(m, "MISSING", type(exc).__name__, exc)
try:
    import jax
    print("jax devices", jax.devices())
except Exception as exc:  # noqa: BLE001
    print("jax devices: error", exc)
EOF
    command -v nvcc g++ || true
} > "$OUT/env.log" 2>&1
cat "$OUT/env.log"

XDIST=""
python3 -c "import xdist" 2>/dev/null && XDIST="-n 6"

# 1. the tests that need a GPU: CuPy kernels against the pure-CuPy reference over every
#    integer dtype / C / ignore_index / layout, soft sums and sum_over on CuPy, the JAX
#    formulations on the GPU (bfloat16 one-hot products exact)
step "pytest device" 90 pytest_device.log python3 -m pytest tests/kernels -q -p no:cacheprovider \
    -rfEs $XDIST -k on_device

# 2. the rest of tests/kernels with JAX on the GPU (the CPU emulation of the CUDA code and
#    the hypothesis sweep already ran on the CPU; nvcc runs where it is installed)
step "pytest kernels (JAX on GPU)" 55 pytest_kernels.log python3 -m pytest tests/kernels -q \
    -p no:cacheprovider -rfE $XDIST \
    -k "not on_device and not emulated and not jax_formulations_match_reference"

# 3. benchmarks: counting and sums on CuPy first (the figures that decide defaults), then
#    JAX formulations, the streaming update and torch
step "bench cupy" 70 bench_count.log python3 benchmarks/bench_gpu.py \
    --only bw count_cupy sums --json "$OUT/bench_count.json"
step "bench jax" 100 bench_jax.log python3 benchmarks/bench_gpu.py \
    --only bw count_jax stream torch --json "$OUT/bench_jax.json"

echo "total: $((SECONDS - T0)) s" | tee -a "$SUMMARY"
grep -E "x bound|Gpixel|skipped|Error|error" "$OUT"/bench_*.log | head -n 120
exit 0
