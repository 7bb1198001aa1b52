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
expect_err_is "pipette: unknown command 'frobnicate'; 'pipette --help' lists them" "unknown command"
run "$PIPETTE" chek model.ini
expect_status 2 "a misspelt command"
expect_no_out "a misspelt command"
expect_err_is "pipette: unknown command 'chek'; did you mean 'check'?" "a misspelt command's hint"
run "$PIPETTE" trian model.ini
expect_err_is "pipette: unknown command 'trian'; did you mean 'train'?" "a transposition's hint"
run "$PIPETTE" check
expect_status 2 "check without a file"
run "$PIPETTE" check --bogus x.ini
expect_status 2 "check with an unknown option"
run "$PIPETTE" plugins extra
expect_status 2 "plugins with an argument"
run "$PIPETTE" devices --bogus
expect_status 2 "devices with an unknown option"

# A count past its range, 64 bits' included, is refused with the range,
# never taken as the largest.
big=99999999999999999999
range_refused() { # range_refused MESSAGE COMMAND...
    want=$1
    shift
    run "$@"
    expect_status 2 "$*"
    expect_no_out "$*"
    [ "$(head -n 1 "$tmp/err")" = "$want" ] || fail "$*: not refused with '$want'"
}
range_refused "pipette train: --steps needs a whole number, 1 to 9223372036854775807" \
    "$PIPETTE" train --steps $big "$examples/mlp.ini"
range_refused "pipette train: --timeout needs seconds, 1 to 86400" \
    "$PIPETTE" train --timeout $big "$examples/mlp.ini"
range_refused "pipette eval: --batches needs a whole number, 1 to 2147483647" \
    "$PIPETTE" eval --batches $big "$examples/mlp.ini"
range_refused "pipette check: --processes needs a whole number, 1 to 4096" \
    "$PIPETTE" check --processes $big "$examples/mlp.ini"
range_refused "pipette schedule: -m needs a whole number from 1 to 65536" \
    "$PIPETTE" schedule 1f1b -p 2 -m $big
# Steps within 64 bits, but not times the batch: sample i of a run is read
# by its 64-bit index.
range_refused "pipette train: --steps 9223372036854775807: steps of batch 256 overflow the 64-bit index of a sample: at most 36028797018963967 steps" \
    "$PIPETTE" train --steps 9223372036854775807 "$examples/mlp.ini"

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
# A data file's path is taken from the model file's directory, as the
# keys' help says (train-cli.sh names a missing one by that path).
expect_out "^ +path: a string, required; the file, relative to the model file's directory$" "text's path: from the model file's directory"
expect_out "^ +path: a string, required; the token file \(llm\.c's or PPTOKEN1\), relative to the model file's directory$" "tokens' path: from the model file's directory"
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
# Its tokens are the user's to make: check reads them as train would,
# and refuses the example alone. Beside it, 1025 ids in llm.c's format
# (magic 20240520, version 1, count 1025) are enough. Its ranks are GPUs:
# a build without the cuda plugin checks it on CPU ranks instead (the
# same layers, stages and parameters).
mkdir "$tmp/gpt2"
if [ "$PP_HAVE_CUDA" != yes ]; then
    sed 's/^devices = cuda:0\*4$/devices = cpu*4/' "$examples/gpt2-124m.ini" >"$tmp/gpt2/gpt2-124m.ini"
else
    cp "$examples/gpt2-124m.ini" "$tmp/gpt2/"
fi
run "$PIPETTE" check "$tmp/gpt2/gpt2-124m.ini"
expect_status 2 "check gpt2-124m.ini without its tokens"
expect_err "^$tmp/gpt2/gpt2-124m\.ini:[0-9]+: \[data\] path: cannot read '.*/tokens\.bin': No such file or directory$" "gpt2-124m.ini's tokens named"
{ printf '\210\330\064\001\001\000\000\000\001\004\000\000'
  head -c 3062 /dev/zero; } >"$tmp/gpt2/tokens.bin"
run "$PIPETTE" check "$tmp/gpt2/gpt2-124m.ini"
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
type = softmax_xent
[train]
batch = 4
[data]
source = synthetic
features = 8
classes = 8
EOF
run "$PIPETTE" check "$tmp/blocks.ini"
expect_status 0 "check of a [repeat] group"
expect_out "model \(unnamed\): input 8 \(float\), 37 layers, " "36 layers in 12 copies, and the loss"
expect_out "^  layer {16}type  " "the name column's heading"
expect_out "^  blocks\.0\.ln {10}layernorm .*  input$" "copy 0 takes the input"
expect_out "^  blocks\.11\.mlp_c_proj linear .*  blocks\.11\.ln$" "copy 11's layers"
expect_out "^  blocks\.11\.res {8}add .*  blocks\.11\.mlp_c_proj, blocks\.10\.res$" "copy 11 takes copy 10's last"
expect_out "^  loss {17}softmax_xent .*  blocks\.11\.res$" "after the group"
run "$PIPETTE" check -q "$examples/mlp.ini"
expect_status 0 "check -q"
expect_no_out "check -q"

