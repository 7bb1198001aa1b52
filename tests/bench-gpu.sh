#!/bin/sh
# tests/bench-gpu.sh - bench/gpu.sh --smoke: the GPU benchmark's script,
# programs and parsing work end to end at toy sizes, so that a session
# lent a GPU gets numbers instead of a script error. Runs on a GPU or the
# CUDA emulator (configure --enable-cuda-emulator); elsewhere it checks
# that the script says why nothing ran, then skips (77), or fails under
# PIPETTE_REQUIRE_GPU=1. The numbers are not judged: the benchmark's
# targets are for bench/RESULTS.md, not for a test.
. "${srcdir:-.}/tests/lib.sh"
gpu_sh="${srcdir:-.}/bench/gpu.sh"

if [ "$PP_HAVE_CUDA" != yes ]; then
    echo "built without CUDA: bench/gpu.sh has nothing to run"
    exit 77
fi

# Usage errors, and a build without the programs: a failed part fails the
# run (1), with the reason in the summary.
run sh "$gpu_sh" --bogus
expect_status 2 "gpu.sh --bogus"
expect_err "^usage: bench/gpu.sh \[--smoke\] \[BUILD\]$" "usage line"
run sh "$gpu_sh" --smoke "$tmp/missing"
expect_status 2 "gpu.sh on a missing build tree"
expect_err "no build tree at $tmp/missing" "names the missing tree"
mkdir "$tmp/empty"
run env PIPETTE_BENCH_PARTS="1 3" sh "$gpu_sh" --smoke "$tmp/empty"
expect_status 1 "gpu.sh on a tree without its programs"
expect_out "^  FAILED: part 1: .*/bench/linear_gpu is missing" "part 1 failure in the summary"
expect_out "^  FAILED: part 3: .*/bench/transfer_gpu is missing" "part 3 failure in the summary"
expect_out "^  part 2 skipped: not in PIPETTE_BENCH_PARTS" "part 2 left out"
expect_out "^bench/gpu.sh: FAILED$" "last line"

if "$PIPETTE" devices 2>/dev/null | grep -q '^GPU 0: pipette CUDA emulator'; then
    run sh "$gpu_sh" "$PP_BUILDDIR"
    expect_status 2 "gpu.sh without --smoke on the emulator"
    expect_err "built with the CUDA emulator .*use --smoke" "refuses to time the emulator"
fi

run timeout 600 sh "$gpu_sh" --smoke "$PP_BUILDDIR"
if [ "$status" -eq 77 ]; then
    expect_out "^  part 1 skipped: no GPU answers" "part 1 says why it skipped"
    expect_out "^  part 2 skipped: no GPU answers" "part 2 says why it skipped"
    expect_out "^  part 3 skipped: no GPU answers" "part 3 says why it skipped"
    expect_out "^  part 4 skipped: no GPU answers" "part 4 says why it skipped"
    expect_out "^bench/gpu.sh: nothing measured" "nothing measured"
    [ "$failures" -eq 0 ] || finish
    if [ "${PIPETTE_REQUIRE_GPU:-}" = 1 ]; then
        fail "no GPU answers and PIPETTE_REQUIRE_GPU=1"
        finish
    fi
    echo "no GPU answers: bench/gpu.sh --smoke skipped"
    exit 77
fi
expect_status 0 "gpu.sh --smoke"
for part in 1 2 3 4; do
    expect_out "^  part $part ran$" "part $part ran"
done
# Part 1: the three precisions.
expect_out "^linear 128x96 -> 64 \(FP32\): layer [0-9.]+ TFLOP/s, bare cuBLASLt [0-9.]+ TFLOP/s, [0-9.]+%$" "part 1 FP32 line"
expect_out "^linear 128x96 -> 64 \(TF32\): " "part 1 TF32 line"
expect_out "^linear 128x96 -> 64 \(BF16\): layer [0-9.]+ TFLOP/s, bare cuBLASLt [0-9.]+ TFLOP/s, [0-9.]+%$" "part 1 BF16 line"
# Part 2: every variant of both models in each precision in the table
# (fp32: 2, tf32: 1, bf16: 4 per model), the targets judged.
for prec in fp32:2 tf32:1 bf16:4; do
    want=$((${prec#*:} * 2))
    prec=${prec%:*}
    rows=$(grep -Ec "^\\| (mlp|char) \\| $prec \\| [14] \\| [18] \\| (auto|local) \\| [0-9.]+ \\| [0-9.]+ \\| [0-9.]+% \\| " "$tmp/out")
    [ "$rows" -eq "$want" ] || fail "part 2: $rows $prec rows in the table, expected $want"
done
for model in mlp char; do
    expect_out "^  $model \(fp32\): four stages within 10% of one stage: [0-9.]+ ms vs [0-9.]+ ms \([-+][0-9.]+%\)  (PASS|MISS)$" "part 2 $model fp32 stages target"
    expect_out "^  $model \(fp32\): one stage step time at most 1.00x PyTorch's: .*(PASS|MISS|SKIPPED)$" "part 2 $model fp32 PyTorch target"
    expect_out "^  $model \(tf32\): one stage [0-9.]+ ms, PyTorch [0-9.-]+ ms \(no target\)$" "part 2 $model tf32 reported"
    expect_out "^  $model \(bf16\): four stages within 5% of one stage: [0-9.]+ ms vs [0-9.]+ ms \([-+][0-9.]+%\)  (PASS|MISS)$" "part 2 $model bf16 stages target"
done
expect_out "^  mlp \(bf16\): one stage step time at most 1.00x PyTorch's: .*(PASS|MISS|SKIPPED)$" "part 2 mlp bf16 PyTorch target"
expect_out "^  char \(bf16\): one stage step time at most 0.90x PyTorch's: .*(PASS|MISS|SKIPPED)$" "part 2 char bf16 PyTorch target"
# Part 4: the GPT on one stage and on four, the targets judged (PyTorch's
# where it imports).
expect_out "^\| pipette, 1 stage \| [0-9.]+ \| [0-9]+ \| [0-9]+ \|$" "part 4 one stage"
expect_out "^\| pipette, 4 stages \| [0-9.]+ \| [0-9]+ \| [0-9]+ \|$" "part 4 four stages"
expect_out "^\| pipette, 1 stage, its own attention kernels \| [0-9.]+ \| [0-9]+ \| [0-9]+ \|$" "part 4 with pipette's attention kernels"
expect_out "^  four stages within 10% of one stage: [0-9.]+ ms vs [0-9.]+ ms \([-+][0-9.]+%\)  (PASS|MISS)$" "part 4 stages target"
expect_out "^  one stage tokens/s at least 1.0x PyTorch eager: .*(PASS|MISS|SKIPPED)$" "part 4 eager target"
expect_out "^  one stage tokens/s at least 0.8x torch.compile: .*(PASS|MISS|SKIPPED)$" "part 4 compile target"
# Part 3: the peer transport and the bare copy measured at both sizes.
for mib in 1 4; do
    expect_out "^ +$mib MiB +[0-9]+ +[0-9.]+ +[0-9.]+ +([0-9.]+|skipped)$" "part 3 at $mib MiB"
done
finish
