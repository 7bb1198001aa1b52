#!/bin/sh
# tests/schedule-cli.sh - `pipette schedule`: the grid a reader recognises,
# the summary, every output format, --dump and file:PATH, usage errors, and
# `pipette check` verifying a model's schedule for its pipeline.
. "${srcdir:-.}/tests/lib.sh"

run "$PIPETTE" schedule 1f1b -p 4 -m 8 --colour never
expect_status 0 "1f1b grid"
# 1F1B on 4 ranks: rank 3 starts at t=3 and alternates F and B at once.
expect_out "^rank 0 \|F0 F1 F2 F3 " "rank 0 warms up with 4 forwards"
expect_out "^rank 3 \|\.  \.  \.  F0 B0 B0 F1 B1 B1 F2 " "rank 3 alternates one forward, one backward"
expect_out "^makespan 33, bubble 27\.27% simulated, 27\.27% by the formula \(p-1\)/\(m\+p-1\)" "1f1b summary"
expect_out "^ +3 +24 +9 +27\.27% +1$" "rank 3 holds one activation"
expect_out "^ +0 +24 +9 +27\.27% +4$" "rank 0 holds four"
if grep -q "$(printf '\033')" "$tmp/out"; then
    fail "--colour never wrote escape codes"
fi
run "$PIPETTE" schedule 1f1b -p 2 -m 2 --colour always
grep -q "$(printf '\033')\[" "$tmp/out" || fail "--colour always wrote no colour"

run "$PIPETTE" schedule zb-h1 -p 4 -m 8 --colour never
expect_status 0 "zb-h1"
expect_out "peak BW pending" "split backward shows pending BW"

run "$PIPETTE" schedule interleaved -p 2 -m 4 -v 2 --format json
expect_status 0 "json"
expect_out '"schedule": *"interleaved"' "json names the schedule"
run "$PIPETTE" schedule gpipe -p 2 -m 2 --format chrome
expect_status 0 "chrome"
expect_out '"traceEvents"' "chrome trace"
run "$PIPETTE" schedule gpipe -p 2 -m 2 --format svg
expect_status 0 "svg"
expect_out '^<svg' "svg picture"
if command -v python3 >/dev/null 2>&1; then
    for fmt in json chrome; do
        "$PIPETTE" schedule zb-v -p 4 -m 8 -v 2 --format $fmt >"$tmp/x.json" &&
            python3 -m json.tool "$tmp/x.json" >/dev/null ||
            fail "--format $fmt is not valid JSON"
    done
fi

# -d: replicas of the pipeline, each stage's sum after its last backward.
# 1F1B on 2 ranks x 2 replicas, m = 4: 15 without sums; the last stage's
# sums (2 each) hide behind rank 0's last backward, the first stage's add
# 2 to the step.
run "$PIPETTE" schedule 1f1b -p 2 -m 4 -d 2 --costs allreduce=2 --format summary
expect_status 0 "-d"
expect_out "^schedule 1f1b: 4 ranks, 4 micro-batches, 1 stage per rank \(4 stages\), 2 replicas of 2 ranks: rank r of replica k is rank r x 2 \+ k$" "-d summary"
expect_out "^makespan 17," "-d makespan with the sums"
run "$PIPETTE" schedule 1f1b -p 2 -m 4 -d 2 --costs allreduce=2 --format chrome
expect_out '"name":"rank 3 sums"' "-d sums on their own track"
expect_out '"name":"sum of stage 1 over replicas","cat":"sum","ph":"X","pid":0,"tid":7,"ts":13000,"dur":2000' "-d stage 1's sum overlaps the drain"
run "$PIPETTE" schedule 1f1b -p 2 -m 4 -d 2 --dump
expect_status 2 "-d with --dump"
expect_err "leave out -d" "-d with --dump message"
run "$PIPETTE" schedule 1f1b -p 2 -m 4 -d 0
expect_status 2 "-d 0"

# --dump, edited by a user, loaded back with file:PATH.
run "$PIPETTE" schedule gpipe -p 2 -m 3 --dump
expect_status 0 "dump"
cp "$tmp/out" "$tmp/gpipe.txt"
expect_out "^F0\.0 F1\.0 F2\.0 " "dump rank 0"
run "$PIPETTE" schedule "file:$tmp/gpipe.txt" --colour never
expect_status 0 "file schedule"
expect_out "^schedule file:$tmp/gpipe\.txt: 2 ranks, 3 micro-batches" "file schedule summary"
run "$PIPETTE" schedule "file:$tmp/gpipe.txt" -p 3
expect_status 2 "file schedule with another -p"
expect_err "is written for 2 ranks, not 3" "file -p mismatch"