# Routing, verifying and simulating are near-linear in micro-batches: the
# most a file may ask for, 65536, on 4 ranks of 2 stages each under zb-v
# (split backwards), checks in well under the bound (a second or so).
cat >"$tmp/many.ini" <<'EOF'
[model]
input = 8
[repeat h]
count = 8
[layer h.fc]
type = linear
units = 8
[layer loss]
type = softmax_xent
[pipeline]
devices = cpu*4
schedule = zb-v
stages_per_rank = 2
microbatches = 65536
[train]
batch = 131072
[data]
source = synthetic
task = mixture
classes = 8
features = 8
EOF
run timeout 20 "$PIPETTE" check "$tmp/many.ini"
expect_status 0 "check of 65536 micro-batches within 20 s"
expect_out "zb-v, 65536 micro-batches" "65536 micro-batches checked"

# GPU ranks need the cuda device plugin (not a GPU: check runs anywhere).
cat >"$tmp/gpu.ini" <<'EOF'
[model]
input = 8
[layer fc]
type = linear
units = 3
[layer loss]
type = softmax_xent
[train]
batch = 4
[data]
source = synthetic
features = 8
classes = 3
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
[train]
batch = 4
[data]
source = synthetic
features = 8
classes = 3
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
    expect_err "^$tmp/gpu-v\\.ini:25: \\[pipeline\\] transport: nccl delivers messages in the order they are sent, and under schedule zb-v rank 1 receives rank 0's in another order: use transport = auto or peer$" "nccl refused for zb-v's order"
else
    expect_status 2 "check of a GPU model without the cuda plugin"
    expect_err "^$tmp/gpu\\.ini:15: \\[pipeline\\] devices: cuda:0 needs the cuda device plugin: no device plugin named 'cuda'" "cuda plugin missing"
fi

# A model file cannot make pipette run code (pipette.ini(5), PLUGINS).
# Each marker plugin appends its name to $PP_TEST_MARKER when opened.
PP_TEST_MARKER=$tmp/marker
export PP_TEST_MARKER
markers="$PP_BUILDDIR/tests/plugins"
name_rule="plugins are found by name, never by path, and a name is 1 to 64 lowercase letters, digits, '_', '-' or '.', starting with a letter or digit, without '..'"
# expect_stderr WHAT: stderr is exactly the lines of $tmp/want.
expect_stderr() {
    cmp -s "$tmp/want" "$tmp/err" ||
        fail "$1: stderr differs: $(diff "$tmp/want" "$tmp/err" | head -n 5)"
}
expect_unmarked() {
    [ ! -e "$PP_TEST_MARKER" ] || fail "$1: opened $(cat "$PP_TEST_MARKER")"
    rm -f "$PP_TEST_MARKER"
}

# A name that is a path reaches no file, under check or train, allowed
# or not: evil.so in a directory of its own, reached from / up any dir.
mkdir -p "$tmp/x"
cp "$markers/evil/.libs/evil.so" "$tmp/x/"
evil="../../../../../../../../../../../../../../../..$tmp/x/evil"
sed "s|^type = linear$|type = $evil|" "$examples/mlp.ini" >"$tmp/evil.ini"
line=$(grep -n "^type = \.\./" "$tmp/evil.ini" | head -n 1 | cut -d: -f1)
printf "%s\n" "$tmp/evil.ini:$line: [layer fc1] type: '$evil' is not a plugin name: $name_rule" >"$tmp/want"
for cmd in "check" "train --steps 1" "check --allow-model-plugins" \
           "train --allow-model-plugins --steps 1"; do
    run "$PIPETTE" $cmd "$tmp/evil.ini"
    expect_status 2 "$cmd of a layer type that is a path"
    expect_no_out "$cmd of a layer type that is a path"
    head -n 1 "$tmp/err" >"$tmp/err1"
    cmp -s "$tmp/want" "$tmp/err1" || fail "$cmd: $(cat "$tmp/err1")"
    expect_unmarked "$cmd of a layer type that is a path"
done

