#!/bin/sh
# scripts/device-run.sh - on a lent GPU machine: unpacks the build that
# scripts/device-pack.sh made here, finds the CUDA, cuDNN and NCCL
# libraries that machine has, and runs the GPU tests or bench/gpu.sh.
# device-pack.sh copies this script to .device/run.sh beside its archive.
#
#   sh .device/run.sh [check|check-all|bench|env]...   (default: check)
#
#   check      the tests that use a GPU, with PIPETTE_REQUIRE_GPU=1
#   check-all  the whole of make check, with PIPETTE_REQUIRE_GPU=1
#              (tests/install.sh may fail there for want of pkg-config
#              or libinih's development link: not a GPU matter)
#   bench      bench/gpu.sh on the packed build
#   env        only unpack and show what the build links against
#
# make check is stopped after PIPETTE_DEVICE_CHECK_S seconds (480) and
# the bench after PIPETTE_DEVICE_BENCH_S (540), so that a hang still
# leaves time for the logs: run one long step per call.
#
# Logs go to $OUT (what the device tool brings back) when it is set. Each
# word is one step; a step that fails does not stop the next (device time
# is scarce: one call says all it can), and the exit status is 1 when any
# failed. The machine's own LD_LIBRARY_PATH is what bench/gpu.sh gives
# PyTorch: the libraries added here for pipette (a toolkit's cuBLAS ahead
# of PyTorch's own, say) must not change which ones PyTorch loads.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
archive=$here/pipette.tar.gz
[ -f "$archive" ] || archive=$here/../.device/pipette.tar.gz
if [ ! -f "$archive" ]; then
    echo "device-run: no pipette.tar.gz beside $0 (run scripts/device-pack.sh, carry .device)" >&2
    exit 2
fi
dir=$(tar -tzf "$archive" | head -n 1 | cut -d/ -f1-2)
dir=/${dir%/}
case $dir in
/?*/?*) ;;
*) echo "device-run: $archive does not hold one build directory ($dir)" >&2; exit 2 ;;
esac
out=${OUT:-}

echo "device-run: unpacking $archive into $dir"
rm -rf "$dir"
tar -C / -xzf "$archive"
echo "device-run: built from $(cat "$dir/.commit" 2>/dev/null || echo '?')"

# Where a library lives: the loader's cache, the CUDA toolkit, or
# PyTorch's wheels (cuDNN and NCCL are only there on the lent machines).
torch_venv=${PIPETTE_TORCH_VENV:-/opt/torch/.venv}
lib_dir() {
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -e "$d/$1" ] && { echo "$d"; return 0; }
    done
    if ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$1 "; then
        return 0 # the loader finds it by itself
    fi
    if [ -d "$torch_venv" ]; then
        f=$(find "$torch_venv" -name "$1" -path '*nvidia*' 2>/dev/null | head -n 1)
        [ -z "$f" ] || { dirname "$f"; return 0; }
    fi
    echo "device-run: $1 not found (toolkit, loader cache, $torch_venv)" >&2
    return 0
}
PIPETTE_TORCH_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
export PIPETTE_TORCH_LD_LIBRARY_PATH
path=$dir/.devlibs
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 \
    libnccl.so.2; do
    d=$(lib_dir "$lib")
    case ":$path:" in *":$d:"*) ;; *) [ -z "$d" ] || path=$path:$d ;; esac