# Usage errors.
run "$PIPETTE" schedule 1f1b -p 4
expect_status 2 "missing -m"
run "$PIPETTE" schedule 1f1b -p 0 -m 4
expect_status 2 "-p 0"
run "$PIPETTE" schedule 1f1b -p 4 -m 4 --format png
expect_status 2 "unknown format"
run "$PIPETTE" schedule 1f1b -p 4 -m 4 --costs F=1,X=2
expect_status 2 "unknown cost"
expect_err "unknown cost 'X'" "unknown cost message"
# A name not found is 2 on the command line as in a file.
run "$PIPETTE" schedule no-such-schedule -p 2 -m 2
expect_status 2 "unknown schedule"
expect_err "^pipette: no schedule plugin named 'no-such-schedule'" "unknown schedule message"
run "$PIPETTE" schedule 1f1bb -p 2 -m 2
expect_status 2 "a misspelt schedule"
expect_err "^pipette: no schedule plugin named '1f1bb'; did you mean '1f1b'\?$" "a misspelt schedule's hint"
# A cost per stage names a stage the schedule has (-d counts every
# replica's).
run "$PIPETTE" schedule 1f1b -p 2 -m 4 --costs B.2=3
expect_status 2 "--costs for a stage that does not exist"
expect_err "^pipette: --costs: B\.2 prices stage 2, but schedule 1f1b has 2 stages \(0 to 1\)$" "--costs' missing stage named"
expect_no_out "--costs for a stage that does not exist"
run "$PIPETTE" schedule interleaved -p 2 -m 4 -v 2 --costs BW.63=1 --format summary
expect_status 2 "--costs for stage 63 of 4"
expect_err "^pipette: --costs: BW\.63 prices stage 63, but schedule interleaved has 4 stages \(0 to 3\)$" "--costs' stage 63 named"
run "$PIPETTE" schedule 1f1b -p 2 -m 4 -d 2 --costs B.3=3 --format summary
expect_status 0 "--costs for replica 1's last stage"
run "$PIPETTE" schedule interleaved -p 4 -m 6 -v 2
expect_status 2 "interleaved with m not a multiple of p"
run "$PIPETTE" schedule 1f1b -p 2 -m 4 --costs F=2,B=4,transfer=1 --colour never
expect_status 0 "custom costs"
expect_out "which assumes the default costs" "formula caveat with custom costs"

# pipette check verifies the model's schedule for its pipeline.
cat >"$tmp/m.ini" <<'INI'
[model]
input = 4
[layer a]
type = linear
units = 4
[layer b]
type = linear
units = 4
[layer c]
type = linear
units = 4
[layer loss]
type = softmax_xent
[pipeline]
schedule = interleaved
devices = cpu*2
stages_per_rank = 2
microbatches = 3
[train]
batch = 12
[data]
source = synthetic
features = 4
INI
run "$PIPETTE" check "$tmp/m.ini"
expect_status 2 "check: interleaved with m not a multiple of p"
expect_err "^$tmp/m\.ini:15: \[pipeline\] schedule: schedule interleaved: " "schedule refusal at the schedule key"
sed 's/microbatches = 3/microbatches = 4/' "$tmp/m.ini" >"$tmp/ok.ini"
run "$PIPETTE" check "$tmp/ok.ini"
expect_status 0 "check: interleaved on 2 ranks x 2 stages"
expect_out "schedule interleaved: verified; bubble [0-9.]+% and peak activations \([0-9]+, [0-9]+\) per rank" "check reports the schedule"
"$PIPETTE" schedule 1f1b -p 2 -m 4 --dump >"$tmp/own.txt"
printf '[model]\ninput = 4\n[layer a]\ntype = linear\nunits = 4\n[layer loss]\ntype = softmax_xent\n[train]\nbatch = 8\n[data]\nsource = synthetic\nfeatures = 4\n[pipeline]\nschedule = file:own.txt\ndevices = cpu*2\nmicrobatches = 4\n' >"$tmp/file.ini"
run "$PIPETTE" check "$tmp/file.ini"
expect_status 0 "check with a file schedule beside the model"
sed 's/microbatches = 4/microbatches = 2/' "$tmp/file.ini" >"$tmp/file2.ini"
run "$PIPETTE" check "$tmp/file2.ini"
expect_status 2 "file schedule for other micro-batches"
expect_err "is written for 4 micro-batches, not 2" "file schedule mismatch message"

finish
