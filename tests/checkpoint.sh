#!/bin/sh
# tests/checkpoint.sh - checkpoints that survive: a run resumed from one
# ends with the bits of a run never stopped (after SIGTERM too, and after
# a crash while writing the next); a flipped byte in any tensor, its
# header or the manifest, and a file cut short, are refused naming the
# file and tensor, the previous checkpoint still resuming; a full disk
# leaves the previous one whole; `pipette checkpoint` says what one
# holds; the newest `keep` stay; the log holds every step of a resumed
# run. (Resuming onto other schedules, ranks and precisions: test_train.)
. "${srcdir:-.}/tests/lib.sh"
examples="${srcdir:-.}/examples"
cp "$examples/corpus.txt" "$tmp/"

# The character model (adamw, 1f1b on 3 ranks), 10 steps, a checkpoint
# every 5 into $tmp/NAME.ckpt, the log in $tmp/NAME.log.
model() { # model NAME [SED-EXPRESSION]
    sed -e "s|^log_every = .*|log_every = 1\nlog = $tmp/$1.log\ncheckpoint = $tmp/$1.ckpt\ncheckpoint_every = 5|" \
        -e 's|^steps = 300|steps = 10|' "$examples/char-1f1b.ini" |
        sed -e "${2:-s/^//}" >"$tmp/$1.ini"
}
# The same bits: every file of checkpoint $1 against $2 (the manifests
# differ only where a run's length is said).
same() { # same DIR1 DIR2 WHAT
    for f in model.safetensors optimizer.safetensors; do
        cmp -s "$1/$f" "$2/$f" || fail "$3: $f differs"
    done
}
# The byte at offset $2 of file $1 flipped (run twice: restored).
flip() { # flip FILE OFFSET
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 255)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# Each tensor of a safetensors file: NAME FIRST-BYTE (in the file).
tensors_at() { # tensors_at FILE
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    head -c $((8 + n)) "$1" | tail -c "$n" |
        grep -o '"[^"]*":{"dtype":"F32","shape":\[[0-9,]*\],"data_offsets":\[[0-9]*,[0-9]*\]}' |
        sed 's/^"\([^"]*\)".*"data_offsets":\[\([0-9]*\),.*/\1 \2/' |
        awk -v base=$((8 + n)) '{ print $1, base + $2 }'
}

model whole
run timeout 60 "$PIPETTE" train "$tmp/whole.ini"
expect_status 0 "10 steps"
[ -d "$tmp/whole.ckpt/step-00000005" ] && [ -d "$tmp/whole.ckpt/step-00000010" ] ||
    fail "checkpoints of steps 5 and 10: $(ls "$tmp/whole.ckpt")"
run "$PIPETTE" checkpoint "$tmp/whole.ckpt"
expect_status 0 "pipette checkpoint"
expect_out "^checkpoint $tmp/whole\.ckpt/step-00000010 \(version 1\)$" "the newest is described"
expect_out "^  step 10 of a run of 10; the data at sample 480; seed 1$" "its step and data position"
expect_out "^  optimizer adamw, 2 state tensors per parameter$" "its optimizer"
expect_out "^    layer hidden type=linear units=64$" "the layers it was made for"
expect_out "^    hidden\.weight +F32 +\[64,24\] 6144 bytes, crc32c [0-9a-f]{8} ok$" "a tensor and its CRC"
expect_out "^    hidden\.weight\.state\.1 +F32 +\[64,24\] 6144 bytes, crc32c [0-9a-f]{8} ok$" "its optimizer state"
expect_out "^  every tensor's CRC32C matches$" "the verdict"
if [ -w /dev/full ]; then
    run_full "$PIPETTE" checkpoint "$tmp/whole.ckpt"
    expect_status 1 "pipette checkpoint to a full stdout"
    expect_err_is "pipette: cannot write stdout: No space left on device" "pipette checkpoint to a full stdout"
fi

