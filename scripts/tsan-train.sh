#!/bin/sh
# scripts/tsan-train.sh - training under ThreadSanitizer: the ranks are
# threads of one process, and every message, gradient sum and data
# hand-over between them is checked for races and lock-order problems.
#
#   scripts/tsan-train.sh [-s STEPS]
#
# Run from a build configured with --enable-sanitizers=thread (CI does,
# in .ci/run). Trains examples/gpt-char.ini (attention, residuals that
# cross stages, a head tied to the token table: a sum of its gradient
# across ranks, the gradient norm summed over ranks for clipping) on 4
# cpu ranks for STEPS steps (default 20) under 1F1B, interleaved 1F1B
# and ZB-V (2 stages per rank: a stage's forward and backward from two
# neighbours), and 1F1B on 2 replicas of 2 ranks (the replicas' gradient
# sums). Any report stops the run (halt_on_error) and fails the script.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
steps=20
while getopts s: opt; do
    case $opt in
    s) steps=$OPTARG ;;
    *) sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
done
[ -x src/pipette ] || {
    echo "tsan-train.sh: no src/pipette here: run from a build configured" \
         "with --enable-sanitizers=thread, after make" >&2
    exit 2
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/pp-tsan.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cp "$srcdir/examples/corpus.txt" "$dir/"
unset PIPETTE_PLUGIN_PATH
TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
export TSAN_OPTIONS

status=0
# NAME SCHEDULE STAGES_PER_RANK DATA
for run in "1f1b 1f1b 1 1" "interleaved interleaved 2 1" "zb-v zb-v 2 1" \
    "1f1b-data 1f1b 1 2"; do
    set -- $run
    if [ "$4" -gt 1 ]; then
        devices="cpu*$((4 / $4))"
        parallel="[parallel]
data = $4"
    else
        devices="cpu*4"
        parallel=
    fi
    sed -e "s/^name = .*/name = tsan-$1/" \
        -e "s/^schedule = .*/schedule = $2/" \
        -e "s/^devices = .*/devices = $devices\\
stages_per_rank = $3/" "$srcdir/examples/gpt-char.ini" >"$dir/$1.ini"
    [ -z "$parallel" ] || printf '%s\n' "$parallel" >>"$dir/$1.ini"
    start=$(date +%s)
    if src/pipette train --quiet --steps "$steps" "$dir/$1.ini" \
        >"$dir/$1.log" 2>&1; then
        echo "tsan-train.sh: $1: $steps steps, no report," \
             "$(($(date +%s) - start)) s"
    else
        rc=$?
        status=1
        echo "tsan-train.sh: $1: exit status $rc" >&2
        cat "$dir/$1.log" >&2
    fi
    if grep -q "ThreadSanitizer" "$dir/$1.log"; then
        status=1
        echo "tsan-train.sh: $1: ThreadSanitizer reported" >&2
        cat "$dir/$1.log" >&2
    fi
done
exit "$status"
