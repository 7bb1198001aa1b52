#!/bin/sh
# bench/schedules.sh - every schedule side by side: simulated bubble and
# peak activation memory for p in {2,4,8} ranks and m in {p,2p,4p,8p}
# micro-batches, with the default costs (F=1, B=2; BI=BW=1); then how long
# building, verifying and simulating a large schedule (p=64, m=512) takes.
#
#   bench/schedules.sh [PIPETTE]     (default: src/pipette of this tree)
#
# Peak memory is the most micro-batch activations any rank holds at once,
# in units of one stage's activations for one micro-batch (with v stages
# per rank a chunk is 1/v of a rank's layers, so divide by v to compare
# with v = 1 schedules). Prints Markdown tables.
set -eu
pipette=${1:-$(dirname "$0")/../src/pipette}

# v for each schedule: the chunked ones run 2 stages per rank.
stages() {
    case $1 in interleaved|looped-bfs|zb-v) echo 2 ;; *) echo 1 ;; esac
}
schedules="vanilla gpipe 1f1b interleaved looped-bfs zb-h1 zb-h2 zb-v"

# bubble% and peak activations of one run, from the JSON summary.
measure() {
    "$pipette" schedule "$1" -p "$2" -m "$3" -v "$(stages "$1")" \
        --format json 2>/dev/null | awk '
        match($0, /"bubble": *[0-9.e+-]+/) {
            b = substr($0, RSTART, RLENGTH); sub(/.*: */, "", b)
        }
        {
            while (match($0, /"peak_activations": *[0-9]+/)) {
                v = substr($0, RSTART, RLENGTH); sub(/.*: */, "", v)
                if (v + 0 > peak) peak = v + 0
                $0 = substr($0, RSTART + RLENGTH)
            }
        }
        END { if (b == "") print "refused"; else printf "%.1f%% / %d\n", 100 * b, peak }'
}

echo "### Simulated bubble / peak activations (default costs)"
echo
printf '| p | m |'
for s in $schedules; do printf ' %s (v=%s) |' "$s" "$(stages "$s")"; done
echo
printf '|---|---|'
for s in $schedules; do printf -- '---|'; done
echo
for p in 2 4 8; do
    for k in 1 2 4 8; do
        m=$((k * p))
        printf '| %d | %d |' "$p" "$m"
        for s in $schedules; do printf ' %s |' "$(measure "$s" "$p" "$m")"; done
        echo
    done
done

echo
echo "### Build + verify + simulate, p=64, m=512 (whole command, best of 5)"
echo
echo "| schedule | v | seconds |"
echo "|---|---|---|"
for s in $schedules; do
    best=""
    for _ in 1 2 3 4 5; do
        t0=$(date +%s.%N)
        "$pipette" schedule "$s" -p 64 -m 512 -v "$(stages "$s")" \
            --format summary >/dev/null
        t1=$(date +%s.%N)
        t=$(echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}')
        best=$(awk -v a="$best" -v b="$t" \
            'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')
    done
    echo "| $s | $(stages "$s") | $best |"
done
