#!/bin/sh
# tests/train-cli.sh - `pipette train`: the examples learn, the plan and
# the log lines are there, the measured trace is written, and the errors a
# user hits (a missing data file, a diverging loss, bad options) are
# reported clearly, with the right exit status and no hang.
. "${srcdir:-.}/tests/lib.sh"
examples="${srcdir:-.}/examples"

# The MLP on the Gaussian mixture (overlapping classes): from about ln 4 =
# 1.39 to below 0.3 in 200 steps (0.23 here; runs are deterministic).
run timeout 120 "$PIPETTE" train "$examples/mlp.ini"
expect_status 0 "train mlp.ini"
expect_out "^plan: mlp, 2 ranks on cpu, 2 stages, schedule 1f1b, 8 micro-batches of 32 samples \(batch 256\)$" "plan header"
expect_out "^  stage 0 on rank 0: [0-9]+ parameters, [0-9.]+% of the FLOPs: fc1" "plan stages"
expect_out "^  rank 1 \(cpu\) memory: parameters [0-9.]+ MiB, gradients [0-9.]+ MiB, optimizer [0-9.]+ MiB, activations 1 x [0-9.]+ = [0-9.]+ MiB$" "memory per rank, slots x bytes"
expect_out "^step +20  loss [0-9.]+ +[0-9.]+ samples/s  bubble +[0-9.]+%$" "log line"
# loss_at STEP: the loss logged for that step.
loss_at() { awk -v s="$1" '$1 == "step" && $2 == s { print $4 }' "$tmp/out"; }
final=$(loss_at 200)
initial=$(loss_at 1)
awk -v a="${initial:-0}" -v l="${final:-9}" 'BEGIN { exit !(a > 1.2 && l < 0.3) }' ||
    fail "mlp.ini: loss ${initial:-missing} at step 1, ${final:-missing} at step 200; expected above 1.2, then below 0.3"

# Data parallelism: mlp.ini's pipeline twice ([parallel] data = 2), each
# replica 4 micro-batches of the same 256-sample batch: the layout in the
# plan, the same losses as one pipeline of 8 micro-batches (to float32
# rounding, 6 digits here), the sums on their own track in the trace.
sed 's/^microbatches = 8/microbatches = 4/; s/^steps = 200/steps = 20/' \
    "$examples/mlp.ini" >"$tmp/dp.ini"
printf '[parallel]\ndata = 2\n' >>"$tmp/dp.ini"
run timeout 120 "$PIPETTE" train --trace "$tmp/dp.json" "$tmp/dp.ini"
expect_status 0 "train with data = 2"
expect_out "^plan: mlp, 4 ranks on cpu, 2 replicas of 2 stages, schedule 1f1b, each replica 4 micro-batches of 32 samples \(batch 256\)$" "data-parallel plan header"
expect_out "^    rank  process  host +device  replica  stages$" "layout table"
expect_out "^       3        0  .* cpu +1  1$" "rank 3: replica 1's stage 1"
expect_out "^  stage 1 on ranks 2,3: 260 parameters" "a stage on its replicas' ranks"
dp_last=$(loss_at 20)
grep -q '"name":"rank 3 sums"' "$tmp/dp.json" || fail "the trace has no track of rank 3's sums"
grep -q '"name":"sum of stage 0 over replicas","cat":"sum"' "$tmp/dp.json" ||
    fail "the trace has no sum of stage 0 over its replicas"
run "$PIPETTE" check --processes 3 "$tmp/dp.ini"
expect_status 2 "check --processes 3 for 4 ranks"
expect_err "^$tmp/dp\.ini:[0-9]+: \[parallel\] 3 processes were started, but the job has 4 ranks \(2 replicas x 2\) and 1 per process: start 4 processes \(mpirun -np 4\)" "check --processes names the count"
run timeout 120 "$PIPETTE" train --steps 20 "$examples/mlp.ini"
[ -n "$dp_last" ] && [ "$dp_last" = "$(loss_at 20)" ] ||
    fail "data = 2: loss ${dp_last:-missing} at step 20, one pipeline $(loss_at 20)"

# The character model: its loss falls by at least 2 from the first step's
# (about ln 256 = 5.5) within 150 steps.
run timeout 300 "$PIPETTE" train --steps 150 "$examples/char-1f1b.ini"
expect_status 0 "train char-1f1b.ini"
first=$(loss_at 1)
last=$(loss_at 150)
awk -v a="${first:-0}" -v b="${last:-9}" 'BEGIN { exit !(b < a - 2) }' ||
    fail "char-1f1b.ini: loss ${first:-?} at step 1, ${last:-?} at step 150"

# The residual character model with a tied embedding on 3 ranks: the
# table's copy on the last rank, the sum of its gradients, and learning
# (from about ln 256 = 5.5 to below 2.5 in 100 steps).
run timeout 300 "$PIPETTE" train --steps 100 "$examples/tied-residual.ini"
expect_status 0 "train tied-residual.ini"
expect_out "^  stage 2 on rank 2: [0-9]+ parameters \(and a copy of 12288 shared\), 55\.1% of the FLOPs: block\.1\.act block\.1\.down block\.1\.res norm head loss$" "the tied table's copy on the last rank"
expect_out "^  rank 0 \(cpu\) memory: .*, gradient sums 0\.09 MiB$" "the sum's buffers in the memory plan"
first=$(loss_at 1)
last=$(loss_at 100)
awk -v a="${first:-0}" -v b="${last:-9}" 'BEGIN { exit !(a > 5 && b < 2.5) }' ||
    fail "tied-residual.ini: loss ${first:-?} at step 1, ${last:-?} at step 100"

# The small GPT, [repeat] blocks of attention and an MLP on corpus.txt:
# its loss falls from ln 256 = 5.5 to below 2.7 in 60 steps, clipped by
# the global norm, the lr warming up and decaying.
run timeout 300 "$PIPETTE" train --steps 60 "$examples/gpt-char.ini"
expect_status 0 "train gpt-char.ini"
expect_out "^  stage 1 on rank 1: [0-9]+ parameters \(and a copy of 16384 shared\), [0-9.]+% of the FLOPs: h\.[0-9]\..* loss$" "the GPT's head on the last rank, tied"
first=$(loss_at 1)
last=$(loss_at 60)
awk -v a="${first:-0}" -v b="${last:-9}" 'BEGIN { exit !(a > 5 && b < 2.7) }' ||
    fail "gpt-char.ini: loss ${first:-?} at step 1, ${last:-?} at step 60"
expect_out "^step +60  loss [0-9.]+ .*  lr 0\.0003  grad norm [0-9.]+$" "the GPT's log line: the lr and the norm"

# A stage of many layers is listed by its ends; every stage says its
# share of the step's FLOPs.
corpus=$(cd "$examples" && pwd)/corpus.txt
sed "s|^devices = .*|devices = cpu|; s|^microbatches = .*|microbatches = 1|; s|^path = .*|path = $corpus|" \
    "$examples/tied-residual.ini" >"$tmp/one.ini"