done
LD_LIBRARY_PATH=$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
echo "device-run: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# Every plugin must load: a missing library makes the registry refuse the
# cuda plugin, and every GPU test fails with it. Say so once, up front.
missing=$(for so in "$dir"/plugins/.libs/*.so "$dir"/layers/.libs/*.so \
    "$dir"/src/.libs/pipette; do
    LD_LIBRARY_PATH=$dir/src/.libs:$LD_LIBRARY_PATH ldd "$so" 2>/dev/null |
        sed -n "s|^[[:space:]]*\([^ ]*\) => not found|$so: \1|p"
done)
if [ -n "$missing" ]; then
    echo "device-run: libraries not found:" >&2
    echo "$missing" >&2
    exit 1
fi
ldd "$dir/plugins/.libs/cuda.so" | grep -E 'cudart|cublas|cudnn|nccl' || true
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L || true; fi
# The GPU and the library versions loaded. Where cuDNN or NCCL is not the
# version the build's headers name (PyTorch's wheels against this
# machine's toolkit), tests/test_cuda_plugin's version checks fail: a
# mismatch to read here, not a GPU fault. The plugins call no function
# newer than cuDNN 9.0 or NCCL 2.19, so the rest runs either way.
"$dir/src/pipette" devices || true

gpu_tests="tests/test_cuda_plugin tests/test_device_cuda tests/test_layers_cuda \
tests/test_linear_optim_cuda tests/test_nccl_plugin tests/test_nccl_cuda \
tests/test_train_cuda tests/train-cli.sh tests/bench-gpu.sh"

# The tests' logs, back through $OUT.
save_logs() {
    [ -n "$out" ] || return 0
    mkdir -p "$out"
    [ ! -f "$dir/test-suite.log" ] || cp "$dir/test-suite.log" "$out/"
    (cd "$dir" && find tests -name '*.log' -o -name '*.trs') |
        tar -C "$dir" -czf "$out/test-logs.tar.gz" -T - 2>/dev/null || true
}

# A step's time limit where timeout(1) exists: the device tool stops a
# whole call at 10 minutes (and a GPU test's own watchdog waits as long),
# so a hang must end the step in time for the logs to come back.
bounded() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "$@"
    else
        shift
        "$@"
    fi
}

# make check with the tests given ("" for all), its output also in
# $OUT/check.log as it goes. Without make, the test programs one by one
# (the shell test needs make's environment).
run_check() {
    status=0
    if command -v make >/dev/null 2>&1; then
        log=${out:-$dir}/check.log
        mkdir -p "$(dirname "$log")"
        {
            rc=0
            (cd "$dir" && PIPETTE_REQUIRE_GPU=1 \
                bounded "${PIPETTE_DEVICE_CHECK_S:-480}" make check VERBOSE=1 \
                ${1:+TESTS="$1"}) || rc=$?
            echo "$rc" >"$dir/.check-status"
        } 2>&1 | tee "$log"
        status=$(cat "$dir/.check-status")
        [ "$status" -ne 124 ] ||
            echo "device-run: make check stopped after ${PIPETTE_DEVICE_CHECK_S:-480} s"
        if [ -f "$dir/test-suite.log" ]; then
            sed -n 's/^# \(PASS\|FAIL\|SKIP\|ERROR\|XFAIL\|XPASS\): *\([0-9]*\)$/\1 \2/p' \
                "$dir/test-suite.log" | tr '\n' ' '
            echo
        fi
    else
        echo "device-run: no make here: running the test programs directly"
        for t in ${1:-$gpu_tests}; do
            case $t in *.sh) echo "SKIP: $t (needs make's environment)"; continue ;; esac
            rc=0
            (cd "$dir" && unset PIPETTE_PLUGIN_PATH &&
                PIPETTE_REQUIRE_GPU=1 "./$t") >"$dir/$t.log" 2>&1 || rc=$?
            cat "$dir/$t.log"
            if [ "$rc" -eq 0 ]; then echo "PASS: $t"; else echo "FAIL: $t ($rc)"; status=1; fi
        done
    fi
    save_logs
    return "$status"
}

run_bench() {
    status=0
    if [ -n "$out" ]; then
        mkdir -p "$out"
        # The log survives a run stopped at the call's limit.
        bounded "${PIPETTE_DEVICE_BENCH_S:-540}" sh "$dir/bench/gpu.sh" "$dir" 2>&1 |
            tee "$out/gpu-bench.log" || status=$?
        # tee's status hides the script's: read it from the summary
        # (nothing measured: no GPU answered, a failure here).
        ! grep -q '^bench/gpu.sh: \(FAILED\|nothing measured\)' \
            "$out/gpu-bench.log" || status=1
    else
        bounded "${PIPETTE_DEVICE_BENCH_S:-540}" sh "$dir/bench/gpu.sh" "$dir" ||
            status=$?
    fi
    return "$status"
}

[ $# -gt 0 ] || set -- check
failed=
for step in "$@"; do
    echo
    echo "== device-run: $step"
    rc=0
    case $step in
    check) run_check "$gpu_tests" || rc=$? ;;
    check-all) run_check "" || rc=$? ;;
    bench) run_bench || rc=$? ;;
    env) ;;
    *) echo "device-run: unknown step '$step' (check, check-all, bench, env)" >&2; exit 2 ;;
    esac
    [ "$rc" -eq 0 ] || failed="$failed $step"
done
echo
if [ -n "$failed" ]; then
    echo "device-run: FAILED:$failed"
    exit 1
fi
echo "device-run: all steps passed ($*)"
