#!/bin/sh
# tests/cli.sh - the pipette command: global options, exit statuses, the
# plugins listing (with refusals), check on the shipped example, devices.
. "${srcdir:-.}/tests/lib.sh"
examples="${srcdir:-.}/examples"

run "$PIPETTE" --version
expect_status 0 "--version"
expect_out '^pipette [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI [0-9]+\.[0-9]+\)$' "--version"

run "$PIPETTE" --help
expect_status 0 "--help"
expect_out '^usage: pipette' "--help"
for cmd in plugins check devices; do
    run "$PIPETTE" $cmd --help
    expect_status 0 "$cmd --help"
    expect_out "^usage: pipette $cmd" "$cmd --help"
done

run "$PIPETTE"
expect_status 2 "no command"
run "$PIPETTE" frobnicate
expect_status 2 "unknown command"
expect_err "unknown command 'frobnicate'" "unknown command"
run "$PIPETTE" check
expect_status 2 "check without a file"
run "$PIPETTE" check --bogus x.ini
expect_status 2 "check with an unknown option"
run "$PIPETTE" plugins extra
expect_status 2 "plugins with an argument"
run "$PIPETTE" devices --bogus
expect_status 2 "devices with an unknown option"

# The build tree's plugins, without any install.
run "$PIPETTE" plugins
expect_status 0 "plugins"
for name in linear relu softmax_xent; do
    expect_out "^layer +$name +2\.3 +$PP_BUILDDIR/layers/\.libs/$name\.so$" "plugins lists $name"
done
expect_out "^transport +peer +2\.3 +$PP_BUILDDIR/plugins/\.libs/peer\.so$" "plugins lists the peer transport"
expect_out "^device +cpu +2\.3 +built into libpipette$" "plugins lists the built-in cpu device"
# Each plugin's keys, with what they take.
expect_out "^ +units: an integer from 1 to 16777216, required; output features$" "plugins shows linear's units key"
expect_out "^ +rate: a number from 0 to 1, default 0\.1; probability of zeroing an element, below 1$" "plugins shows dropout's rate key"
if [ "$PP_HAVE_CUDA" = yes ]; then
    expect_out "^device +cuda +2\.3 +$PP_BUILDDIR/plugins/\.libs/cuda\.so$" "plugins lists the CUDA-compiled plugin"
    if [ -n "$(find "$PP_BUILDDIR/plugins/.libs" -name nccl.so 2>/dev/null)" ]; then
        expect_out "^transport +nccl +2\.3 +$PP_BUILDDIR/plugins/\.libs/nccl\.so$" "plugins lists the nccl transport"
    fi
fi

