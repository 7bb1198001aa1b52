#!/bin/sh
# bench/cpu-torch.sh - one CPU rank against single-threaded PyTorch. Two
# models: the MLP of bench/cpu-pipeline.sh (8 linear+relu layers of width
# 512, batch 512, SGD) and the character model of examples/char-*.ini
# (embedding, hidden linear+tanh+layernorm, 256 logits; 48 windows of 32
# characters, AdamW). Each is trained by pipette on one CPU rank, the
# whole batch as one micro-batch, in FP32, and by PyTorch eager on the
# CPU with one thread, from the same model file (bench/torch_reference.py
# --device cpu --threads 1), where PyTorch imports. Target (issue 14):
# pipette's step time at most 1.2x PyTorch's.
#
#   bench/cpu-torch.sh [PIPETTE]      (default: src/pipette of this tree)
#
# Each run times STEPS steps (default 30) after WARMUP (default 5) and
# takes their median; each model runs REPEAT times (default 3), pipette and
# PyTorch taking turns, and the run of median step time is reported.
# BASELINE=PATH/pipette runs another build right after each run of this
# one, and adds its step time and the change. PYTHON names the interpreter
# for PyTorch (default python3). pipette pins its rank to core 0; PyTorch
# is pinned there too where taskset exists. Prints a few lines about the
# machine and the BLAS that linear links, then a Markdown table.
set -eu
here=$(cd "$(dirname "$0")" && pwd -P)
pipette=${1:-$here/../src/pipette}
python=${PYTHON:-python3}
steps=${STEPS:-30}
warmup=${WARMUP:-5}
repeat=${REPEAT:-3}
baseline=${BASELINE:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The MLP, as bench/cpu-pipeline.sh writes it, on one rank.
{
    echo "[model]"
    echo "name = mlp"
    echo "input = 512"
    for i in 1 2 3 4 5 6 7 8; do
        printf '[layer fc%d]\ntype = linear\nunits = 512\n' "$i"
        printf '[layer act%d]\ntype = relu\n' "$i"
    done
    cat <<INI
[layer out]
type = linear
units = 16
[layer loss]
type = softmax_xent
[pipeline]
schedule = 1f1b
devices = cpu
microbatches = 1
[train]
batch = 512
steps = $((warmup + steps))
log_every = 1
optimizer = sgd
lr = 0.01
[data]
source = synthetic
classes = 16
features = 512
INI
} >"$work/mlp.ini"

# The character model of examples/char-1f1b.ini, on one rank.
sed -e 's/^name = .*/name = char/' \
    -e 's/^devices = .*/devices = cpu/' \
    -e 's/^microbatches = .*/microbatches = 1/' \
    -e "s/^steps = .*/steps = $((warmup + steps))/" \
    -e 's/^log_every = .*/log_every = 1/' \
    -e "s|^path = corpus.txt|path = $here/../examples/corpus.txt|" \
    "$here/../examples/char-1f1b.ini" >"$work/char.ini"

# The median of the numbers on standard input, one a line.
median_of() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# pipette_ms PIPETTE MODEL: the median step time after the warm-up.
pipette_ms() {
    "$1" train "$work/$2.ini" >"$work/log"
    batch=$(sed -n 's/^batch = \([0-9]*\).*/\1/p' "$work/$2.ini")
    awk -v b="$batch" -v w="$warmup" \
        '$1 == "step" && $2 > w { printf "%.3f\n", 1000 * b / $5 }' \
        "$work/log" | median_of
}

# torch_ms MODEL: PyTorch's median step time, or "skipped".
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
torch_ms() {
    if ! "$python" -c "import torch" >/dev/null 2>&1; then
        echo skipped
        return
    fi
    $pin "$python" "$here/torch_reference.py" --device cpu --threads 1 \
        --steps "$steps" --warmup "$warmup" "$work/$1.ini" >"$work/torch"
    sed -n 's/^RESULT .*step_ms=\([0-9.]*\).*/\1/p' "$work/torch"
}

for rep in $(seq "$repeat"); do
    for m in mlp char; do
        echo "$m $(pipette_ms "$pipette" "$m")" >>"$work/runs"
        [ -z "$baseline" ] ||
            echo "$m $(pipette_ms "$baseline" "$m")" >>"$work/base"
        echo "$m $(torch_ms "$m")" >>"$work/torch-runs"
    done
done

# The run of median time of model $1 in file $2 (a time, or "skipped").
median() {
    awk -v m="$1" '$1 == m { print $2 }' "$2" | sort -g |
        awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }'
}

# What the run was: the date, the commit, the CPU and linear's BLAS.
linear=$(dirname "$pipette")/../layers/.libs/linear.so
blas=$(ldd "$linear" 2>/dev/null | awk '$1 ~ /^lib(open|c)?blas|^libblis|^libmkl/ {
    print $1 " (" $3 ")"; exit }')
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "date: $(date -u +%Y-%m-%d), commit: $commit"
echo "cpu: $cpu, $(nproc) cores"
echo "linear's BLAS: ${blas:-none (pipette's own loops)}"
if ! "$python" -c "import torch" >/dev/null 2>&1; then
    echo "PyTorch not importable ($python): skipped"
fi
echo
extra="" rule=""
[ -z "$baseline" ] || { extra=" baseline ms | change |"; rule="---|---|"; }
echo "| model | pipette ms/step | PyTorch 1 thread ms/step | pipette / PyTorch |$extra"
echo "|---|---|---|---|$rule"
for m in mlp char; do
    ms=$(median "$m" "$work/runs")
    torch=$(median "$m" "$work/torch-runs")
    then_ms=""
    [ -z "$baseline" ] || then_ms=$(median "$m" "$work/base")
    awk -v m="$m" -v ms="$ms" -v t="$torch" -v then="$then_ms" 'BEGIN {
        if (t == "skipped")
            printf "| %s | %.1f | skipped | - |", m, ms
        else
            printf "| %s | %.1f | %.1f | %.2fx |", m, ms, t, ms / t
        if (then != "")
            printf " %.1f | %+.1f%% |", then, 100 * (ms / then - 1)
        printf "\n" }'
done