# A downloaded model folder with its own plugins/linear.so: check and
# train ignore it (and say so) and use the real linear; with
# --allow-model-plugins or PIPETTE_ALLOW_MODEL_PLUGINS=1 it is searched
# first, and its linear (the identity, outputs of 2) is the one used
# (the data's 2 classes fit either).
mkdir -p "$tmp/download/plugins/layers"
cp "$markers/model/.libs/linear.so" "$tmp/download/plugins/layers/"
sed -e 's/^name = mlp$/name = mlp\nplugin_path = plugins/' \
    -e 's/^classes = 4$/classes = 2/' "$examples/mlp.ini" \
    >"$tmp/download/model.ini"
line=$(grep -n "^plugin_path" "$tmp/download/model.ini" | cut -d: -f1)
echo "pipette: $tmp/download/model.ini:$line: [model] plugin_path ignored: plugins are code, and a model file's own run only if you allow them; pass --allow-model-plugins to load plugins it names" >"$tmp/want"
for cmd in check "train --steps 1 --quiet"; do
    run "$PIPETTE" $cmd "$tmp/download/model.ini"
    expect_status 0 "$cmd of a model folder with its own plugins"
    expect_stderr "$cmd of a model folder with its own plugins"
    expect_unmarked "$cmd of a model folder with its own plugins"
    [ "$cmd" = check ] &&
        expect_out "^  fc1 +linear +64 +192 " "the real linear used"
done
run "$PIPETTE" check --allow-model-plugins "$tmp/download/model.ini"
expect_status 0 "check --allow-model-plugins of a model folder"
[ ! -s "$tmp/err" ] || fail "check --allow-model-plugins says: $(cat "$tmp/err")"
expect_out "^  fc1 +linear +2 +0 " "the model folder's linear used"
[ "$(cat "$PP_TEST_MARKER" 2>/dev/null)" = linear ] ||
    fail "the model folder's linear.so was not opened when allowed"
rm -f "$PP_TEST_MARKER"
PIPETTE_ALLOW_MODEL_PLUGINS=1 run "$PIPETTE" check "$tmp/download/model.ini"
expect_status 0 "PIPETTE_ALLOW_MODEL_PLUGINS=1 check of a model folder"
expect_out "^  fc1 +linear +2 +0 " "PIPETTE_ALLOW_MODEL_PLUGINS=1 loads the folder's linear"
rm -f "$PP_TEST_MARKER"
PIPETTE_ALLOW_MODEL_PLUGINS=0 run "$PIPETTE" check "$tmp/download/model.ini"
expect_status 0 "PIPETTE_ALLOW_MODEL_PLUGINS=0"
expect_stderr "PIPETTE_ALLOW_MODEL_PLUGINS=0 ignores plugin_path"
expect_unmarked "PIPETTE_ALLOW_MODEL_PLUGINS=0"
PIPETTE_ALLOW_MODEL_PLUGINS=yes run "$PIPETTE" check "$tmp/download/model.ini"
expect_status 2 "PIPETTE_ALLOW_MODEL_PLUGINS=yes"
echo "pipette: PIPETTE_ALLOW_MODEL_PLUGINS=yes: expected 1 (load the plugins a model file's plugin_path names) or 0" >"$tmp/want"
expect_stderr "PIPETTE_ALLOW_MODEL_PLUGINS=yes"
expect_unmarked "PIPETTE_ALLOW_MODEL_PLUGINS=yes"

# A plugin only in an ignored plugin_path is not found, and the message
# says where it is; allowed, it is used. A plugin_path directory that
# does not exist is a note while ignored, an error at the key when not.
mkdir -p "$tmp/model/plugins/layers"
cp "$TEST_PLUGIN_DIR/good_layer.so" "$tmp/model/plugins/layers/"
printf '[model]\ninput = 8\nplugin_path = plugins:nowhere\n[layer mine]\ntype = good_layer\n[layer fc]\ntype = linear\nunits = 3\n[layer loss]\ntype = softmax_xent\n[train]\nbatch = 4\n[data]\nsource = synthetic\nfeatures = 8\nclasses = 3\n' \
    >"$tmp/model/own.ini"