# 5 steps, then resumed to 10: the bits of 10 (parameters, adamw's
# moments), the log holding all 10 steps.
model part 's|^steps = 10|steps = 5|'
run timeout 60 "$PIPETTE" train "$tmp/part.ini"
expect_status 0 "5 steps"
model part
run timeout 60 "$PIPETTE" train --resume "$tmp/part.ini"
expect_status 0 "resumed to 10"
expect_out "^  resumed from $tmp/part\.ckpt/step-00000005: 5 steps made, the data at sample 240$" "the plan says where it resumed"
expect_out "^step +6  loss " "the first step resumed is step 6"
same "$tmp/part.ckpt/step-00000010" "$tmp/whole.ckpt/step-00000010" "5 steps and 5 resumed"
[ "$(grep -c '^step ' "$tmp/part.log")" -eq 10 ] || fail "the log of a resumed run: $(grep -c '^step ' "$tmp/part.log") steps"
[ "$(awk '$1 == "step" { print $2, $4 }' "$tmp/part.log")" = "$(awk '$1 == "step" { print $2, $4 }' "$tmp/whole.log")" ] ||
    fail "the resumed log's losses differ from the whole run's"
grep -Eq "^checkpoint $tmp/part\.ckpt/step-00000010: 0\.3 MB in [0-9.]+ s \([0-9]+ MB/s\)$" "$tmp/part.log" ||
    fail "the log does not say where the checkpoint went"
# Resumed again at its end: nothing left.
run timeout 60 "$PIPETTE" train --resume "$tmp/part.ini"
expect_status 0 "resumed at the last step"
expect_out "^pipette: $tmp/part\.ckpt is at step 10 and the run has 10: nothing is left to train$" "nothing left said"
# --resume DIR, --resume=DIR, and a bare --resume with none yet.
run timeout 60 "$PIPETTE" train --resume="$tmp/whole.ckpt/step-00000005" --steps 6 -q "$tmp/part.ini"
expect_status 0 "--resume=DIR"
model fresh
run timeout 60 "$PIPETTE" train --resume --steps 1 "$tmp/fresh.ini"
expect_status 0 "--resume with no checkpoint yet"
expect_err "^pipette: $tmp/fresh\.ckpt holds no checkpoint yet: training from step 1$" "none yet said"
run timeout 60 "$PIPETTE" train --resume "$tmp/no-such" "$tmp/fresh.ini"
expect_status 2 "--resume of a directory that is not there"
expect_err "^pipette: --resume: $tmp/no-such: no checkpoint: No such file or directory$" "a missing directory named"
mkdir "$tmp/empty"
run timeout 60 "$PIPETTE" train --resume "$tmp/empty" "$tmp/fresh.ini"
expect_status 2 "--resume of an empty directory"
expect_err "^pipette: --resume: $tmp/empty holds no complete checkpoint$" "no checkpoint named"
sed '/^checkpoint/d' "$tmp/fresh.ini" >"$tmp/nockpt.ini"
run "$PIPETTE" train --resume "$tmp/nockpt.ini"
expect_status 2 "--resume without [train] checkpoint"
expect_err "^pipette train: --resume needs a checkpoint: name its directory \(--resume DIR\) or set \[train\] checkpoint in $tmp/nockpt\.ini$" "--resume needs a checkpoint"

# Another model's, and another optimizer's or seed's: refused, named.
model other 's|^units = 64|units = 32|'
run timeout 60 "$PIPETTE" train --resume "$tmp/whole.ckpt" "$tmp/other.ini"
expect_status 1 "another model's checkpoint"
expect_err "^pipette: $tmp/whole\.ckpt/step-00000010 is a checkpoint of another model: it has 'layer hidden type=linear units=64' where $tmp/other\.ini has 'layer hidden type=linear units=32'$" "the differing layer named"
model other 's|^optimizer = adamw|optimizer = sgd\nmomentum = 0.9|'
run timeout 60 "$PIPETTE" train --resume "$tmp/whole.ckpt" "$tmp/other.ini"
expect_status 1 "another optimizer's state"
expect_err "^pipette: $tmp/whole\.ckpt/step-00000010 holds the state of optimizer adamw \(2 per parameter\); this model trains with sgd \(1\)$" "the optimizer named"
model other 's|^seed = 1|seed = 2|'
run timeout 60 "$PIPETTE" train --resume "$tmp/whole.ckpt" "$tmp/other.ini"
expect_status 1 "another seed"
expect_err "was trained with seed 1 and this model has seed 2" "the seed named"

