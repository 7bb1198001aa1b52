#!/bin/sh
# bench/checkpoint.sh - how fast a checkpoint of a GPT-2-small-sized state
# is written and read, beside cp and cat of the same bytes on the same
# disk.
#
#   bench/checkpoint.sh [PIPETTE] [DIR]   (default: src/pipette of this
#                                         tree, a directory under TMPDIR)
#
# The model: 8 linear layers on 2 CPU ranks, 124.4 M parameters (GPT-2
# small has 124.4 M) trained with adamw, so a checkpoint is 0.50 GB of
# parameters and 1.0 GB of optimizer state (1.49 GB). Its steps are a
# batch of 8 samples: the run's time is the checkpoints'.
#
# Write: `checkpoint_every = 1` for 4 steps; pipette logs each
# checkpoint's size and time (every file written, synced with fsync,
# renamed, the directories synced). The median of the 4 is set beside
# `cp -r` of the same checkpoint into the same file system, and `cp -r`
# then `sync` (what pipette's fsyncs promise: the bytes on the disk).
# Read: `pipette checkpoint DIR` (every tensor read and its CRC32C
# checked) beside `cat` of its files to /dev/null, both from the page
# cache as a run resumed soon after finds them.
#
# A step with a checkpoint: the 4 steps' time with checkpoint_every = 1
# minus without, over 4, beside the write's own time (the other rank
# waits for the write and nothing else).
set -eu
pipette=${1:-$(dirname "$0")/../src/pipette}
work=${2:-$(mktemp -d "${TMPDIR:-/tmp}/pp-ckpt-bench.XXXXXX")}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

model() { # model CHECKPOINT-LINES
    echo "[model]"
    echo "input = 4096"
    for i in 1 2 3 4 5 6 7; do
        printf '[layer fc%d]\ntype = linear\nunits = 4096\n' "$i"
    done
    printf '[layer out]\ntype = linear\nunits = 1701\n'
    printf '[layer loss]\ntype = softmax_xent\n'
    printf '[pipeline]\ndevices = cpu*2\nmicrobatches = 2\n'
    printf '[train]\nbatch = 8\nsteps = 4\noptimizer = adamw\nlr = 1e-4\n'
    printf 'log_every = 1\n%b' "$1"
    printf '[data]\nsource = synthetic\ntask = mixture\nclasses = 1701\n'
    printf 'features = 4096\n'
}
now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

model "checkpoint = $work/ckpt\ncheckpoint_every = 1\nkeep = 1\n" >"$work/ckpt.ini"
model "" >"$work/plain.ini"

t0=$(now)
"$pipette" train "$work/plain.ini" >"$work/plain.out"
t1=$(now)
"$pipette" train "$work/ckpt.ini" >"$work/ckpt.out"
t2=$(now)
ckpt=$(ls -d "$work"/ckpt/step-* | tail -1)
bytes=$(du -b -c "$ckpt"/* | tail -1 | cut -f1)
write=$(awk '$1 == "checkpoint" { print $6 }' "$work/ckpt.out" | median)

# cp, and cp then sync, of the same bytes into the same file system.
sync
c0=$(now); cp -r "$ckpt" "$work/copy1"; c1=$(now)
sync
s0=$(now); cp -r "$ckpt" "$work/copy2"; sync; s1=$(now)

# Reading, from the page cache.
cat "$ckpt"/* >/dev/null
r0=$(now); "$pipette" checkpoint "$ckpt" >/dev/null; r1=$(now)
k0=$(now); cat "$ckpt"/* >/dev/null; k1=$(now)
awk -v bytes="$bytes" -v write="$write" -v cp="$c0 $c1" -v cpsync="$s0 $s1" \
    -v check="$r0 $r1" -v cat="$k0 $k1" -v plain="$t0 $t1" -v with="$t1 $t2" '
function span(pair,  x) { split(pair, x, " "); return x[2] - x[1] }
BEGIN {
    gb = bytes / 1e9
    cp = span(cp); cpsync = span(cpsync); check = span(check); cat = span(cat)
    plain = span(plain); with = span(with)
    printf "| what | seconds | GB/s | vs the peer |\n|---|---|---|---|\n"
    printf "| pipette writes a checkpoint (%.2f GB, median of 4) | %.2f | %.2f | %.2fx cp, %.2fx cp + sync |\n", gb, write, gb / write, write / cp, write / cpsync
    printf "| cp -r of it | %.2f | %.2f | |\n", cp, gb / cp
    printf "| cp -r of it, then sync | %.2f | %.2f | |\n", cpsync, gb / cpsync
    printf "| pipette checkpoint (reads it, every CRC32C) | %.2f | %.2f | %.2fx cp, %.2fx cat |\n", check, gb / check, check / cp, check / cat
    printf "| cat of it to /dev/null | %.2f | %.2f | |\n", cat, gb / cat
    printf "| a step with a checkpoint, beyond one without | %.2f | | the write: %.2f |\n", (with - plain) / 4, write
    printf "\n(4 steps: %.2f s without checkpoints, %.2f s with one each step)\n", plain, with
}'
