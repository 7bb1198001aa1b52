#!/bin/sh
# tests/gpt-reference.sh - pipette's GPT against the same GPT written
# again outside it (tests/gpt_reference.py), on 2 CPU ranks under 1F1B
# with clipping: the loss of the initial parameters and of those after 5
# steps against NumPy's float64 forward, where NumPy imports; and each
# of the 5 steps' losses against PyTorch's training from the same
# parameters, where PyTorch imports (usually the GPU machines: the test
# says which parts ran). Exit 77 without a python that imports NumPy.
. "${srcdir:-.}/tests/lib.sh"
ref="${srcdir:-.}/tests/gpt_reference.py"

# The interpreters to try, as bench/gpu.sh finds PyTorch's: $PYTHON, the
# GPU machines' /opt/torch/.venv, python3; and the libraries PyTorch was
# installed with.
torch_ld=${PIPETTE_TORCH_LD_LIBRARY_PATH-${LD_LIBRARY_PATH:-}}
first_with() { # first_with MODULE: the first interpreter that imports it
    for py in ${PYTHON:-} /opt/torch/.venv/bin/python python3; do
        if command -v "$py" >/dev/null 2>&1 &&
            env LD_LIBRARY_PATH="$torch_ld" "$py" -c "import $1" 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    return 1
}
np_py=$(first_with numpy) || { echo "no python with NumPy"; exit 77; }
"$np_py" "$ref" files "$tmp" || fail "gpt_reference.py files"
sed -i "s|^checkpoint = .*|checkpoint = $tmp/gpt.ckpt|" "$tmp/gpt.ini"

# The initial parameters, as a checkpoint: one step at lr 1e-30 moves
# none of them by a float32 ulp (the zeros by 1e-30).
sed "s/^lr = .*/lr = 1e-30/; s|^checkpoint = .*|checkpoint = $tmp/init.ckpt|" \
    "$tmp/gpt.ini" >"$tmp/init.ini"
run timeout 60 "$PIPETTE" train --steps 1 "$tmp/init.ini"
expect_status 0 "the initial parameters"
first=$(awk '$1 == "step" && $2 == 1 { print $4 }' "$tmp/out")
run timeout 60 "$PIPETTE" train --steps 5 "$tmp/gpt.ini"
expect_status 0 "5 steps of the GPT"
awk '$1 == "step" { print $4 }' "$tmp/out" >"$tmp/losses"
[ "$(wc -l <"$tmp/losses")" -eq 5 ] || fail "5 loss lines expected"
run timeout 60 "$PIPETTE" eval --checkpoint "$tmp/gpt.ckpt" --batches 1 -q "$tmp/gpt.ini"
expect_status 0 "eval of the trained GPT"
trained=$(sed -n 's/^eval: loss \([0-9.]*\),.*/\1/p' "$tmp/out")

# float32 against float64: within 1e-5 of the loss (about 100 ulp).
close() { # close GOT WANT RELATIVE
    awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN {
        d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= r * b + 2e-6) }'
}
for which in init:$first gpt:$trained; do
    ckpt=${which%%:*}
    got=${which#*:}
    want=$(env LD_LIBRARY_PATH="$torch_ld" "$np_py" "$ref" forward "$tmp" "$tmp/$ckpt.ckpt") ||
        fail "gpt_reference.py forward $ckpt.ckpt"
    echo "NumPy forward, $ckpt.ckpt: pipette $got, NumPy $want"
    close "$got" "$want" 1e-5 || fail "$ckpt.ckpt: pipette's loss $got, NumPy's $want"
done

# PyTorch's training from the same parameters: SGD with momentum and
# clipping, every step's loss within 1e-4 (float32 sums in other orders,
# carried through 5 updates).
rc=0
if torch_py=$(first_with torch); then
    env LD_LIBRARY_PATH="$torch_ld" "$torch_py" "$ref" train "$tmp" \
        "$tmp/init.ckpt" 5 >"$tmp/torch" 2>&1 || rc=$?
else
    echo "skipped: no python with PyTorch" >"$tmp/torch"
    rc=77
fi
if [ "$rc" -eq 77 ]; then
    echo "PyTorch part skipped: $(tail -n 1 "$tmp/torch")"
elif [ "$rc" -ne 0 ]; then
    fail "gpt_reference.py train exited $rc: $(tail -n 1 "$tmp/torch")"
else
    paste "$tmp/losses" "$tmp/torch" | while read -r a b; do
        echo "step loss: pipette $a, PyTorch $b"
        close "$a" "$b" 1e-4 || echo "differ $a $b"
    done >"$tmp/pairs"
    cat "$tmp/pairs"
    grep -q '^differ' "$tmp/pairs" && fail "PyTorch's losses differ from pipette's"
    echo "PyTorch part ran"
fi
finish
