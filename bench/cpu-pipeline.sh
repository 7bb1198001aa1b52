#!/bin/sh
# bench/cpu-pipeline.sh - an MLP trained on 2 CPU ranks with 8 micro-batches
# under each schedule: step time, speed-up over vanilla beside the theory
# (1 - bubble) / (1 - bubble of vanilla), and the measured bubble beside
# the one simulated with the costs measured in the same run.
#
#   bench/cpu-pipeline.sh [PIPETTE]      (default: src/pipette of this tree)
#
# TRANSPORT=peer runs the ranks over the stream-ordered peer transport
# (a snapshot copy per message) instead of local (default).
#
# Eight equal layers cut four and four (partition = flops), so the stages
# cost about the same. Costs are measured per op and per stage from the
# run's trace, and the simulator is given exactly those. Needs 2 free cores (the ranks are pinned to cores 0
# and 1) and python3 (to read the trace). Prints a Markdown table.
set -eu
pipette=${1:-$(dirname "$0")/../src/pipette}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
steps=30
transport=${TRANSPORT:-local}

model() { # model SCHEDULE V
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
schedule = $1
devices = cpu*2
stages_per_rank = $2
microbatches = 8
partition = flops
transport = $transport
[train]
batch = 512
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

# The median of the last steps' times (the first few warm caches up), the
# median measured bubble, and mean F and B (or BI, BW) costs from the trace.
measure() { # measure SCHEDULE V
    model "$1" "$2" >"$work/m.ini"
    "$pipette" train --trace "$work/t.json" "$work/m.ini" >"$work/log"
    python3 - "$work/log" "$work/t.json" <<'PY'
import json, statistics, sys
log = [l.split() for l in open(sys.argv[1]) if l.startswith("step ")]
batch = 512
times = [batch / float(l[4]) for l in log[5:]]
bubbles = [float(l[7].rstrip('%')) for l in log[5:]]
ev = [e for e in json.load(open(sys.argv[2]))["traceEvents"] if e.get("ph") == "X"]
cost = {}
for e in ev:
    if e["cat"] in ("F", "B", "BI", "BW"):
        key = "%s.%d" % (e["cat"], e["args"]["stage"])
        cost.setdefault(key, []).append(e["dur"] / 1000.0)
costs = ",".join("%s=%.4f" % (k, statistics.mean(v))
                 for k, v in sorted(cost.items()))
print("%.3f %.1f %s" % (1000 * statistics.median(times), statistics.median(bubbles), costs))
PY
}

echo "| schedule | step ms | speed-up | theory | measured bubble | simulated bubble (measured costs) |"
echo "|---|---|---|---|---|---|"
base=""
for s in vanilla gpipe 1f1b interleaved zb-h1; do
    v=1
    [ "$s" = interleaved ] && v=2
    set -- $(measure "$s" "$v")
    ms=$1 bubble=$2 costs=$3
    sim=$("$pipette" schedule "$s" -p 2 -m 8 -v "$v" --costs "$costs" --format summary |
        sed -n 's/.*bubble \([0-9.]*\)% simulated.*/\1/p')
    theory_b=$("$pipette" schedule "$s" -p 2 -m 8 -v "$v" --format summary |
        sed -n 's/.*bubble \([0-9.]*\)% simulated.*/\1/p')
    [ -n "$base" ] || { base=$ms; base_b=$theory_b; }
    awk -v s="$s" -v ms="$ms" -v base="$base" -v b="$bubble" -v sim="$sim" \
        -v tb="$theory_b" -v vb="$base_b" 'BEGIN {
        printf "| %s | %.1f | %.2fx | %.2fx | %.1f%% | %.1f%% |\n",
            s, ms, base / ms, (1 - tb / 100) / (1 - vb / 100), b, sim }'
done
