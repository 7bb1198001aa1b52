#!/bin/sh
# tests/schedule-refusals.sh - broken schedule plugins (tests/schedules/)
# are refused by the verifier, each with its own message naming the rank,
# the task and the reason; none hangs.
. "${srcdir:-.}/tests/lib.sh"
export PIPETTE_PLUGIN_PATH="$TEST_SCHEDULE_DIR"

# refused NAME STATUS EXPECTED-STDERR [ARGS...]
refused() {
    name=$1 want_status=$2 want=$3
    shift 3
    run timeout 20 "$PIPETTE" schedule "$name" -p 2 -m 2 "$@"
    expect_status "$want_status" "$name"
    expect_no_out "$name"
    printf '%s\n' "$want" >"$tmp/want"
    if ! cmp -s "$tmp/want" "$tmp/err"; then
        fail "$name: unexpected message"
        diff -u "$tmp/want" "$tmp/err" >&2
    fi
}

refused missing_task 1 \
"pipette: schedule missing_task: rank 1: F1.1: missing: every micro-batch needs one F on every stage"
refused duplicate_task 1 \
"pipette: schedule duplicate_task: rank 0: F0.0: scheduled twice (also on rank 0)"
refused backward_first 1 \
"pipette: schedule backward_first: rank 1: B0.1: scheduled before F0.1, which it needs, on the same rank (backward before its forward)"
refused bw_before_bi 1 \
"pipette: schedule bw_before_bi: rank 1: BW0.1: scheduled before BI0.1, which it needs, on the same rank (BW before its BI)"
refused two_ranks 1 \
"pipette: schedule two_ranks: rank 0: F1.1: stage 1 is placed on rank 1: a stage lives on exactly one rank, which runs all of its tasks"
refused deadlock_order 1 \
"pipette: schedule deadlock_order: deadlock: no rank can move
pipette:   rank 0: B0.0 waits for B0.1 from rank 1
pipette:   rank 1: F1.1 waits for F1.0 from rank 0"
refused bad_placement 1 \
"pipette: schedule bad_placement: places stage 1 on rank 5, but the ranks are 0 to 1"
refused needs_multiple 2 \
"pipette: schedule needs_multiple: needs micro-batches in multiples of 2; got 3: use 4" -m 3

# The same schedule, when it can run, verifies.
run "$PIPETTE" schedule needs_multiple -p 2 -m 4
expect_status 0 "needs_multiple with an even m"

# Its own key, from --set as from [pipeline]: the value reaches its check,
# and a value out of range, a key it does not have, or --set without a
# value are refused.
refused needs_multiple 2 \
"pipette: schedule needs_multiple: needs micro-batches in multiples of 3; got 4: use 6" -m 4 --set multiple=3
run "$PIPETTE" schedule needs_multiple -p 2 -m 6 --set multiple=3 --format summary
expect_status 0 "needs_multiple with multiple = 3 and m = 6"
expect_out "^schedule needs_multiple: 2 ranks, 6 micro-batches" "m = 6 runs"
refused needs_multiple 2 \
"--set:2: [pipeline] multiple: expected an integer from 1 to 64, got '0'" --set multiple=0
refused needs_multiple 2 \
"--set:2: [pipeline] multipel: unknown key; did you mean 'multiple'?" --set multipel=3
run "$PIPETTE" schedule needs_multiple -p 2 -m 2 --set multiple
expect_status 2 "--set without a value"
expect_err "^pipette schedule: --set needs KEY=VALUE$" "--set without a value"
run "$PIPETTE" schedule 1f1b -p 2 -m 2 --set chunk=2
expect_status 2 "--set for a schedule without keys"
expect_err "^--set:2: \[pipeline\] chunk: unknown key; this section takes no keys$" "a schedule without keys takes none"

# A schedule written as text goes through the same verifier.
cat >"$tmp/bad.txt" <<'TXT'
# rank 0 forgets B1.0
F0.0 F1.0 B0.0
F0.1 F1.1 B0.1 B1.1
TXT
run "$PIPETTE" schedule "file:$tmp/bad.txt"
expect_status 2 "file schedule with a missing task"
expect_err "^$tmp/bad\.txt:2: rank 0: B1\.0: missing: F1\.0 needs one B, or one BI and one BW$" "file schedule refusal, at the rank's line"
printf 'F0.0 G1.0\nF0.1 B0.1 F2x\n' >"$tmp/syntax.txt"
run "$PIPETTE" schedule "file:$tmp/syntax.txt"
expect_status 2 "file schedule with bad tokens"
expect_err "^$tmp/syntax\.txt:1: 'G1\.0' is not a task: write F, B, BI or BW, then the micro-batch, a dot and the stage, as in F3\.1$" "bad token line 1"
expect_err "^$tmp/syntax\.txt:2: 'F2x' is not a task" "bad token line 2"

# A schedule file is a regular file of at most 64 MiB: a FIFO is refused
# at once rather than waited on (timeout turns a hang into a failure), a
# device such as /dev/zero is not read, a directory is no file.
mkfifo "$tmp/fifo"
not_regular() {
    run timeout 10 "$PIPETTE" schedule "file:$1"
    expect_status 2 "file schedule that is $2"
    expect_no_out "file schedule that is $2"
    printf 'pipette: %s: is %s; a schedule file must be a regular file\n' \
        "$1" "$2" >"$tmp/want"
    cmp -s "$tmp/want" "$tmp/err" || fail "file schedule that is $2: unexpected message"
}
not_regular "$tmp/fifo" "a FIFO"
not_regular "$tmp" "a directory"
not_regular /dev/zero "a character device"
if truncate -s 67108865 "$tmp/huge.txt" 2>/dev/null; then
    run timeout 10 "$PIPETTE" schedule "file:$tmp/huge.txt"
    expect_status 2 "a schedule file over 64 MiB"
    expect_err "^pipette: $tmp/huge\.txt: is 67108865 bytes; a schedule file is at most 64 MiB \(the most tasks a plan takes, 4194304, written out, are less\)$" "a schedule file over 64 MiB"
fi
# In a model file, the same at its schedule key.
printf '[model]\ninput = 4\n[layer a]\ntype = linear\nunits = 4\n[layer loss]\ntype = softmax_xent\n[pipeline]\nschedule = file:fifo\n' >"$tmp/fifo.ini"
run timeout 10 "$PIPETTE" check "$tmp/fifo.ini"
expect_status 2 "a model file's schedule that is a FIFO"
expect_err "^$tmp/fifo\.ini:9: \[pipeline\] schedule: $tmp/fifo: is a FIFO; a schedule file must be a regular file$" "a model file's schedule that is a FIFO"

finish
