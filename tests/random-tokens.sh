#!/bin/sh
# tests/random-tokens.sh - scripts/random-tokens.py writes llm.c's token
# format (uint16 ids, and uint32 past 65536), the same file for the same
# seed; the tokens source reads what it wrote into a GPT-2-style
# embedding (token and position tables) that trains on it; ids the model
# cannot take are refused, naming the file where the [data] vocab key is
# given. Skipped without python3.
. "${srcdir:-.}/tests/lib.sh"
script="${srcdir:-.}/scripts/random-tokens.py"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3"; exit 77; }

mkdir "$tmp/data"
run python3 "$script" --vocab 300 --seed 1 "$tmp/data/rand.bin" 5000
expect_status 0 "random-tokens.py"
expect_no_out "random-tokens.py"
[ "$(wc -c <"$tmp/data/rand.bin")" -eq $((1024 + 2 * 5000)) ] ||
    fail "rand.bin is $(wc -c <"$tmp/data/rand.bin") bytes, expected 1024 + 2 x 5000"
[ "$(od -A n -t d4 -N 12 "$tmp/data/rand.bin" | tr -s ' ')" = " 20240520 1 5000" ] ||
    fail "rand.bin's header: $(od -A n -t d4 -N 12 "$tmp/data/rand.bin")"
python3 "$script" --vocab 300 --seed 1 "$tmp/again.bin" 5000
cmp -s "$tmp/data/rand.bin" "$tmp/again.bin" || fail "the same seed wrote another file"
python3 "$script" --vocab 300 --seed 2 "$tmp/again.bin" 5000
cmp -s "$tmp/data/rand.bin" "$tmp/again.bin" && fail "seeds 1 and 2 wrote the same file"
run python3 "$script" "$tmp/none.bin" 0
expect_status 2 "a count of 0"
expect_err "count: must be at least 1" "a count of 0 named"

# model VOCAB DATA_KEYS: a model of token and position embeddings on
# $tmp/data/rand.bin, named by a path relative to the model file.
model() {
    cat >"$tmp/data/gpt.ini" <<EOF
[model]
input = 16
input_type = int

[layer embed]
type = embedding
vocab = $1
dim = 8
std = 0.02
positions = true

[layer norm]
type = layernorm

[layer head]
type = linear
units = $1
bias = false
share = weight:embed.weight

[layer loss]
type = softmax_xent

[pipeline]
devices = cpu*2
microbatches = 2

[train]
batch = 8
steps = 3
seed = 1
log_every = 1

[data]
source = tokens
path = rand.bin
length = 16
$2
EOF
}

# Trained from another directory: the path is the model file's neighbour.
# Random ids stay near ln 300 = 5.7.
model 300
run sh -c "cd / && timeout 120 '$PIPETTE' train '$tmp/data/gpt.ini'"
expect_status 0 "train on random tokens"
expect_out "^step +3  loss [0-9.]+ " "three steps"
loss=$(awk '$1 == "step" && $2 == 1 { print $4 }' "$tmp/out")
awk -v l="${loss:-0}" 'BEGIN { exit !(l > 5 && l < 6.5) }' ||
    fail "loss ${loss:-missing} at step 1, expected about ln 300 = 5.7"

# Ids beyond the embedding: refused before the first step, at the layer;
# with vocab in [data], at open, naming the file and the id.
model 200
run "$PIPETTE" train "$tmp/data/gpt.ini"
expect_status 2 "ids beyond the embedding"
expect_err "^$tmp/data/gpt\.ini:[0-9]+: \[layer embed\] the data source's ids go up to 299, this layer takes ids below 200" "the layer's refusal"
model 200 "vocab = 200"
run "$PIPETTE" train "$tmp/data/gpt.ini"
expect_status 2 "ids beyond [data] vocab"
expect_err "^$tmp/data/gpt\.ini:[0-9]+: \[data\] path: 'rand\.bin': id [0-9]+ \(at byte [0-9]+\) is 2[0-9][0-9], not below vocab = 200$" "the file's refusal"

# Past 65536 ids: uint32 ids, llm.c's Llama 3 format.
run python3 "$script" --vocab 70000 "$tmp/data/rand.bin" 3000
expect_status 0 "random-tokens.py --vocab 70000"
[ "$(od -A n -t d4 -N 12 "$tmp/data/rand.bin" | tr -s ' ')" = " 20240801 7 3000" ] ||
    fail "uint32 header: $(od -A n -t d4 -N 12 "$tmp/data/rand.bin")"
[ "$(wc -c <"$tmp/data/rand.bin")" -eq $((1024 + 4 * 3000)) ] ||
    fail "the uint32 file is $(wc -c <"$tmp/data/rand.bin") bytes"
model 70000
run timeout 120 "$PIPETTE" train --steps 1 "$tmp/data/gpt.ini"
expect_status 0 "train on uint32 ids"
expect_out "^step +1  loss " "a step on uint32 ids"
finish