run timeout 60 "$PIPETTE" train --steps 1 "$tmp/one.ini"
expect_status 0 "tied-residual.ini on one rank"
expect_out "^  stage 0 on rank 0: 31296 parameters, 100\.0% of the FLOPs: embed block\.0\.norm block\.0\.up \.\.\. \(8 layers\) \.\.\. norm head loss$" "a long stage by its ends"

# tied-residual.ini's [repeat block] group is its blocks written out by hand
# (tests/repeat/tied-residual-by-hand.ini): the same check summary but for
# the file's name, and the same bits after training, losses and
# parameters alike.
repeat_dir="${srcdir:-.}/tests/repeat"
cp "$examples/corpus.txt" "$tmp/"
for which in group hand; do
    case $which in
    group) ini="$examples/tied-residual.ini" ;;
    hand) ini="$repeat_dir/tied-residual-by-hand.ini" ;;
    esac
    # (Beside the corpus, which check reads as train does.)
    sed -e "s|^log_every = .*|log_every = 1\ncheckpoint = $tmp/$which.ckpt|" \
        "$ini" >"$tmp/$which.ini"
    run "$PIPETTE" check "$tmp/$which.ini"
    expect_status 0 "check tied-residual ($which)"
    tail -n +2 "$tmp/out" >"$tmp/check-$which"
    run timeout 120 "$PIPETTE" train --steps 4 "$tmp/$which.ini"
    expect_status 0 "train tied-residual ($which)"
    awk '$1 == "step" { print $2, $4 }' "$tmp/out" >"$tmp/losses-$which"
done
grep -q "^  block\.1\.res  *add .* block\.1\.down, block\.0\.res$" "$tmp/check-group" ||
    fail "check does not list the group's copies: $(cat "$tmp/check-group")"
cmp -s "$tmp/check-group" "$tmp/check-hand" ||
    fail "[repeat block] and its blocks by hand: check prints $(diff "$tmp/check-group" "$tmp/check-hand")"
[ "$(wc -l <"$tmp/losses-group")" -eq 4 ] && cmp -s "$tmp/losses-group" "$tmp/losses-hand" ||
    fail "[repeat block] and its blocks by hand: losses $(tr '\n' ' ' <"$tmp/losses-group") and $(tr '\n' ' ' <"$tmp/losses-hand")"
cmp -s "$tmp/group.ckpt/step-00000004/model.safetensors" "$tmp/hand.ckpt/step-00000004/model.safetensors" ||
    fail "[repeat block] and its blocks by hand: the trained parameters differ"

# The char-*.ini examples differ only in their schedule: the same losses.
for ini in "$examples"/char-*.ini; do
    run timeout 120 "$PIPETTE" train --steps 3 "$ini"
    expect_status 0 "train $ini"
    loss_at 3
done >"$tmp/losses"
awk 'NR == 1 { a = $1 } { d = $1 - a; if (d < 0) d = -d; if (d > 1e-5 * a) bad = 1 }
     END { exit bad || NR != 6 }' "$tmp/losses" ||
    fail "the char examples' losses at step 3 differ: $(tr '\n' ' ' <"$tmp/losses")"

# Transports: the plan names which carries each direction; peer (the
# stream-ordered GPU path, here with the cpu device) gives the same
# losses as local; a transport that connects none of the ranks is refused.
run timeout 120 "$PIPETTE" train --steps 3 "$examples/char-1f1b.ini"
expect_out "^  transport: local 0->1 0->2 1->0 1->2 2->0 2->1$" "plan names the transport of each direction (every pair: the gradient norm is summed over the ranks)"
local_loss=$(loss_at 3)
sed 's/^schedule = 1f1b/schedule = 1f1b\ntransport = peer/' \
    "$examples/char-1f1b.ini" >"$tmp/peer.ini"
cp "$examples/corpus.txt" "$tmp/"
run timeout 120 "$PIPETTE" train --steps 3 "$tmp/peer.ini"
expect_status 0 "train with transport = peer"
expect_out "^  transport: peer 0->1 0->2 1->0 1->2 2->0 2->1$" "peer carries every direction"
# Rank 0 snapshots 6 activations of 8 x 32 x 24 floats a step: 0.14 MiB.
expect_out "^  rank 0 \(cpu\) memory: .*, transfer buffers up to 0\.14 MiB$" "transfer buffers in the memory plan"
[ "$(loss_at 3)" = "$local_loss" ] ||
    fail "transport = peer: loss $(loss_at 3) at step 3, local gives $local_loss"
# A transport's check is asked after every step, and its failure fails
# the run: a stand-in that forwards to local, with a failing check.
run env PIPETTE_PLUGIN_PATH="$PP_BUILDDIR/tests/plugins/checkfail/.libs" \
    timeout 60 "$PIPETTE" train --steps 2 "$examples/char-1f1b.ini"
expect_status 1 "a transport's failing check"
expect_err "^pipette: rank [0-2], step 1: forward_local: check was called$" "check asked at the step's end"
sed 's/^transport = peer/transport = nccl/' "$tmp/peer.ini" >"$tmp/nccl.ini"
run timeout 60 "$PIPETTE" train --steps 1 "$tmp/nccl.ini"
expect_status 2 "transport = nccl on cpu ranks"
if [ -n "$(find "$PP_BUILDDIR/plugins/.libs" -name nccl.so 2>/dev/null)" ]; then
    expect_err "^$tmp/nccl\.ini:[0-9]+: \[pipeline\] transport: nccl connects none of these ranks \(it moves cuda memory, between ranks on two different devices\): use transport = auto$" "nccl on cpu ranks refused at its key"
else
    expect_err "^$tmp/nccl\.ini:[0-9]+: \[pipeline\] transport: no transport plugin named 'nccl'" "nccl, not built, refused at its key"
fi

# Ids the model cannot take are refused before the first step (a GPU
# kernel could not refuse them): bytes into a 200-id embedding, 256
# next-byte targets into a 100-class loss.
sed 's/^vocab = 256 .*/vocab = 200/' "$examples/char-1f1b.ini" >"$tmp/vocab.ini"
run "$PIPETTE" train --steps 1 "$tmp/vocab.ini"
expect_status 2 "data ids beyond the embedding's vocab"
expect_err "^$tmp/vocab\.ini:[0-9]+: \[layer embed\] the data source's ids go up to 255, this layer takes ids below 200: a larger vocabulary would take them all$" "embedding vocab refusal"
sed 's/^units = 256/units = 100/' "$examples/char-1f1b.ini" >"$tmp/classes.ini"
run "$PIPETTE" train --steps 1 "$tmp/classes.ini"
expect_status 2 "targets beyond the loss's classes"
expect_err "^$tmp/classes\.ini:[0-9]+: \[layer loss\] the data source's targets go up to 255, this loss takes classes below 100: the layer before it needs 256 outputs$" "loss classes refusal"