run "$PIPETTE" check "$tmp/model/own.ini"
expect_status 2 "check of a model whose plugin is in its ignored plugin_path"
{
    echo "pipette: $tmp/model/own.ini:3: [model] plugin_path ignored: plugins are code, and a model file's own run only if you allow them; pass --allow-model-plugins to load plugins it names"
    echo "pipette: $tmp/model/own.ini:3: [model] plugin_path: 'nowhere' is not a directory ($tmp/model/nowhere: No such file or directory)"
    echo "$tmp/model/own.ini:5: [layer mine] type: no layer plugin named 'good_layer' on the search path; $tmp/model/plugins/layers/good_layer.so is in [model] plugin_path, ignored without --allow-model-plugins"
} >"$tmp/want"
expect_stderr "a plugin only in an ignored plugin_path"
expect_no_out "a plugin only in an ignored plugin_path"
run "$PIPETTE" check --allow-model-plugins "$tmp/model/own.ini"
expect_status 2 "check --allow-model-plugins with a missing plugin_path directory"
echo "$tmp/model/own.ini:3: [model] plugin_path: 'nowhere' is not a directory ($tmp/model/nowhere: No such file or directory)" >"$tmp/want"
expect_stderr "a missing plugin_path directory, allowed"
sed -i 's/^plugin_path = plugins:nowhere$/plugin_path = plugins/' "$tmp/model/own.ini"
run "$PIPETTE" check --allow-model-plugins "$tmp/model/own.ini"
expect_status 0 "check --allow-model-plugins of a model with its own plugin_path"
expect_out "^  mine +good_layer +8 +0 +0  input$" "plugin from plugin_path used"
# A relative file name: plugin_path is taken from its directory.
(cd "$tmp/model" && "$PIPETTE" check --allow-model-plugins own.ini) \
    >"$tmp/out" 2>"$tmp/err"
status=$?
expect_status 0 "check --allow-model-plugins own.ini from its directory"

# Plugin directories and files that another user could change are
# refused with the reason, by `pipette plugins` (exit 1) and where a
# model names the plugin (exit 2, at the key). The directories above
# the plugin's own may be sticky (as /tmp is, above $tmp).
mkdir -p "$tmp/open"
cp "$TEST_PLUGIN_DIR/good_layer.so" "$tmp/open/"
printf '[model]\ninput = 8\n[layer mine]\ntype = good_layer\n[layer loss]\ntype = softmax_xent\n[train]\nbatch = 4\n[data]\nsource = synthetic\nfeatures = 8\nclasses = 8\n' >"$tmp/open.ini"
for mode in 777 1777 757; do
    chmod "$mode" "$tmp/open"
    PIPETTE_PLUGIN_PATH=$tmp/open run "$PIPETTE" plugins
    expect_status 1 "plugins in a directory of mode $mode"
    why="$tmp/open/good_layer.so: its directory $tmp/open is writable by anyone (mode $(printf %04d "$mode")): another user could put code there that pipette would run; chmod go-w $tmp/open"
    echo "pipette: refused $why" >"$tmp/want"
    expect_stderr "plugins in a directory of mode $mode"
    PIPETTE_PLUGIN_PATH=$tmp/open run "$PIPETTE" check "$tmp/open.ini"
    expect_status 2 "check with a plugin in a directory of mode $mode"
    echo "$tmp/open.ini:4: [layer mine] type: $why" >"$tmp/want"
    expect_stderr "check with a plugin in a directory of mode $mode"
done
chmod 755 "$tmp/open"
chmod 666 "$tmp/open/good_layer.so"
PIPETTE_PLUGIN_PATH=$tmp/open run "$PIPETTE" plugins
expect_status 1 "plugins with a world-writable file"
echo "pipette: refused $tmp/open/good_layer.so: writable by anyone (mode 0666): another user could change the code pipette would run; chmod go-w $tmp/open/good_layer.so" >"$tmp/want"
expect_stderr "plugins with a world-writable file"
chmod 755 "$tmp/open/good_layer.so"
PIPETTE_PLUGIN_PATH=$tmp/open run "$PIPETTE" check "$tmp/open.ini"
expect_status 0 "check once the directory and file are yours alone"
if [ "$(id -u)" -eq 0 ] && id -u nobody >/dev/null 2>&1; then
    chown nobody "$tmp/open/good_layer.so"
    PIPETTE_PLUGIN_PATH=$tmp/open run "$PIPETTE" plugins
    expect_status 1 "plugins with a file owned by nobody"
    echo "pipette: refused $tmp/open/good_layer.so: owned by nobody (uid $(id -u nobody)), not by you or root: that user could change the code pipette would run" >"$tmp/want"
    expect_stderr "plugins with a file owned by nobody"
    chown 0 "$tmp/open/good_layer.so"
else
    echo "SKIP: a plugin owned by another user (needs root and a user nobody)"
fi

