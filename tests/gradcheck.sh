#!/bin/sh
# tests/gradcheck.sh - `pipette gradcheck`: every shipped layer passes, on
# the CPU and, where a GPU (or the CUDA emulator) answers, on the GPU
# against the CPU; each planted mistake of tests/plugins/bad_grad.c fails
# on the kernel that makes it; the errors a user hits are reported.
. "${srcdir:-.}/tests/lib.sh"
dir="${srcdir:-.}/tests/gradcheck"

# cuda_lines FILE: how many of its layers have a CUDA half.
for ini in layers mse attention; do
    run timeout 120 "$PIPETTE" gradcheck "$dir/$ini.ini"
    expect_status 0 "gradcheck $ini.ini"
    expect_out "^gradcheck: .*/$ini.ini: [0-9]+ tensors of [0-9]+ layers within their bounds$" "$ini.ini summary"
    expect_out "^  cpu  backward_input  " "$ini.ini: backward_input checked"
    expect_out "^  cpu  backward_weight weight +worst " "$ini.ini: backward_weight checked"
    expect_out "^  in bf16: the CPU against FP32, the GPU against the CPU$" "$ini.ini: bf16 checked"
    [ $ini != layers ] ||
        expect_out "^  cpu  backward_weight positions +worst " "layers.ini: embedding's position table checked"
    if grep -q "CUDA halves not checked" "$tmp/out"; then
        [ "${PIPETTE_REQUIRE_GPU:-0}" != 1 ] ||
            fail "$ini.ini: PIPETTE_REQUIRE_GPU=1, but the CUDA halves were not checked"
    else
        expect_out "^  cuda forward +y +worst " "$ini.ini: CUDA forward against the CPU"
        expect_out "^  cuda backward_input " "$ini.ini: CUDA backward_input"
        expect_out "^  cuda backward_weight " "$ini.ini: CUDA backward_weight"
    fi
done
run "$PIPETTE" gradcheck --layer norm --layer loss "$dir/layers.ini"
expect_status 0 "gradcheck --layer"
expect_out "^gradcheck: .*: [0-9]+ tensors of 2 layers within their bounds$" "two layers checked"

# The planted mistakes: the model is the bad_grad layer and a loss.
PIPETTE_PLUGIN_PATH="$TEST_PLUGIN_DIR"
export PIPETTE_PLUGIN_PATH
model() {
    printf '[model]\ninput = 3x4\n\n[layer affine]\ntype = bad_grad\nbug = %s\n\n[layer loss]\ntype = mse\n' "$1" >"$tmp/bad.ini"
}
model none
run "$PIPETTE" gradcheck "$tmp/bad.ini"
expect_status 0 "bad_grad without a bug"
for case in "scale:cpu  backward_input  input" \
            "overwrite:cpu  backward_input  input" \
            "weight:cpu  backward_weight weight" \
            "mixes:cpu  forward         y \(sample by sample\)"; do
    bug=${case%%:*}
    line=${case#*:}
    model "$bug"
    run "$PIPETTE" gradcheck "$tmp/bad.ini"
    expect_status 1 "bad_grad bug = $bug"
    expect_out "^  $line .*  FAIL$" "bug = $bug fails its kernel"
    expect_out "^gradcheck: .*: [1-9][0-9]* of [0-9]+ tensors beyond their bounds$" "bug = $bug summary"
done
# A looser bound lets the CPU half's 1% error through; where the GPU half
# (which is right) is checked too, the two halves now disagree.
model scale
run "$PIPETTE" gradcheck --tolerance 20 "$tmp/bad.ini"
if grep -q "CUDA halves not checked" "$tmp/out"; then
    expect_status 0 "--tolerance 20 accepts a 1% error"
else
    expect_status 1 "--tolerance 20, the halves 1% apart"
    expect_out "^  cpu  backward_input  input +worst 0\.[0-9]+ " "--tolerance 20 accepts the CPU half"
    expect_out "^  cuda backward_input  input .*  FAIL$" "the GPU half is not the CPU's"
    # A GPU half 1e-3 off its CPU half.
    model cuda
    run "$PIPETTE" gradcheck "$tmp/bad.ini"
    expect_status 1 "bad_grad bug = cuda"
    expect_out "^  cuda forward +y .*  FAIL$" "bug = cuda fails the CUDA forward"
fi
# A bf16 path that strays from the layer's FP32 one fails in bf16 alone.
for bug in none bf16; do
    printf '[model]\ninput = 6\n\n[layer twice]\ntype = bad_bf16\nbug = %s\n\n[layer loss]\ntype = mse\n' "$bug" >"$tmp/bf16.ini"
    run "$PIPETTE" gradcheck --layer twice "$tmp/bf16.ini"
    expect_out "^  cpu  forward +y \(sample by sample\) +worst 0 " "bad_bf16 $bug: FP32 forward passes"
    if [ $bug = none ]; then
        expect_status 0 "bad_bf16 without a bug"
        expect_out "^  cpu  forward +y +worst 0 " "bad_bf16: bf16 forward within its bound"
    else
        expect_status 1 "bad_bf16 bug = bf16"
        expect_out "^  cpu  forward +y +worst .*  FAIL$" "bug = bf16 fails the bf16 forward"
        expect_out "^  cpu  backward_input  input +worst 0 " "bug = bf16: its bf16 backward passes"
    fi
done
unset PIPETTE_PLUGIN_PATH

# What a user gets wrong.
run "$PIPETTE" gradcheck --layer nosuch "$dir/layers.ini"
expect_status 2 "unknown layer"
expect_err "^pipette gradcheck: .*layers.ini has no layer 'nosuch'$" "unknown layer named"
run "$PIPETTE" gradcheck
expect_status 2 "no file"
expect_err "no model file given" "no file named"
run "$PIPETTE" gradcheck --samples 0 "$dir/layers.ini"
expect_status 2 "--samples 0"
expect_err "^pipette gradcheck: --samples needs a number of at least 1$" "--samples named"
run "$PIPETTE" gradcheck "$dir/nosuch.ini"
expect_status 2 "missing file"
run "$PIPETTE" gradcheck --help
expect_status 0 "--help"
expect_out "^usage: pipette gradcheck " "usage"
finish
