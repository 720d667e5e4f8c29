#!/usr/bin/env bash
# The GPU check of regionloss: run on a CUDA machine from the project's root, with no
# network, in one call (about 9 minutes). Writes its logs to $OUT (default /tmp/out):
#   env.log              versions, GPU, what is installed
#   pytest_device.log    the tests that need a GPU: CuPy counting / sums / fused-statistics
#                        kernels against their references, JAX formulations on the GPU
#   bench_cupy.log/.json bandwidth, CuPy counting, CuPy soft sums and fused statistics
#   peers.log/.json      regionloss against MONAI, smp and torchmetrics on the same tensors
#                        (the measurement kit in .device/, when it was carried)
#   bench_jax.log/.json  JAX counting formulations, the streaming update, torch soft sums
#   pytest_full.log      the whole suite with JAX on the GPU and CuPy present
#   summary.txt          exit status and wall time of every step
# Every step has a hard timeout, in the order of what matters most. Wheels in .whl/
# (array-api-compat, MONAI, smp) are installed to /tmp/site without network when present.
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
    tail -n "${TAIL:-12}" "$OUT/$log" | grep -v -i warning
}

if compgen -G ".whl/*.whl" > /dev/null; then
    step "install wheels" 30 install.log python3 -m pip install -q --no-index --no-deps \
        --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi

{
    nvidia-smi -L
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for m in ("numpy", "array_api_compat", "cupy", "jax", "torch", "torchmetrics", "monai",
          "hypothesis", "pytest", "xdist", "skimage", "scipy"):
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
} > "$OUT/env.log" 2>&1
cat "$OUT/env.log"

XDIST=""
python3 -c "import xdist" 2>/dev/null && XDIST="-n 8"

# 1. correctness on the device: every GPU kernel against its reference
TAIL=20 step "pytest device" ${T_DEVICE:-110} pytest_device.log python3 -m pytest tests -q \
    -p no:cacheprovider -rfEs $XDIST -k on_device

# 2. CuPy counting, sums and fused statistics, with the read-once bound
step "bench cupy" ${T_CUPY:-80} bench_cupy.log python3 benchmarks/bench_gpu.py \
    --only bw count_cupy sums --json "$OUT/bench_cupy.json"

# 3. regionloss against its peers on the same tensors (Dice fwd+bwd: JAX, torch vs MONAI
#    and smp, CuPy forward; per-class IoU: CuPy, JAX, torch vs torchmetrics)
if [ -f .device/gpu_bench.py ]; then
    TAIL=60 step "peers" ${T_PEERS:-120} peers.log python3 .device/gpu_bench.py \
        --only bw loss metrics --json "$OUT/peers.json"
fi

# 4. JAX formulations, the streaming update, torch soft sums
step "bench jax" ${T_JAX:-90} bench_jax.log python3 benchmarks/bench_gpu.py \
    --only bw count_jax stream torch --json "$OUT/bench_jax.json"

# 5. the whole suite with JAX on the GPU (the device tests already ran)
PXDIST=""
python3 -c "import xdist" 2>/dev/null && PXDIST="-n 12"
TAIL=30 step "pytest full" ${T_FULL:-130} pytest_full.log python3 -m pytest tests -q \
    -p no:cacheprovider -rfE $PXDIST -k "not on_device"

echo "total: $((SECONDS - T0)) s" | tee -a "$SUMMARY"
grep -hE "x bound|Gpixel" "$OUT"/bench_*.log | head -n 60
exit 0