# A flipped byte in each tensor: refused naming the file and the tensor,
# by pipette checkpoint and by --resume; the previous checkpoint resumes.
cp -r "$tmp/whole.ckpt" "$tmp/bad.ckpt"
ck="$tmp/bad.ckpt/step-00000010"
n=0
for f in model optimizer; do
    tensors_at "$ck/$f.safetensors" >"$tmp/at"
    [ "$(wc -l <"$tmp/at")" -eq $([ $f = model ] && echo 7 || echo 14) ] ||
        fail "$f.safetensors: $(wc -l <"$tmp/at") tensors found"
    while read -r name at; do
        flip "$ck/$f.safetensors" "$at"
        run "$PIPETTE" checkpoint "$tmp/bad.ckpt"
        expect_status 1 "$name flipped: pipette checkpoint"
        expect_out "^    $name +F32 .* NOT AS WRITTEN$" "$name flipped: its line"
        expect_err "^pipette: $ck/$f\.safetensors: tensor '$name' is corrupt: its CRC32C is [0-9a-f]{8}, written as [0-9a-f]{8}$" "$name flipped: named"
        [ $n -lt 3 ] && {
            run "$PIPETTE" train --resume "$tmp/bad.ckpt" "$tmp/whole.ini"
            expect_status 1 "$name flipped: --resume"
            expect_err "^pipette: $ck/$f\.safetensors: tensor '$name' is corrupt" "$name flipped: --resume names it"
        }
        flip "$ck/$f.safetensors" "$at"
        n=$((n + 1))
    done <"$tmp/at"
done
# The header, the manifest, a file cut short.
flip "$ck/model.safetensors" 20
run "$PIPETTE" checkpoint "$tmp/bad.ckpt"
expect_status 1 "a flipped header byte"
expect_err "^pipette: $ck/model\.safetensors: (its header is corrupt \(its CRC32C is [0-9a-f]{8}, the manifest says [0-9a-f]{8}\)|not a safetensors file: .*)$" "a flipped header named"
flip "$ck/model.safetensors" 20
truncate -s -3 "$ck/optimizer.safetensors"
run "$PIPETTE" train --resume "$tmp/bad.ckpt" "$tmp/whole.ini"
expect_status 1 "a file cut short"
expect_err "^pipette: $ck/optimizer\.safetensors: cut short: [0-9]+ bytes where the manifest says [0-9]+$" "a file cut short named"
sed -i 's/^step 10$/step 11/' "$ck/MANIFEST"
run "$PIPETTE" train --resume "$tmp/bad.ckpt" "$tmp/whole.ini"
expect_status 2 "a changed manifest"
expect_err "^pipette: --resume: $ck/MANIFEST: the manifest is corrupt \(its CRC32C does not match\); the newest whole checkpoint is $tmp/bad\.ckpt/step-00000005: name it to use it$" "a changed manifest named, the previous one offered"
# A checkpoint's files are regular files: a FIFO in their place is
# refused at once, not waited on (timeout turns a hang into a failure).
cp -r "$tmp/whole.ckpt/step-00000010" "$tmp/fifo.ckpt"
rm "$tmp/fifo.ckpt/model.safetensors"
mkfifo "$tmp/fifo.ckpt/model.safetensors"
run timeout 20 "$PIPETTE" train --resume "$tmp/fifo.ckpt" "$tmp/whole.ini"
expect_status 1 "a FIFO for a checkpoint file"
expect_err "^pipette: $tmp/fifo\.ckpt/model\.safetensors: is a FIFO; a checkpoint file must be a regular file$" "a FIFO for a checkpoint file"
rm "$tmp/fifo.ckpt/MANIFEST"
mkfifo "$tmp/fifo.ckpt/MANIFEST"
run timeout 20 "$PIPETTE" checkpoint "$tmp/fifo.ckpt"
expect_status 1 "a FIFO for a manifest"
expect_err "^pipette: $tmp/fifo\.ckpt/MANIFEST: is a FIFO; a checkpoint manifest must be a regular file$" "a FIFO for a manifest"
run timeout 60 "$PIPETTE" train --resume "$tmp/bad.ckpt/step-00000005" -q "$tmp/part.ini"
expect_status 0 "the previous checkpoint resumes"
same "$tmp/part.ckpt/step-00000010" "$tmp/whole.ckpt/step-00000010" "the previous checkpoint resumed"