# A measured trace, in the simulator's Chrome format, with sends and
# receives.
run timeout 120 "$PIPETTE" train --steps 2 --trace "$tmp/trace.json" "$examples/char-interleaved.ini"
expect_status 0 "train with --trace"
expect_out "^trace written to $tmp/trace\.json$" "trace announced"
grep -q '"cat":"send"' "$tmp/trace.json" || fail "trace has no send spans"
grep -q '"cat":"recv"' "$tmp/trace.json" || fail "trace has no recv spans"
grep -q '"name":"F0\.0","cat":"F"' "$tmp/trace.json" || fail "trace has no F0.0"
if command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$tmp/trace.json" >/dev/null || fail "trace is not JSON"
fi

# [train] log and checkpoint: the log lines again, and the checkpoint of
# the last step (tests/checkpoint.sh tests checkpoints through).
sed "s|^seed = 1|seed = 1\nlog = $tmp/train.log\ncheckpoint = $tmp/mlp.ckpt|" \
    "$examples/mlp.ini" >"$tmp/out.ini"
run timeout 60 "$PIPETTE" train --steps 20 --quiet "$tmp/out.ini"
expect_status 0 "train with log and checkpoint"
grep -q "^step     20  loss " "$tmp/train.log" || fail "no log file lines"
[ -f "$tmp/mlp.ckpt/step-00000020/MANIFEST" ] || fail "no checkpoint of step 20"

# pipette eval: forward only, pipelined. From the initial parameters its
# first batch is train's first step (the same samples, the same model);
# from the checkpoint of 3 steps, its fourth batch is train's fourth step
# (the loss before the fourth update), on 3 ranks with the tied table's
# copy, and again under zb-v's forwards; it writes neither the log nor
# the checkpoint.
corpus=$(cd "$examples" && pwd)/corpus.txt
sed -e "s|^seed = 1|seed = 1\nlog = $tmp/tied.log\ncheckpoint = $tmp/tied.ckpt|" \
    -e "s|^path = .*|path = $corpus|" "$examples/tied-residual.ini" >"$tmp/tied.ini"
run timeout 60 "$PIPETTE" train --steps 4 "$tmp/tied.ini"
expect_status 0 "train 4 steps"
first=$(loss_at 1)
fourth=$(loss_at 4)
run timeout 60 "$PIPETTE" train --steps 3 --quiet "$tmp/tied.ini"
expect_status 0 "train 3 steps with a checkpoint"
cp -r "$tmp/tied.ckpt/step-00000003" "$tmp/tied3.ckpt"
cp "$tmp/tied.log" "$tmp/tied3.log"
run timeout 60 "$PIPETTE" eval --batches 1 "$tmp/tied.ini"
expect_status 0 "eval from the initial parameters"
expect_out "^batch +1  loss $first " "eval's first batch is train's first step"
expect_out "^eval: loss $first, the mean over 1 batches of 48 samples$" "eval's mean"
expect_out "^  evaluating 1 batches of 48 samples, forward only, from the initial parameters$" "eval says what it does"
run timeout 60 "$PIPETTE" eval --checkpoint "$tmp/tied3.ckpt" --batches 4 "$tmp/tied.ini"
expect_status 0 "eval from a checkpoint"
expect_out "^batch +4  loss $fourth " "eval of 3 steps' checkpoint: train's fourth loss"
diff -r "$tmp/tied.ckpt/step-00000003" "$tmp/tied3.ckpt" >/dev/null || fail "eval rewrote the checkpoint"
cmp -s "$tmp/tied.log" "$tmp/tied3.log" || fail "eval rewrote the log"
sed -e 's|^schedule = .*|schedule = zb-v|' -e 's|^devices = .*|devices = cpu*2\nstages_per_rank = 2|' \
    "$tmp/tied.ini" >"$tmp/tied-zbv.ini"
run timeout 60 "$PIPETTE" eval --checkpoint "$tmp/tied3.ckpt" --batches 4 "$tmp/tied-zbv.ini"
expect_status 0 "eval under zb-v"
expect_out "^batch +4  loss $fourth " "eval under another schedule: the same loss"
# Held-out data, and what eval refuses.
run timeout 60 "$PIPETTE" eval --checkpoint "$tmp/tied3.ckpt" --data "$srcdir/README.md" --batches 2 -q "$tmp/tied.ini"
expect_status 0 "eval on other data"
expect_out "^eval: loss [0-9.]+, the mean over 2 batches of 48 samples$" "eval --quiet prints the mean"
run "$PIPETTE" eval --checkpoint "$tmp/mlp.ckpt" "$tmp/tied.ini"
expect_status 1 "eval of another model's checkpoint"
expect_err "^pipette: $tmp/mlp\.ckpt/step-00000020 is a checkpoint of another model: it has 'input 2 float' where $tmp/tied\.ini has 'input 32 int'$" "another model's checkpoint refused"
cp -r "$tmp/tied3.ckpt" "$tmp/cut.ckpt"
truncate -s 1000 "$tmp/cut.ckpt/model.safetensors"
run "$PIPETTE" eval --checkpoint "$tmp/cut.ckpt" "$tmp/tied.ini"
expect_status 1 "eval of a truncated checkpoint"
expect_err "^pipette: $tmp/cut\.ckpt/model\.safetensors: cut short: 1000 bytes where the manifest says [0-9]+$" "a truncated checkpoint refused"
run "$PIPETTE" eval --checkpoint "$corpus" "$tmp/tied.ini"
expect_status 1 "eval of a file that is no checkpoint"
expect_err "not a pipette checkpoint \(a directory, or a file that begins with PPCKPT01\)$" "not a checkpoint"
# pipette 1.2's checkpoint file (PPCKPT01: a header, then the parameters)
# is still read: zeros everywhere give every byte the same chance.
{ printf 'PPCKPT01\001\000\000\000\100\172\000\000\000\000\000\000'
  head -c $((4 * 31296)) /dev/zero; } >"$tmp/old.ckpt"
run "$PIPETTE" eval --checkpoint "$tmp/old.ckpt" --batches 1 -q "$tmp/tied.ini"
expect_status 0 "eval of a PPCKPT01 file"
expect_out "^eval: loss 5\.545177," "a PPCKPT01 file's zeros: the loss ln 256"
run "$PIPETTE" eval --data "$corpus" "$examples/mlp.ini"
expect_status 2 "eval --data with a source that reads no file"
expect_err "^pipette eval: --data: \[data\] source 'synthetic' of .*mlp\.ini reads no path$" "--data needs a path key"
run "$PIPETTE" eval --batches 0 "$tmp/tied.ini"
expect_status 2 "eval --batches 0"
expect_err "^pipette eval: --batches needs a whole number, 1 to [0-9]+$" "eval's usage error"
run "$PIPETTE" eval --help
expect_status 0 "eval --help"
expect_out "^usage: pipette eval " "eval's usage"
run "$PIPETTE" eval --data "$tmp/none.txt" "$tmp/tied.ini"
expect_status 2 "eval --data of a missing file"
expect_err "^pipette eval: --data: cannot read '$tmp/none\.txt'$" "--data names the missing file"

