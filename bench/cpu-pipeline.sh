#!/bin/sh
# bench/cpu-pipeline.sh - an MLP trained on 2 CPU ranks with 8 micro-batches
# under each schedule: step time, speed-up over vanilla beside the theory
# (1 - bubble) / (1 - bubble of vanilla), and the measured bubble beside
# the one simulated with the costs measured in the same run.
#
#   bench/cpu-pipeline.sh [PIPETTE]      (default: src/pipette of this tree)
#
# TRANSPORT=peer runs the ranks over the stream-ordered peer transport
# (a snapshot copy per message) instead of local (default). MODEL=residual
# trains a residual MLP instead: each block adds its output to the stream
# it read, and one skip runs from the first block to the last, so the cut
# between the stages carries the stream and that skip beside each other.
# MODEL=gpt trains examples/gpt-char.ini (a GPT of 4 blocks on
# corpus.txt, batch 32) under each schedule instead.
#
# Eight equal layers cut four and four (partition = flops), so the stages
# cost about the same. Costs are measured per op and per stage from the
# run's trace, and the simulator is given exactly those. Each schedule
# runs REPEAT times (default 3), the schedules taking turns so that a
# machine whose load drifts slows them alike; the run of median step time
# is reported. BASELINE=PATH/pipette runs another build right after each
# run of this one, and adds its median step time and the change. Needs 2
# free cores (the ranks are pinned to cores 0 and 1) and python3 (to read
# the trace). Prints a Markdown table.
set -eu
pipette=${1:-$(dirname "$0")/../src/pipette}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
steps=30
repeat=${REPEAT:-3}
transport=${TRANSPORT:-local}
shape=${MODEL:-mlp}
case $shape in mlp|residual|gpt) ;; *) echo "MODEL is mlp, residual or gpt" >&2; exit 2 ;; esac
examples=$(cd "$(dirname "$0")/../examples" && pwd)
batch=512
[ "$shape" != gpt ] || batch=32

model() { # model SCHEDULE V
    if [ "$shape" = gpt ]; then
        # examples/gpt-char.ini as it is, but for the schedule and steps.
        sed -e "s|^schedule = .*|schedule = $1\nstages_per_rank = $2\ntransport = $transport|" \
            -e "s|^steps = .*|steps = $steps|" -e "s|^log_every = .*|log_every = 1|" \
            -e "s|^path = .*|path = $examples/corpus.txt|" "$examples/gpt-char.ini"
        return
    fi
    echo "[model]"
    echo "input = 512"
    for i in 1 2 3 4 5 6 7 8; do
        printf '[layer fc%d]\ntype = linear\nunits = 512\n' "$i"
        printf '[layer act%d]\ntype = relu\n' "$i"
        if [ "$shape" = residual ] && [ "$i" -gt 1 ]; then
            stream=$([ "$i" -eq 2 ] && echo act1 || echo "res$((i - 1))")
            printf '[layer res%d]\ntype = add\ninputs = act%d, %s\n' \
                "$i" "$i" "$stream"
        fi
    done
    [ "$shape" = residual ] &&
        printf '[layer long]\ntype = add\ninputs = res8, act1\n'
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
measure() { # measure SCHEDULE V [PIPETTE]
    model "$1" "$2" >"$work/m.ini"
    "${3:-$pipette}" train --trace "$work/t.json" "$work/m.ini" >"$work/log"
    python3 - "$work/log" "$work/t.json" "$batch" <<'PY'
import json, statistics, sys
log = [l.split() for l in open(sys.argv[1]) if l.startswith("step ")]
batch = int(sys.argv[3])
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

schedules="vanilla gpipe 1f1b interleaved zb-h1"
v_of() { [ "$1" = interleaved ] && echo 2 || echo 1; }
baseline=${BASELINE:-}
for rep in $(seq "$repeat"); do
    for s in $schedules; do
        echo "$s $(measure "$s" "$(v_of "$s")")" >>"$work/runs"
        [ -z "$baseline" ] ||
            echo "$s $(measure "$s" "$(v_of "$s")" "$baseline")" >>"$work/base"
    done
done

# The run of median step time of schedule $1 in file $2.
median_run() {
    awk -v s="$1" '$1 == s' "$2" | sort -k2,2n |
        awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

extra="" rule=""
[ -z "$baseline" ] || { extra=" baseline ms | change |"; rule="---|---|"; }
echo "| schedule | step ms | speed-up | theory | measured bubble | simulated bubble (measured costs) |$extra"
echo "|---|---|---|---|---|---|$rule"
base=""
for s in $schedules; do
    v=$(v_of "$s")
    set -- $(median_run "$s" "$work/runs")
    ms=$2 bubble=$3 costs=$4
    then_ms=""
    [ -z "$baseline" ] || then_ms=$(median_run "$s" "$work/base" | cut -d' ' -f2)
    sim=$("$pipette" schedule "$s" -p 2 -m 8 -v "$v" --costs "$costs" --format summary |
        sed -n 's/.*bubble \([0-9.]*\)% simulated.*/\1/p')
    theory_b=$("$pipette" schedule "$s" -p 2 -m 8 -v "$v" --format summary |
        sed -n 's/.*bubble \([0-9.]*\)% simulated.*/\1/p')
    [ -n "$base" ] || { base=$ms; base_b=$theory_b; }
    awk -v s="$s" -v ms="$ms" -v base="$base" -v b="$bubble" -v sim="$sim" \
        -v tb="$theory_b" -v vb="$base_b" -v then="$then_ms" 'BEGIN {
        printf "| %s | %.1f | %.2fx | %.2fx | %.1f%% | %.1f%% |",
            s, ms, base / ms, (1 - tb / 100) / (1 - vb / 100), b, sim
        if (then != "")
            printf " %.1f | %+.1f%% |", then, 100 * (ms / then - 1)
        printf "\n" }'
done