# Nothing built needs the CUDA driver library (libcuda.so): it exists only
# where a GPU driver is installed, and a plugin that needed it would fail
# to load on the machines that have no GPU instead of saying so.
if command -v readelf >/dev/null 2>&1; then
    for so in "$PP_BUILDDIR"/src/.libs/libpipette.so "$PP_BUILDDIR"/layers/.libs/*.so "$PP_BUILDDIR"/plugins/.libs/*.so; do
        [ -f "$so" ] || continue
        if readelf -d "$so" | grep -q 'NEEDED.*\[libcuda\.so'; then
            fail "$so needs libcuda.so"
        fi
    done
fi

# Broken plugins on the path: listed as refused, exit 1, good ones still
# listed.
PIPETTE_PLUGIN_PATH=$TEST_PLUGIN_DIR run "$PIPETTE" plugins
expect_status 1 "plugins with broken ones on the path"
expect_out "^layer +good_layer " "good plugin listed beside broken ones"
for name in no_descriptor bad_magic abi_major abi1_layer abi_minor bad_size bad_kind empty_name misnamed no_ops unresolved no_create_job; do
    expect_err "^pipette: refused $TEST_PLUGIN_DIR/$name\.so: " "refusal of $name"
done
expect_err "refused $TEST_PLUGIN_DIR/misnamed\.so: layer plugin is named 'other_name'" "misnamed message"
expect_err "refused $TEST_PLUGIN_DIR/abi1_layer\.so: built for plugin ABI 1\.3, this pipette has ABI 2\.3 \(major versions differ\): rebuild the plugin against pipette [0-9.]+ \(pipette/plugin\.h says what changed since\)$" "a 1.x plugin refused, told where to read"

# A plugin on PIPETTE_PLUGIN_PATH shadows the build tree's of that name.
mkdir -p "$tmp/override/layers"
cp "$PP_BUILDDIR/layers/.libs/relu.so" "$tmp/override/layers/"
PIPETTE_PLUGIN_PATH=$tmp/override run "$PIPETTE" plugins
expect_status 0 "plugins with an override"
expect_out "^layer +relu .*$tmp/override/layers/relu\.so$" "override listed first"
expect_out "^layer +relu .*$PP_BUILDDIR/layers/\.libs/relu\.so \(shadowed\)$" "build tree's relu shadowed"

# A file that is not a shared object at all.
mkdir -p "$tmp/junk"
echo "not an ELF file" > "$tmp/junk/junk.so"
PIPETTE_PLUGIN_PATH=$tmp/junk run "$PIPETTE" plugins
expect_status 1 "plugins with a non-ELF file"
expect_err "refused $tmp/junk/junk\.so: cannot load: .*try 'ldd $tmp/junk/junk\.so'\)$" "dlopen failure with hint"

# The example checks out.
run "$PIPETTE" check "$examples/mlp.ini"
expect_status 0 "check mlp.ini"
expect_out "^$examples/mlp\.ini: OK$" "check mlp.ini says OK"
expect_out "model mlp: input 2 \(float\), 6 layers, 4612 parameters" "check mlp.ini summary"
expect_out "^  fc1 +linear +64 +192 +0  input$" "fc1 row, its stage and inputs"
expect_out "^  loss +softmax_xent +loss +0 +1  out$" "loss row"
expect_out "pipeline: 2 ranks \(cpu, cpu\)" "pipeline summary"
# GPT-2 small, in under 80 lines: 12 blocks of [repeat], 124M parameters
# (its head tied to the token table, counted once), the last block's
# names as the copies get them, and 4 stages cut by FLOPs.
[ "$(wc -l <"$examples/gpt2-124m.ini")" -lt 80 ] ||
    fail "gpt2-124m.ini has 80 lines or more"
# Its ranks are GPUs: a build without the cuda plugin checks it on CPU
# ranks instead (the same layers, stages and parameters).
gpt2="$examples/gpt2-124m.ini"
if [ "$PP_HAVE_CUDA" != yes ]; then
    sed 's/^devices = cuda:0\*4$/devices = cpu*4/' "$gpt2" >"$tmp/gpt2-124m.ini"
    gpt2="$tmp/gpt2-124m.ini"
fi
run "$PIPETTE" check "$gpt2"
expect_status 0 "check gpt2-124m.ini"
expect_out "^  h\.11\.res_2 +add +1024x768 +0 +2  h\.11\.mlp, h\.11\.res_1$" "the twelfth block's last layer"
expect_out "^  lm_head +linear +1024x50257 +0 +3  ln_f; weight from wte\.weight$" "the tied head on the last stage"
expect_out "model \(unnamed\): input 1024 \(int\), 112 layers, 124439808 parameters" "GPT-2 small's parameters"
# A [repeat] group: check lists every copy's layers, under the names the
# copies get, the name column as wide as the longest.
cat >"$tmp/blocks.ini" <<'EOF'
[model]
input = 8
[repeat blocks]
count = 12
[layer blocks.ln]
type = layernorm
[layer blocks.mlp_c_proj]
type = linear
units = 8
[layer blocks.res]
type = add
inputs = blocks.mlp_c_proj, blocks
[layer loss]
type = mse
EOF
run "$PIPETTE" check "$tmp/blocks.ini"
expect_status 0 "check of a [repeat] group"
expect_out "model \(unnamed\): input 8 \(float\), 37 layers, " "36 layers in 12 copies, and the loss"
expect_out "^  layer {16}type  " "the name column's heading"
expect_out "^  blocks\.0\.ln {10}layernorm .*  input$" "copy 0 takes the input"
expect_out "^  blocks\.11\.mlp_c_proj linear .*  blocks\.11\.ln$" "copy 11's layers"
expect_out "^  blocks\.11\.res {8}add .*  blocks\.11\.mlp_c_proj, blocks\.10\.res$" "copy 11 takes copy 10's last"
expect_out "^  loss {17}mse .*  blocks\.11\.res$" "after the group"
run "$PIPETTE" check -q "$examples/mlp.ini"
expect_status 0 "check -q"
expect_no_out "check -q"

# GPU ranks need the cuda device plugin (not a GPU: check runs anywhere).
cat >"$tmp/gpu.ini" <<'EOF'
[model]
input = 8
[layer fc]
type = linear
units = 3
[layer loss]
type = softmax_xent
[pipeline]
devices = cuda:0, cuda:1
EOF
run "$PIPETTE" check "$tmp/gpu.ini"
if [ "$PP_HAVE_CUDA" = yes ]; then
    expect_status 0 "check of a GPU model with the cuda plugin built"
    expect_out "pipeline: 2 ranks \\(cuda:0, cuda:1\\)" "GPU ranks listed"
    # Two GPUs: auto takes nccl where it is built (peer otherwise) for a
    # schedule whose receivers take messages in send order...
    if [ -n "$(find "$PP_BUILDDIR/plugins/.libs" -name nccl.so 2>/dev/null)" ]; then
        between=nccl
    else
        between=peer
    fi
    expect_out "^  transport: $between 0->1 1->0$" "two GPUs: $between under auto"
    # ...and peer for zb-v's direction 0->1, whose messages rank 1 takes
    # in another order than rank 0 sends them; naming nccl is an error.
    cat >"$tmp/gpu-v.ini" <<'EOF'
[model]
input = 8
[layer fc1]
type = linear
units = 8
[layer fc2]
type = linear
units = 8
[layer fc3]
type = linear
units = 3
[layer loss]
type = softmax_xent
[pipeline]
devices = cuda:0, cuda:1
schedule = zb-v
stages_per_rank = 2
microbatches = 4
EOF
    run "$PIPETTE" check "$tmp/gpu-v.ini"
    expect_status 0 "check of zb-v on two GPUs"
    if [ "$between" = nccl ]; then
        expect_out "^  transport: peer 0->1; nccl 1->0$" "zb-v on two GPUs: peer only where the order differs"
    else
        expect_out "^  transport: peer 0->1 1->0$" "zb-v on two GPUs: peer"
    fi
    printf 'transport = nccl\n' >>"$tmp/gpu-v.ini"
    run "$PIPETTE" check "$tmp/gpu-v.ini"
    expect_status 2 "check of zb-v with transport = nccl"
    expect_err "^$tmp/gpu-v\\.ini:19: \\[pipeline\\] transport: nccl delivers messages in the order they are sent, and under schedule zb-v rank 1 receives rank 0's in another order: use transport = auto or peer$" "nccl refused for zb-v's order"
else
    expect_status 2 "check of a GPU model without the cuda plugin"
    expect_err "^$tmp/gpu\\.ini:9: \\[pipeline\\] devices: cuda:0 needs the cuda device plugin: no device plugin named 'cuda'" "cuda plugin missing"
fi

# plugin_path in a model file: relative to the file, searched first.
mkdir -p "$tmp/model/plugins/layers"
cp "$TEST_PLUGIN_DIR/good_layer.so" "$tmp/model/plugins/layers/"
cat >"$tmp/model/own.ini" <<'EOF'
[model]
input = 8
plugin_path = plugins
[layer mine]
type = good_layer
[layer fc]
type = linear
units = 3
EOF
run "$PIPETTE" check "$tmp/model/own.ini"
expect_status 0 "check of a model with its own plugin_path"
expect_out "^  mine +good_layer +8 +0 +0  input$" "plugin from plugin_path used"

run "$PIPETTE" check "$tmp/does-not-exist.ini"
expect_status 2 "check of a missing file"
expect_err "does-not-exist\.ini: cannot open" "missing file message"

# devices answers with or without a GPU; without one it says why.
run "$PIPETTE" devices
expect_status 0 "devices"
expect_out "^CPU" "devices lists the CPU"

finish
