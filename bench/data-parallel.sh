#!/bin/sh
# bench/data-parallel.sh - data parallelism on 2 CPU cores: how throughput
# scales with replicas of the pipeline, and how much of the replicas'
# gradient sums the drain hides.
#
#   bench/data-parallel.sh [PIPETTE]      (default: src/pipette of this tree)
#
# Scaling: an MLP of eight 512-wide layers on one rank (p = 1), 4
# micro-batches of 64 samples per replica, trained with D = 1 (batch 256)
# and D = 2 (batch 512: the same batch per replica, one core each).
# Samples per second are the median of the steps after the first five;
# the scaling is D = 2's over D = 1's (2.00 would be perfect).
#
# Overlap: the same MLP on p = 2 ranks x D = 2 replicas (4 ranks, 2 to a
# core), 1F1B with 8 micro-batches per replica, traced. Each stage's sum
# over its replicas starts after its last backward; for each sum span on
# the trace's "rank R sums" tracks, the share of its time during which
# another rank computes is overlap, and the time from the last compute's
# end to the step's end is what the sums add to the step.
#
# Processes: where mpirun is on PATH and pipette was built with MPI, the
# same 2-rank pipeline (p = 2, 8 micro-batches, no replicas) as 2 threads
# of one process and as 2 MPI processes (mpirun -np 2): the process
# overhead is the change in median step time. MPIRUN overrides the
# launcher ("mpirun --allow-run-as-root --oversubscribe" by default for
# Open MPI).
#
# REPEAT (default 3) runs each and reports the run of median speed, the
# variants taking turns so that drifting load slows them alike. Needs
# python3 (to read the log and the trace). Prints Markdown tables.
set -eu
pipette=${1:-$(dirname "$0")/../src/pipette}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
steps=25
repeat=${REPEAT:-3}

model() { # model DEVICES DATA BATCH MICROBATCHES
    echo "[model]"
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
devices = $1
microbatches = $4
partition = flops
[parallel]
data = $2
[train]
batch = $3
steps = $steps
log_every = 1
optimizer = sgd
lr = 0.01
[data]
source = synthetic
classes = 16
features = 512
INI
}

# Median samples/s of the steps after the first five; $LAUNCH (mpirun
# ...) before pipette where set.
speed() { # speed DEVICES DATA BATCH MICROBATCHES [TRACE]
    model "$1" "$2" "$3" "$4" >"$work/m.ini"
    ${LAUNCH:-} "$pipette" train ${5:+--trace "$5"} "$work/m.ini" >"$work/log"
    python3 - "$work/log" <<'PY'
import statistics, sys
log = [l.split() for l in open(sys.argv[1]) if l.startswith("step ")]
print("%.1f" % statistics.median(float(l[4]) for l in log[5:]))
PY
}

for rep in $(seq "$repeat"); do
    echo "1 $(speed cpu 1 256 4)" >>"$work/runs"
    echo "2 $(speed cpu 2 512 4)" >>"$work/runs"
done
median() { awk -v d="$1" '$1 == d { print $2 }' "$work/runs" | sort -n |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
one=$(median 1) two=$(median 2)
echo "| replicas x ranks | batch | samples/s | scaling |"
echo "|---|---|---|---|"
echo "| 1 x 1 | 256 | $one | 1.00x |"
awk -v a="$one" -v b="$two" 'BEGIN { printf "| 2 x 1 | 512 | %s | %.2fx |\n", b, b / a }'

speed "cpu*2" 2 512 8 "$work/t.json" >/dev/null
echo
python3 - "$work/t.json" "$steps" <<'PY'
import json, sys
ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("ph") == "X"]
steps = int(sys.argv[2])
ranks = max(e["tid"] for e in ev if e["cat"] != "sum") + 1
compute = [e for e in ev if e["cat"] in ("F", "B", "BI", "BW")]
sums = [e for e in ev if e["cat"] == "sum"]
# A step: the compute and sums between two optimizer flushes; grouped by
# the time order of each rank's spans (steps never overlap: a barrier).
starts = sorted(e["ts"] for e in compute)
def overlap(s):
    a, b = s["ts"], s["ts"] + s["dur"]
    others = [(max(a, c["ts"]), min(b, c["ts"] + c["dur"])) for c in compute
              if c["tid"] != s["tid"] - ranks and c["ts"] < b and c["ts"] + c["dur"] > a]
    # The union of the others' busy intervals within the sum.
    others.sort()
    covered, end = 0.0, a
    for lo, hi in others:
        lo = max(lo, end)
        if hi > lo:
            covered += hi - lo
            end = hi
    return covered
tot = sum(s["dur"] for s in sums)
hid = sum(overlap(s) for s in sums)
print("| replicas x ranks | sums per step | sum time per step, ms | hidden behind other ranks' compute |")
print("|---|---|---|---|")
print("| 2 x 2 (1F1B, 8 micro-batches) | %d | %.2f | %.0f%% |"
      % (len(sums) // steps, tot / 1000.0 / steps, 100.0 * hid / tot if tot else 0))
PY

# Threads against processes, where MPI is there.
if [ -n "${MPIRUN:-}" ]; then
    mpirun=$MPIRUN
elif mpirun --version 2>/dev/null | grep -q "Open MPI"; then
    mpirun="mpirun --allow-run-as-root --oversubscribe"
else
    mpirun=mpirun
fi
if command -v mpirun >/dev/null 2>&1 &&
    "$pipette" plugins 2>/dev/null | grep -q "mpi-job"; then
    : >"$work/procs"
    for rep in $(seq "$repeat"); do
        echo "threads $(speed "cpu*2" 1 512 8)" >>"$work/procs"
        echo "processes $(LAUNCH="$mpirun -np 2" speed "cpu*2" 1 512 8)" >>"$work/procs"
    done
    med() { awk -v d="$1" '$1 == d { print $2 }' "$work/procs" | sort -n |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
    echo
    echo "| 2 ranks (1F1B, 8 micro-batches, batch 512) | samples/s | step ms | overhead |"
    echo "|---|---|---|---|"
    awk -v a="$(med threads)" -v b="$(med processes)" 'BEGIN {
        printf "| 2 threads of one process | %s | %.2f | |\n", a, 512000 / a
        printf "| 2 MPI processes | %s | %.2f | %+.1f%% |\n", b, 512000 / b, 100 * (a / b - 1) }'
fi