# A step's setup and run are near-linear in micro-batches: a step of the
# most a file may ask for, 65536 under GPipe (every one in flight on every
# rank, each rank's messages waiting in its mailbox), takes about a
# second, well under the bound.
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
schedule = gpipe
microbatches = 65536
[train]
batch = 65536
[data]
source = synthetic
features = 8
classes = 8
EOF
run timeout 60 "$PIPETTE" train --steps 1 --quiet "$tmp/many.ini"
expect_status 0 "a step of 65536 micro-batches within 60 s"

# Recompute trains too (the equivalence test checks the weights).
run timeout 120 "$PIPETTE" train --steps 3 --recompute --quiet "$examples/char-zb-h1.ini"
expect_status 0 "train --recompute"
expect_no_out "train --quiet"

# Errors.
sed 's|^path = .*|path = no-such-corpus.txt|' "$examples/char-1f1b.ini" >"$tmp/nofile.ini"
run timeout 60 "$PIPETTE" train "$tmp/nofile.ini"
expect_status 2 "missing data file"
expect_no_out "missing data file"
expect_err "^$tmp/nofile\.ini:[0-9]+: \[data\] path: cannot read '$tmp/no-such-corpus\.txt': No such file or directory$" "missing data file message"
# A data file is a regular file: a FIFO is refused at once rather than
# waited on (timeout turns a hang into a failure), /dev/zero is not read
# (it never ends), and a file larger than the machine's memory is refused
# before any of it is read (a sparse one here: nothing is written).
mkfifo "$tmp/corpus.fifo"
mem=$(($(getconf _PHYS_PAGES) * $(getconf PAGESIZE)))
truncate -s $((mem + 1)) "$tmp/huge.txt" 2>/dev/null || rm -f "$tmp/huge.txt"
for data in "$tmp/corpus.fifo" /dev/zero "$tmp/huge.txt"; do
    [ -e "$data" ] || continue
    case $data in
    *.fifo) why="is a FIFO; a data file must be a regular file" ;;
    /dev/*) why="is a character device; a data file must be a regular file" ;;
    *) why="is $((mem + 1)) bytes, more than this machine's memory \\($mem bytes\\): a data file is read whole" ;;
    esac
    sed "s|^path = .*|path = $data|" "$examples/char-1f1b.ini" >"$tmp/data.ini"
    run timeout 20 "$PIPETTE" train "$tmp/data.ini"
    expect_status 2 "data file $data"
    expect_no_out "data file $data"
    expect_err "^$tmp/data\.ini:[0-9]+: \[data\] path: '$data' $why$" "data file $data"
done
rm -f "$tmp/huge.txt"

# A step that is not finite (an lr of 1e30 blows step 2 up) stops the run
# before any rank's update (tests/test_train.c checks the parameters),
# exit 1, naming the step, the task and the first layer whose output is
# not finite, in one line.
sed 's|^lr = .*|lr = 1e30|' "$examples/mlp.ini" >"$tmp/diverge.ini"
run timeout 60 "$PIPETTE" train --quiet "$tmp/diverge.ini"
expect_status 1 "a diverging loss"
expect_err "^pipette: rank 0, step 2, F0\.0: the loss is nan: training diverged at layer fc2, the first whose output is not finite \(try a smaller lr\)$" "a diverging loss names the step, the task and the layer"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "a diverging loss: more than one line"

# A layer whose input gradient is infinite (tests/plugins/bad_grad.c, bug
# = inf) before a tanh: the loss is finite, the gradients are not, from
# step 1; the first layer in backward order whose gradients are not
# finite is named.
printf '[model]\ninput = 2\nplugin_path = %s\n[layer fc1]\ntype = linear\nunits = 8\n[layer spike]\ntype = bad_grad\nbug = inf\n[layer act]\ntype = tanh\n[layer fc2]\ntype = linear\nunits = 4\n[layer loss]\ntype = softmax_xent\n[pipeline]\ndevices = cpu*2\nmicrobatches = 2\n[train]\nbatch = 16\n[data]\nsource = synthetic\ntask = mixture\nclasses = 4\nfeatures = 2\n' "$TEST_PLUGIN_DIR" >"$tmp/badgrad.ini"
run timeout 60 "$PIPETTE" train --allow-model-plugins --quiet "$tmp/badgrad.ini"
expect_status 1 "an infinite gradient"
expect_err "^pipette: rank 0, step 1, B0\.0: the gradient norm is nan: training diverged at layer spike, the first in backward order whose gradients are not finite$" "an infinite gradient names its layer"

# [train] on_nonfinite = skip, with a data source whose step 2 has an
# infinite feature (tests/plugins/spiky.c): the plan says so; that step
# is logged with its norm and skipped on every rank; the run goes on, and
# says at the end how many it skipped. Without skip, the run stops there,
# naming the input. Every step so from step 2 on: the 100th in a row
# stops the run.
data=$(dirname "$TEST_PLUGIN_DIR")/data/.libs
printf '[model]\ninput = 4\nplugin_path = %s\n[layer hidden]\ntype = linear\nunits = 8\n[layer act]\ntype = tanh\n[layer out]\ntype = linear\nunits = 3\n[layer loss]\ntype = softmax_xent\n[pipeline]\ndevices = cpu*2\nmicrobatches = 4\n[train]\nbatch = 24\nsteps = 6\nlog_every = 3\non_nonfinite = skip\n[data]\nsource = spiky\nrepeat = 24\nbad = 30\nbad_count = 1\n' "$data" >"$tmp/spiky.ini"
run timeout 60 "$PIPETTE" train --allow-model-plugins "$tmp/spiky.ini"
expect_status 0 "a step skipped"
expect_out "^  a step whose loss or gradients are not finite is skipped \(on_nonfinite = skip\)$" "the plan shows on_nonfinite = skip"
expect_out "^step +2  loss [0-9.]+ .*  grad norm nan  skipped$" "the skipped step is logged"
expect_out "^step +6  loss [0-9.]+ " "training goes on after a skipped step"
expect_err "^pipette: skipped 1 step whose loss or gradients were not finite$" "the skipped steps are counted"
run "$PIPETTE" check --allow-model-plugins "$tmp/spiky.ini"
expect_out "^  train: .*, on_nonfinite skip, " "check shows on_nonfinite = skip"
sed '/^on_nonfinite/d' "$tmp/spiky.ini" >"$tmp/spiky-stop.ini"
run timeout 60 "$PIPETTE" train --allow-model-plugins --quiet "$tmp/spiky-stop.ini"
expect_status 1 "an infinite input"
expect_err "^pipette: rank 0, step 2, F1\.0: the gradient norm is nan: the model's input from the data source is not finite$" "an infinite input named"
sed 's/^bad_count = .*/bad_count = 1000000/; s/^steps = .*/steps = 200/' "$tmp/spiky.ini" >"$tmp/spiky-all.ini"
run timeout 60 "$PIPETTE" train --allow-model-plugins --quiet "$tmp/spiky-all.ini"
expect_status 1 "100 steps in a row not finite"
expect_err "^pipette: skipped 99 steps whose loss or gradients were not finite$" "99 steps skipped"
expect_err "^pipette: rank 0, step 101, F0\.0: the gradient norm is nan: the model's input from the data source is not finite; 100 steps in a row were not finite$" "the 100th in a row stops the run"