# Only regular files are opened, and only complete ones: a truncated
# .so is refused (dlopen would die of SIGBUS), a FIFO named x.so is
# never opened (it would block), each a refusal line, exit 1.
mkdir -p "$tmp/odd"
head -c 2000 "$TEST_PLUGIN_DIR/good_layer.so" >"$tmp/odd/truncated.so"
mkfifo "$tmp/odd/fifo.so"
mkdir "$tmp/odd/dir.so"
PIPETTE_PLUGIN_PATH=$tmp/odd run timeout 60 "$PIPETTE" plugins
expect_status 1 "plugins with a truncated .so, a FIFO and a directory"
expect_out "^layer +linear " "plugins still lists the good ones"
expect_err "^pipette: refused $tmp/odd/truncated\.so: truncated or damaged: its ELF program headers describe [0-9]+ bytes, the file has 2000: rebuild or reinstall it$" "truncated .so refused"
expect_err "^pipette: refused $tmp/odd/fifo\.so: a FIFO, not a regular file: a plugin is a shared object file$" "FIFO refused"
expect_err "^pipette: refused $tmp/odd/dir\.so: a directory, not a regular file: a plugin is a shared object file$" "directory refused"
[ "$(wc -l <"$tmp/err")" -eq 3 ] || fail "plugins: not three refusals"

# Relative directories on PIPETTE_PLUGIN_PATH are refused (empty entries
# are skipped).
PIPETTE_PLUGIN_PATH="$tmp/open::plugins" run "$PIPETTE" plugins
expect_status 2 "plugins with a relative PIPETTE_PLUGIN_PATH entry"
echo "pipette: PIPETTE_PLUGIN_PATH: 'plugins' is a relative directory: plugins are searched only in absolute ones (one relative to wherever pipette runs could load other code there)" >"$tmp/want"
expect_stderr "a relative PIPETTE_PLUGIN_PATH entry"
expect_no_out "a relative PIPETTE_PLUGIN_PATH entry"
PIPETTE_PLUGIN_PATH="plugins" run "$PIPETTE" check "$examples/mlp.ini"
expect_status 2 "check with a relative PIPETTE_PLUGIN_PATH entry"
expect_stderr "check with a relative PIPETTE_PLUGIN_PATH entry"
unset PP_TEST_MARKER

run "$PIPETTE" check "$tmp/does-not-exist.ini"
expect_status 2 "check of a missing file"
expect_err "does-not-exist\.ini: cannot open" "missing file message"
# A model file is a regular file: a FIFO is refused at once rather than
# waited on (timeout turns a hang into a failure), a device such as
# /dev/zero is not read, a directory is no file.
mkfifo "$tmp/model.fifo"
for f in "$tmp/model.fifo" /dev/zero "$tmp"; do
    case $f in
    *.fifo) what="a FIFO" ;;
    /dev/*) what="a character device" ;;
    *) what="a directory" ;;
    esac
    run timeout 10 "$PIPETTE" check "$f"
    expect_status 2 "check of $what"
    expect_no_out "check of $what"
    printf 'pipette: %s: is %s; a model file must be a regular file\n' \
        "$f" "$what" >"$tmp/want"
    cmp -s "$tmp/want" "$tmp/err" || fail "check of $what: unexpected message"
done

# devices answers with or without a GPU; without one it says why.
run "$PIPETTE" devices
expect_status 0 "devices"
expect_out "^CPU" "devices lists the CPU"

# Output that cannot be written is a failure, said with its reason: exit
# 1, whatever the command (train, eval and gradcheck in train-cli.sh,
# checkpoint in checkpoint.sh).
if [ -w /dev/full ]; then
    full="pipette: cannot write stdout: No space left on device"
    for cmd in --version --help "check --help" plugins devices \
        "check $examples/mlp.ini" "schedule 1f1b -p 4 -m 8" \
        "schedule zb-v -p 4 -m 64 -v 2 --format chrome" \
        "schedule gpipe -p 2 -m 2 --dump"; do
        run_full "$PIPETTE" $cmd
        expect_status 1 "$cmd to a full stdout"
        expect_err_is "$full" "$cmd to a full stdout"
    done
    # A command that failed keeps its status and its own message.
    run_full "$PIPETTE" check "$tmp/does-not-exist.ini"
    expect_status 2 "check of a missing file to a full stdout"
    expect_err "does-not-exist\.ini: cannot open" "check of a missing file to a full stdout"
fi
# A closed stdout too.
"$PIPETTE" --version >&- 2>"$tmp/err"
status=$?
expect_status 1 "--version to a closed stdout"
expect_err_is "pipette: cannot write stdout: Bad file descriptor" "--version to a closed stdout"

finish
