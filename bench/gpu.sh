#!/bin/sh
# bench/gpu.sh - pipette on one GPU. Part 1 of the GPU benchmark: the
# `linear` layer's forward and backward (three GEMMs) at a size that fills
# the chip, beside bare cuBLAS on the same shapes in the same run; target
# at least 90% of bare cuBLAS. Part 2 (training steps of the MLP and the
# character model against PyTorch) needs GPU ranks in `pipette train`,
# which are not there yet: this script says so rather than pretend.
#
#   bench/gpu.sh [BUILD]        (default: this tree)
#
# Run on a machine with an NVIDIA GPU, cuDNN and NCCL on LD_LIBRARY_PATH.
set -eu
build=${1:-$(dirname "$0")/..}
bin="$build/bench/linear_gpu"
if [ ! -x "$bin" ]; then
    echo "bench/gpu.sh: $bin is missing: configure found no cuBLAS?" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
status=0
for size in "8192 8192 8192" "4096 4096 4096"; do
    # shellcheck disable=SC2086
    "$bin" $size 20 || status=$?
    # shellcheck disable=SC2086
    PIPETTE_TF32=1 "$bin" $size 20 || status=$?
done
echo "training steps on GPU ranks: not measured (pipette train runs cpu ranks only so far)"
exit "$status"