# The lr schedule against a hand computation: 3 steps of warm-up to 0.1
# (0.1 * 1/3, 2/3, 1), then a cosine over the 7 steps left down to 0.01:
# 0.01 + 0.045 (1 + cos(pi k / 6)), k = 0 .. 6.
printf '[model]\ninput = 2\n[layer fc]\ntype = linear\nunits = 4\n[layer loss]\ntype = softmax_xent\n[pipeline]\ndevices = cpu\n[train]\nbatch = 8\nsteps = 10\nlr = 0.1\nwarmup = 3\nlr_decay = cosine\nmin_lr = 0.01\nlog_every = 1\n[data]\nsource = synthetic\nclasses = 4\nfeatures = 2\n' >"$tmp/lr.ini"
run "$PIPETTE" train "$tmp/lr.ini"
expect_status 0 "an lr schedule"
expect_out "^  lr 0\.1, warm-up 3 steps, cosine to 0\.01$" "the plan shows the lr schedule"
got=$(sed -n 's/^step .*  lr \([0-9.]*\)$/\1/p' "$tmp/out" | tr '\n' ' ')
[ "$got" = "0.03333 0.06667 0.1 0.1 0.09397 0.0775 0.055 0.0325 0.01603 0.01 " ] ||
    fail "lr by step: $got"

# bf16 stops on a diverging loss in the same words.
sed 's|^lr = .*|lr = 1e30\nprecision = bf16|' "$examples/mlp.ini" >"$tmp/diverge16.ini"
run timeout 60 "$PIPETTE" train --quiet "$tmp/diverge16.ini"
expect_status 1 "a diverging loss in bf16"
expect_err "^pipette: rank 0, step 2, F0\.0: the loss is nan: training diverged at layer fc2, the first whose output is not finite \(try a smaller lr\)$" "bf16: a diverging loss names the step, the task and the layer"

# The character example in bf16 learns as in FP32: after 100 steps its
# loss is within 1% of FP32's (measured: 0.04%; bf16 rounds activations
# to 2^-9, which moves a mean loss by far less than 1%), and not equal to
# it (it did run in bf16).
corpus=$(cd "$examples" && pwd)/corpus.txt
for p in fp32 bf16; do
    sed "s|^seed = 1|seed = 1\nprecision = $p|; s|^path = corpus.txt|path = $corpus|" "$examples/char-1f1b.ini" >"$tmp/char-$p.ini"
    run timeout 120 "$PIPETTE" train --steps 100 "$tmp/char-$p.ini"
    expect_status 0 "char example in $p"
    sed -n 's/^step *100 *loss \([0-9.]*\) .*/\1/p' "$tmp/out" >"$tmp/loss-$p"
done
awk -v a="$(cat "$tmp/loss-fp32")" -v b="$(cat "$tmp/loss-bf16")" \
    'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 0.01 * a && d > 0) }' ||
    fail "char example: bf16 loss $(cat "$tmp/loss-bf16") against FP32's $(cat "$tmp/loss-fp32") after 100 steps"

# tf32 and bf16 need compute capability 8.0: an emulated Turing refuses
# them, naming the device, at the precision key (the machine's failure,
# not the file's: exit 1).
if [ "$PP_EMULATED" = yes ]; then
    for p in tf32 bf16; do
        sed "s|^devices = .*|devices = cuda:0*2|; s|^lr = 0.02|lr = 0.02\nprecision = $p|" "$examples/mlp.ini" >"$tmp/turing.ini"
        run env PIPETTE_EMU_CC=75 timeout 60 "$PIPETTE" train --steps 1 "$tmp/turing.ini"
        expect_status 1 "$p on compute capability 7.5"
        expect_err "^$tmp/turing\.ini:[0-9]+: \[train\] precision: cuda:0 \(pipette CUDA emulator\) has compute capability 7\.5: $p needs tensor cores that have it, from 8\.0 \(Ampere\) on; use fp32$" "$p refused on 7.5"
    done
fi

# A layer failing on one rank stops every rank (the others are waiting
# for its messages) and names the rank, the step and the task: ids up to
# 299 from a test source that does not declare them, into a 10-id
# embedding.
sed 's|^vocab = 256 .*|vocab = 10|; s|^source = .*|source = wild_ids|; /^path = /d' \
    "$examples/char-1f1b.ini" >"$tmp/wild.ini"
PIPETTE_PLUGIN_PATH=$TEST_PLUGIN_DIR run timeout 60 "$PIPETTE" train --quiet "$tmp/wild.ini"
expect_status 1 "a layer error"
expect_err "^pipette: rank 0, step 1, F0\.0: layer embed: embedding: token id [0-9]+ \(at token [0-9]+ of the micro-batch\) is outside the vocabulary of 10 ids \(0 to 9\)$" "layer error names rank, step, task and layer"