# Killed (SIGKILL) while writing step 10's checkpoint: step 5's stands,
# and resuming from it ends with the bits of the whole run.
model crash
run timeout 60 "$PIPETTE" train --steps 5 -q "$tmp/crash.ini"
expect_status 0 "5 steps before the crash"
run env PIPETTE_TEST_CHECKPOINT_KILL=20000 timeout 60 "$PIPETTE" train --resume -q "$tmp/crash.ini"
expect_status 137 "killed while writing"
[ -d "$tmp/crash.ckpt/step-00000010.partial" ] && [ ! -e "$tmp/crash.ckpt/step-00000010" ] ||
    fail "a killed write left $(ls "$tmp/crash.ckpt")"
run "$PIPETTE" checkpoint "$tmp/crash.ckpt"
expect_status 0 "after the crash"
expect_out "^checkpoint $tmp/crash\.ckpt/step-00000005 " "the previous checkpoint is the newest whole one"
run timeout 60 "$PIPETTE" train --resume -q "$tmp/crash.ini"
expect_status 0 "resumed after the crash"
same "$tmp/crash.ckpt/step-00000010" "$tmp/whole.ckpt/step-00000010" "resumed after a crash"
[ -z "$(ls "$tmp/crash.ckpt" | grep partial)" ] || fail "the unfinished checkpoint was left: $(ls "$tmp/crash.ckpt")"

# A full disk (files limited to 40 KiB: the model file is 98 KB): the
# write fails naming the file, exit 1, the previous checkpoint whole.
model full
run timeout 60 "$PIPETTE" train --steps 5 -q "$tmp/full.ini"
run timeout 60 bash -c "trap '' XFSZ; ulimit -f 40; exec \"\$0\" train --resume -q \"\$1\"" "$PIPETTE" "$tmp/full.ini"
expect_status 1 "a full disk"
expect_err "^pipette: step 10: $tmp/full\.ckpt/step-00000010\.partial/model\.safetensors: cannot write: File too large$" "a full disk names the file"
run "$PIPETTE" checkpoint "$tmp/full.ckpt"
expect_status 0 "the previous checkpoint after a full disk"
expect_out "^checkpoint $tmp/full\.ckpt/step-00000005 " "step 5's is whole"

# On a small tmpfs (where this may mount one): the disk full for real,
# the previous checkpoint whole.
mkdir "$tmp/small"
if mount -t tmpfs -o size=450k tmpfs "$tmp/small" 2>/dev/null; then
    sed "s|^checkpoint = .*|checkpoint = $tmp/small/c|" "$tmp/full.ini" >"$tmp/small.ini"
    run timeout 60 "$PIPETTE" train --steps 5 -q "$tmp/small.ini"
    expect_status 0 "5 steps on a small tmpfs"
    run timeout 60 "$PIPETTE" train --resume -q "$tmp/small.ini"
    expect_status 1 "a full tmpfs"
    expect_err "^pipette: step 10: $tmp/small/c/step-00000010\.partial/(model|optimizer)\.safetensors: cannot write: No space left on device$" "a full tmpfs names the file"
    run "$PIPETTE" checkpoint "$tmp/small/c"
    expect_status 0 "the previous checkpoint on a full tmpfs"
    expect_out "^checkpoint $tmp/small/c/step-00000005 " "step 5's is whole on the full tmpfs"
    umount "$tmp/small"
else
    echo "(no tmpfs could be mounted: the full disk is the file size limit's alone)"
fi

# keep: the newest 2 of 4 stay, none unfinished, the log and the
# checkpoint directory checked before step 1.
model keep 's|^checkpoint_every = 5|checkpoint_every = 1\nkeep = 2|'
run timeout 60 "$PIPETTE" train --steps 4 -q "$tmp/keep.ini"
[ "$(ls "$tmp/keep.ckpt" | tr '\n' ' ')" = "step-00000003 step-00000004 " ] ||
    fail "keep = 2 kept $(ls "$tmp/keep.ckpt")"