# Clipping by the global norm: the plan says so, each log line shows the
# norm; a device plugin built before clipping (ABI 2.1) runs the model
# without it and refuses it with.
sed 's|^\[train\]|[train]\ngrad_clip = 0.5|' "$examples/char-1f1b.ini" >"$tmp/clip.ini"
run timeout 60 "$PIPETTE" train --steps 3 "$tmp/clip.ini"
expect_status 0 "grad_clip trains"
expect_out "^  gradients clipped to global norm 0\.5, the norm summed over a pipeline's ranks$" "the plan shows the clipping"
expect_out "^step +3  loss [0-9.]+ .*  grad norm [0-9.]+$" "the log line shows the norm"
sed 's|^devices = .*|devices = olddev*2|' "$tmp/clip.ini" >"$tmp/olddev.ini"
PIPETTE_PLUGIN_PATH=$TEST_PLUGIN_DIR run timeout 60 "$PIPETTE" check "$tmp/olddev.ini"
expect_status 2 "grad_clip on a 2.1 device"
expect_err "^$tmp/olddev\.ini:[0-9]+: \[train\] grad_clip: device 'olddev' \(rank 0\) cannot clip gradients: its plugin was built for pipette ABI 2\.1, and clipping came in 2\.2$" "grad_clip on a 2.1 device refused"
sed '/^grad_clip/d' "$tmp/olddev.ini" >"$tmp/olddev2.ini"
PIPETTE_PLUGIN_PATH=$TEST_PLUGIN_DIR run timeout 60 "$PIPETTE" train --quiet --steps 1 "$tmp/olddev2.ini"
expect_status 0 "a 2.1 device trains without grad_clip"
# It has no norm to check before the step: on_nonfinite = skip is
# refused, and stop stops after the step, on the loss.
sed 's|^\[train\]|[train]\non_nonfinite = skip|' "$tmp/olddev2.ini" >"$tmp/olddev3.ini"
PIPETTE_PLUGIN_PATH=$TEST_PLUGIN_DIR run timeout 60 "$PIPETTE" check "$tmp/olddev3.ini"
expect_status 2 "on_nonfinite = skip on a 2.1 device"
expect_err "^$tmp/olddev3\.ini:[0-9]+: \[train\] on_nonfinite: device 'olddev' \(rank 0\) cannot check gradients before the step: its plugin was built for pipette ABI 2\.1, and the gradient norm came in 2\.2; on_nonfinite = stop stops after the step instead$" "on_nonfinite = skip on a 2.1 device refused"
sed 's|^lr = .*|lr = 1e30|' "$tmp/olddev2.ini" >"$tmp/olddev4.ini"
PIPETTE_PLUGIN_PATH=$TEST_PLUGIN_DIR run timeout 60 "$PIPETTE" train --quiet "$tmp/olddev4.ini"
expect_status 1 "a diverging loss on a 2.1 device"
expect_err "^pipette: rank 1, step [0-9]+, F[0-9]+\.1: the loss is -?(nan|inf): training diverged \(try a smaller lr\)$" "a 2.1 device stops on the loss after the step"

sed 's|^microbatches = .*|microbatches = 7|' "$examples/mlp.ini" >"$tmp/m7.ini"
run "$PIPETTE" train "$tmp/m7.ini"
expect_status 2 "batch not divisible by micro-batches"
expect_no_out "batch not divisible"

# A plan that does not fit is refused before anything is allocated, with
# its numbers and what would fit.
PIPETTE_MEMORY_LIMIT=1900000 run "$PIPETTE" train --quiet "$examples/char-1f1b.ini"
expect_status 1 "a plan over the memory limit"
expect_err "^pipette: the plan needs 2\.0 MiB of host memory but 1\.8 MiB is available \(parameters 95\.8 KiB, gradients 95\.8 KiB, optimizer state 191\.5 KiB, activations 1\.6 MiB\): with recompute = true it would need 1\.6 MiB and fit$" "memory refusal names the fix"
# A limit that is no number of bytes is refused, not ignored.
for limit in abc 0 -5; do
    PIPETTE_MEMORY_LIMIT=$limit run "$PIPETTE" train --quiet "$examples/mlp.ini"
    expect_status 2 "PIPETTE_MEMORY_LIMIT=$limit"
    expect_err "^pipette: PIPETTE_MEMORY_LIMIT=$limit: expected bytes, a number greater than 0$" "PIPETTE_MEMORY_LIMIT=$limit"
done

# GPU ranks where no GPU answers: refused before anything runs, at the
# devices key: with CUDA built, with the driver's reason, exit 1 (check
# accepts the file: the machine lacks the GPU); without, because the cuda
# device plugin is missing, exit 2 (a name not found, as check says).
# Where a GPU answers, the example trains (test_train_cuda checks the
# weights).
# The GPU example checks wherever the cuda plugin is built.
run "$PIPETTE" check "$examples/gpu-char.ini"
if [ "$PP_HAVE_CUDA" = yes ]; then
    expect_status 0 "check of examples/gpu-char.ini"
else
    expect_status 2 "check of examples/gpu-char.ini without the cuda plugin"
fi
if ! "$PIPETTE" devices | grep -q '^GPU 0: '; then
    run "$PIPETTE" train "$examples/gpu-char.ini"
    if [ "$PP_HAVE_CUDA" = yes ]; then
        expect_status 1 "train on cuda ranks where no GPU answers"
    else
        expect_status 2 "train on cuda ranks without the cuda plugin"
    fi
    expect_no_out "train on cuda ranks where no GPU answers"
    expect_err "^$examples/gpu-char\.ini:[0-9]+: \[pipeline\] devices: cuda:0" "cuda ranks refused at devices"
else
    # The CUDA emulator (configure --enable-cuda-emulator) runs the model's
    # 100 GFLOP a step on the CPU, some 20 s: two steps, not twenty.
    steps=20
    if "$PIPETTE" devices | grep -q '^GPU 0: pipette CUDA emulator$'; then
        steps=2
    fi
    run timeout 300 "$PIPETTE" train --steps $steps "$examples/gpu-char.ini"
    expect_status 0 "train examples/gpu-char.ini on the GPU"
    expect_out "^  transport: peer 0->1 0->2 0->3 1->0 1->2 1->3 2->0 2->1 2->3 3->0 3->1 3->2$" "ranks on one GPU talk through peer"
    expect_out "^step +$steps  loss " "GPU training logs its steps"
    # The small GPT in bf16 on two ranks of the GPU (cuDNN's attention
    # where it applies, the fused GELU, clipping): eval from its 3-step
    # checkpoint gives the loss training logs at step 4.
    sed -e 's|^devices = .*|devices = cuda:0*2|' -e "s|^path = .*|path = $corpus|" \
        -e "s|^\\[train\\]|[train]\\ncheckpoint = $tmp/gpu.ckpt\\nprecision = bf16|" \
        -e 's|^batch = .*|batch = 8|' -e 's|^microbatches = .*|microbatches = 2|' \
        -e 's|^log_every = .*|log_every = 1|' "$examples/gpt-char.ini" >"$tmp/gpu-gpt.ini"
    run timeout 300 "$PIPETTE" train --steps 4 "$tmp/gpu-gpt.ini"
    expect_status 0 "the GPT in bf16 on the GPU"
    fourth=$(loss_at 4)
    run timeout 300 "$PIPETTE" train --steps 3 -q "$tmp/gpu-gpt.ini"
    expect_status 0 "the GPT's 3-step checkpoint on the GPU"
    run timeout 300 "$PIPETTE" eval --checkpoint "$tmp/gpu.ckpt/step-00000003" --batches 4 "$tmp/gpu-gpt.ini"
    expect_status 0 "eval on the GPU"
    expect_out "^batch +4  loss $fourth " "eval on the GPU: train's fourth loss"
    # Resumed on the GPU from step 3 (Adam's moments read back into device
    # memory): train's fourth loss; the 4 steps' checkpoint again, read
    # from the device.
    mkdir "$tmp/gpu3.ckpt"
    cp -r "$tmp/gpu.ckpt/step-00000003" "$tmp/gpu3.ckpt/"
    run timeout 300 "$PIPETTE" train --resume "$tmp/gpu3.ckpt" --steps 4 "$tmp/gpu-gpt.ini"
    expect_status 0 "resumed on the GPU"
    expect_out "^step +4  loss $fourth " "resumed on the GPU: the fourth loss"
    # Trained on CPU ranks, resumed on the GPU (another device kind): its
    # fifth step's loss is the CPU's, to bf16's rounding.
    sed -e 's|^devices = .*|devices = cpu*2|' \
        -e "s|^checkpoint = .*|checkpoint = $tmp/cpu.ckpt\ncheckpoint_every = 1|" \
        "$tmp/gpu-gpt.ini" >"$tmp/cpu-gpt.ini"
    run timeout 300 "$PIPETTE" train --steps 5 "$tmp/cpu-gpt.ini"
    expect_status 0 "the GPT in bf16 on CPU ranks"
    cpu_fifth=$(loss_at 5)
    run timeout 300 "$PIPETTE" train --resume "$tmp/cpu.ckpt/step-00000004" --steps 5 "$tmp/gpu-gpt.ini"
    expect_status 0 "the CPU's checkpoint resumed on the GPU"
    awk -v a="$(loss_at 5)" -v b="$cpu_fifth" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d < 0.01 * b) }' ||
        fail "resumed on the GPU from the CPU's step 4: step 5 loss $(loss_at 5), the CPU's $cpu_fifth"
    # Replicas on GPUs: an unindexed cuda takes the next GPU; one more
    # replica than GPUs is refused at devices, naming the missing one.
    gpus=$("$PIPETTE" devices | grep -c '^GPU [0-9]*: ')
    # (A batch that gpus and gpus + 1 replicas of 2 micro-batches divide.)
    sed -e 's|^devices = .*|devices = cuda|' -e 's|^steps = 200|steps = 2|' \
        -e 's|^microbatches = 8|microbatches = 2|' \
        -e "s|^batch = 256|batch = $((32 * gpus * (gpus + 1)))|" \
        "$examples/mlp.ini" >"$tmp/gpus.ini"
    printf '[parallel]\ndata = %d\n' $((gpus + 1)) >>"$tmp/gpus.ini"
    run timeout 120 "$PIPETTE" train "$tmp/gpus.ini"
    expect_status 1 "a replica more than the GPUs"
    expect_err "^$tmp/gpus\.ini:[0-9]+: \[pipeline\] devices: cuda:$gpus: there is no device with that index \(the cuda plugin counts $gpus\)$" "the missing GPU named"
    sed -i "s|^data = .*|data = $gpus|" "$tmp/gpus.ini"
    run timeout 120 "$PIPETTE" train "$tmp/gpus.ini"
    expect_status 0 "a replica on each GPU"
    [ "$gpus" -lt 2 ] ||
        expect_out "^ +$((gpus - 1)) +0 +[^ ]+ +cuda:$((gpus - 1)) +$((gpus - 1))  0$" "the last replica on the last GPU"
fi

# What a rank's kind of device needs is known from the file, and check
# refuses it as train does, with no device at hand: a layer without a
# CUDA half on a GPU rank (nogpu, a test device whose buffers are CUDA
# memory and which no machine has), and where this build has no CUDA, an
# optimizer without a CUDA update. A GPU that does not answer is the
# machine's failure: check accepts the file, train says so and exits 1.
nogpu_path="$PP_BUILDDIR/tests/plugins/devices/.libs:$TEST_PLUGIN_DIR"
printf '[model]\ninput = 8\n[layer g]\ntype = good_layer\n[layer fc]\ntype = linear\nunits = 3\n[layer loss]\ntype = softmax_xent\n[pipeline]\ndevices = nogpu\n[train]\nbatch = 4\n[data]\nsource = synthetic\nfeatures = 8\nclasses = 3\n' >"$tmp/nogpu.ini"
PIPETTE_PLUGIN_PATH=$nogpu_path run "$PIPETTE" check "$tmp/nogpu.ini"
expect_status 2 "check of a CPU-only layer on a GPU rank"
expect_no_out "check of a CPU-only layer on a GPU rank"
expect_err "^$tmp/nogpu\.ini:4: \[layer g\] type: layer plugin 'good_layer' has no CUDA kernels: it cannot run on rank 0 \(nogpu:0\), which holds stage 0$" "a CPU-only layer on a GPU rank named"
if [ "$PP_HAVE_CUDA" = no ]; then
    expect_err "^$tmp/nogpu\.ini:12: \[train\] optimizer: optimizer 'sgd' has no CUDA update: it cannot run on rank 0 \(nogpu:0\)$" "an optimizer without a CUDA update named"
fi
cp "$tmp/err" "$tmp/check-err"
PIPETTE_PLUGIN_PATH=$nogpu_path run "$PIPETTE" train "$tmp/nogpu.ini"
expect_status 2 "train of a CPU-only layer on a GPU rank"
cmp -s "$tmp/check-err" "$tmp/err" || fail "check and train refuse a CPU-only layer on a GPU rank in other words"
if [ "$PP_HAVE_CUDA" = yes ]; then
    sed '/^\[layer g\]/,/^type = good_layer/d' "$tmp/nogpu.ini" >"$tmp/nogpu2.ini"
    PIPETTE_PLUGIN_PATH=$nogpu_path run "$PIPETTE" check "$tmp/nogpu2.ini"
    expect_status 0 "check of a model on a GPU that is not there"
    PIPETTE_PLUGIN_PATH=$nogpu_path run "$PIPETTE" train "$tmp/nogpu2.ini"
    expect_status 1 "train on a GPU that is not there"
    expect_no_out "train on a GPU that is not there"
    expect_err "^$tmp/nogpu2\.ini:9: \[pipeline\] devices: nogpu:0: no GPU answers \(nogpu is a test device\)$" "the missing GPU named at devices"
fi

# stdout that cannot be written: exit 1 with the reason, and train
# refuses to train a run whose plan it cannot print.
if [ -w /dev/full ]; then
    full="pipette: cannot write stdout: No space left on device"
    for cmd in "train --steps 1000000" "eval --batches 1" "gradcheck --layer fc1"; do
        run_full timeout 60 "$PIPETTE" $cmd "$examples/mlp.ini"
        expect_status 1 "$cmd to a full stdout"
        expect_err_is "$full" "$cmd to a full stdout"
    done
fi

# Outputs that could not be written after the last step are refused
# before the first (within a second): the trace, the checkpoint, the log;
# nothing trained.
start=$(date +%s%N)
run "$PIPETTE" train --trace "$tmp/no-such-dir/t.json" "$examples/mlp.ini"
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 1000 ] ||
    fail "an unwritable --trace took $(( ($(date +%s%N) - start) / 1000000 )) ms to refuse"