# A run that goes back (to step 3 of a run since at step 8) keeps the
# newest 2 up to where it is, and leaves the newer ones alone.
cp -r "$tmp/keep.ckpt/step-00000003" "$tmp/step3"
run timeout 60 "$PIPETTE" train --resume --steps 8 -q "$tmp/keep.ini"
expect_status 0 "on to step 8"
run timeout 60 "$PIPETTE" train --resume "$tmp/step3" --steps 5 -q "$tmp/keep.ini"
expect_status 0 "back to step 3, on to 5"
[ "$(ls "$tmp/keep.ckpt" | tr '\n' ' ')" = "step-00000004 step-00000005 step-00000007 step-00000008 " ] ||
    fail "gone back, keep = 2 kept $(ls "$tmp/keep.ckpt")"
model nokeep 's|^seed = 1|seed = 1\nkeep = 3|'
sed -i '/^checkpoint/d' "$tmp/nokeep.ini"
run "$PIPETTE" check "$tmp/nokeep.ini"
expect_status 2 "keep without checkpoint"
expect_err "^$tmp/nokeep\.ini:[0-9]+: \[train\] keep: has no use without \[train\] checkpoint, the directory the checkpoints go to$" "keep without checkpoint"

# SIGTERM mid-run: a checkpoint of the step it ended; resumed to step
# 1000 it gives the bits of 1000 steps never stopped.
model term 's|^steps = 10|steps = 1000|;s|^checkpoint_every = 5|checkpoint_every = 0|'
"$PIPETTE" train -q "$tmp/term.ini" 2>"$tmp/err" &
pid=$!
i=0
while [ "$(grep -c '^step' "$tmp/term.log" 2>/dev/null || echo 0)" -lt 20 ] && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -TERM $pid
wait $pid
status=$?
expect_status 143 "SIGTERM"
done_steps=$(sed -n 's/^pipette: stopped by SIGTERM after step \([0-9]*\) of 1000.*/\1/p' "$tmp/err")
[ -n "$done_steps" ] && [ "$done_steps" -lt 1000 ] || fail "SIGTERM: $(cat "$tmp/err")"
[ "$(grep -c '^step' "$tmp/term.log")" -eq "$done_steps" ] ||
    fail "the log holds $(grep -c '^step' "$tmp/term.log") steps of $done_steps made"
run timeout 120 "$PIPETTE" train --resume -q "$tmp/term.ini"
expect_status 0 "resumed after SIGTERM"
model term2 's|^steps = 10|steps = 1000|;s|^checkpoint_every = 5|checkpoint_every = 0|'
run timeout 120 "$PIPETTE" train -q "$tmp/term2.ini"
same "$tmp/term.ckpt/step-00001000" "$tmp/term2.ckpt/step-00001000" "resumed after SIGTERM"

# The export reads back by the safetensors format's rules alone (a
# u64 header length, a JSON header, the tensors tiling the data).
if command -v python3 >/dev/null 2>&1; then
    python3 - "$tmp/whole.ckpt/step-00000010/model.safetensors" <<'EOF' || fail "model.safetensors by the format's rules"
import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack_from("<Q", data, 0)
head = json.loads(data[8:8 + n])
assert head.pop("__metadata__")["format"] == "pt"
spans = sorted(tuple(v["data_offsets"]) for v in head.values())
assert spans[0][0] == 0 and spans[-1][1] == len(data) - 8 - n
assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
for v in head.values():
    count = 1
    for d in v["shape"]:
        count *= d
    assert v["dtype"] == "F32" and 4 * count == v["data_offsets"][1] - v["data_offsets"][0]
assert head["hidden.weight"]["shape"] == [64, 24]
EOF
fi

run "$PIPETTE" checkpoint
expect_status 2 "pipette checkpoint without a directory"
run "$PIPETTE" checkpoint "$tmp/no-such"
expect_status 2 "pipette checkpoint of nothing"
expect_err "^pipette: $tmp/no-such: no checkpoint: No such file or directory$" "nothing there said"

finish