expect_status 2 "an unwritable --trace"
expect_err "^pipette: --trace: cannot write the trace to $tmp/no-such-dir/t\.json: No such file or directory: nothing is trained$" "an unwritable --trace named"
expect_no_out "an unwritable --trace"
: >"$tmp/plain"
sed "s|^\[train\]|[train]\ncheckpoint = $tmp/plain|" "$examples/mlp.ini" >"$tmp/outdir.ini"
run "$PIPETTE" train "$tmp/outdir.ini"
expect_status 2 "a file as the checkpoint directory"
expect_err "^$tmp/outdir\.ini:[0-9]+: \[train\] checkpoint: $tmp/plain is a file: checkpoints are directories, and \[train\] checkpoint names the one that holds them: nothing is trained$" "a file as the checkpoints' directory named"
sed "s|^\[train\]|[train]\ncheckpoint = $tmp/no-such-dir/c|" "$examples/mlp.ini" >"$tmp/outdir.ini"
run "$PIPETTE" train "$tmp/outdir.ini"
expect_status 2 "an unwritable checkpoint directory"
expect_err "^$tmp/outdir\.ini:[0-9]+: \[train\] checkpoint: cannot write checkpoints to $tmp/no-such-dir/c: No such file or directory: nothing is trained$" "an unwritable checkpoint directory named"
sed "s|^\[train\]|[train]\nlog = $tmp/no-such-dir/log|" "$examples/mlp.ini" >"$tmp/outlog.ini"
run "$PIPETTE" train "$tmp/outlog.ini"
expect_status 2 "an unwritable log"
expect_err "^$tmp/outlog\.ini:[0-9]+: \[train\] log: cannot write the log to $tmp/no-such-dir/log" "an unwritable log named"
# No output may be a file the run reads (the model file, a data file, a
# schedule file), however it is spelt, nor another output's: refused at
# its key before step 1, the file left as it was. Written files' relative
# paths are taken from the current directory, read ones' from the model
# file's: here both are $tmp/in.
mkdir "$tmp/in"
cp "$examples/corpus.txt" "$tmp/in/"
"$PIPETTE" schedule 1f1b -p 3 -m 6 --dump >"$tmp/in/s.txt"
sed -e 's|^schedule = .*|schedule = file:s.txt|' -e 's|^steps = .*|steps = 2|' \
    "$examples/char-1f1b.ini" >"$tmp/in/m.ini"
output_refused() { # output_refused KEY=VALUE MESSAGE [OPTION...]
    sed "s|^\[train\]|[train]\n$1|" "$tmp/in/m.ini" >"$tmp/in/o.ini"
    want=$2
    shift 2
    cd "$tmp/in" || exit 1
    run timeout 60 "$PIPETTE" train "$@" o.ini
    cd - >/dev/null || exit 1
    expect_status 2 "$want"
    expect_no_out "$want"
    [ "$(cat "$tmp/err")" = "$want" ] || fail "not refused with '$want'"
    cmp -s "$examples/corpus.txt" "$tmp/in/corpus.txt" || fail "$want: the corpus changed"
}
output_refused "log = corpus.txt" \
    "o.ini:44: [train] log: corpus.txt is the data file of [data] path, which the run reads: nothing is trained"
output_refused "trace = ../in/o.ini" \
    "o.ini:44: [train] trace: ../in/o.ini is the model file, which the run reads: nothing is trained"
output_refused "checkpoint = $tmp/in/corpus.txt" \
    "o.ini:44: [train] checkpoint: $tmp/in/corpus.txt is the data file of [data] path, which the run reads: nothing is trained"
output_refused "log = run.log" \
    "pipette: --trace: s.txt is the schedule file, which the run reads: nothing is trained" --trace s.txt
output_refused "log = run.log" \
    "pipette: --trace: ./run.log is also where the log goes: nothing is trained" --trace ./run.log
[ ! -e "$tmp/in/run.log" ] || fail "a refused run wrote its log"
sed -e "s|^\[train\]|[train]\ncheckpoint = $tmp/keep.ckpt|" -e 's|^steps = 200|steps = 2|' \
    "$examples/mlp.ini" >"$tmp/keep.ini"
# The log goes out line by line: killed mid-run, every line is whole.
sed -e "s|^\[train\]|[train]\nlog = $tmp/run.log|" -e 's|^steps = 200|steps = 100000000|' \
    -e 's|^log_every = 20|log_every = 1|' "$examples/mlp.ini" >"$tmp/long.ini"
"$PIPETTE" train -q "$tmp/long.ini" &
pid=$!
i=0
while [ "$(wc -l <"$tmp/run.log" 2>/dev/null || echo 0)" -lt 30 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ "$(wc -l <"$tmp/run.log")" -ge 30 ] || fail "the log had $(wc -l <"$tmp/run.log") lines after 10 s"
[ "$(tail -c 1 "$tmp/run.log" | od -An -c | tr -d ' ')" = '\n' ] ||
    fail "the log of a killed run ends in half a line: $(tail -c 40 "$tmp/run.log")"

# SIGTERM and SIGINT: the step ends, the checkpoint is written, exit
# 143 and 130, within a step and 2 s (a step here is a millisecond).
for sig in TERM INT; do
    rm -rf "$tmp/keep.ckpt"
    sed -e 's|^steps = 2$|steps = 10000000000|' "$tmp/keep.ini" >"$tmp/sig.ini"
    "$PIPETTE" train -q "$tmp/sig.ini" 2>"$tmp/err" &
    pid=$!
    sleep 2
    kill -$sig $pid
    i=0
    while kill -0 $pid 2>/dev/null && [ $i -lt 20 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 $pid 2>/dev/null; then
        fail "SIG$sig: still running 2 s on"
        kill -9 $pid
    fi
    wait $pid
    status=$?
    expect_status $([ $sig = TERM ] && echo 143 || echo 130) "SIG$sig"
    expect_err "^pipette: stopped by SIG$sig after step [0-9]+ of 10000000000; its checkpoint is $tmp/keep\.ckpt/step-[0-9]{8}$" "SIG$sig said"
    saved=$(sed -n 's/.*its checkpoint is //p' "$tmp/err")
    "$PIPETTE" checkpoint "$saved" >/dev/null 2>&1 || fail "SIG$sig: no whole checkpoint"
done
model_file=$(ls "$tmp"/keep.ckpt/step-*/model.safetensors)
[ "$(stat -c %a "$model_file")" = "$(printf '%o' $((0666 & ~$(umask))))" ] ||
    fail "the checkpoint's mode is $(stat -c %a "$model_file"), not what the umask gives"

run "$PIPETTE" train
expect_status 2 "train without a file"
run "$PIPETTE" train --steps 0 "$examples/mlp.ini"
expect_status 2 "--steps 0"
run "$PIPETTE" train "$tmp/none.ini"
expect_status 2 "train a missing file"

finish
