#!/bin/sh
# tests/fuzz-regressions.sh - every input a fuzzer ever crashed with
# (fuzz/regressions/model/*, fuzz/regressions/schedule/*; docs/testing.md),
# replayed through the fuzz targets' own entry points (fuzz/regress-model,
# fuzz/regress-schedule, built in every build and under the sanitizers in
# CI's sanitizer pass), and through the commands a user would run on it:
# `pipette check` on each model file, `pipette schedule file:` on each
# schedule. Each must end with a documented exit status (0, 1 or 2):
# never a signal, a sanitizer's report (exit 86 in a sanitizer build) or
# a hang. Each file is copied into a directory of its own first, as the
# fuzz targets load it.
. "${srcdir:-.}/tests/lib.sh"
regress="${srcdir:-.}/fuzz/regressions"
build="${PP_BUILDDIR:-.}"
limit=120

# expect_documented WHAT: the command ended with 0, 1 or 2.
expect_documented() {
    case $status in
    0 | 1 | 2) ;;
    124) fail "$1: still running after ${limit}s" ;;
    86) fail "$1: a sanitizer's report (exit status 86)" ;;
    *) fail "$1: exit status $status (a signal is 128 + its number)" ;;
    esac
}

# The replay itself, on an empty input and on a small model and schedule,
# so that a broken harness fails here before any regression file needs
# it.
printf '' >"$tmp/empty"
printf '[model]\ninput = 4\n[layer fc]\ntype = linear\nunits = 2\n[layer loss]\ntype = mse\n' \
    >"$tmp/small.ini"
printf 'F0.0 F0.1 B0.1 B0.0\n' >"$tmp/small.txt"
for target in model:small.ini schedule:small.txt; do
    run timeout "$limit" "$build/fuzz/regress-${target%%:*}" "$tmp/empty" \
        "$tmp/${target#*:}"
    expect_status 0 "fuzz/regress-${target%%:*}"
    expect_out "^ok $tmp/${target#*:}\$" "fuzz/regress-${target%%:*}"
done

count=0
for f in "$regress"/model/*; do
    [ -f "$f" ] || continue
    count=$((count + 1))
    run timeout "$limit" "$build/fuzz/regress-model" "$f"
    expect_status 0 "fuzz/regress-model $f"
    rm -rf "$tmp/in" && mkdir "$tmp/in" && cp "$f" "$tmp/in/model.ini"
    run timeout "$limit" "$PIPETTE" check "$tmp/in/model.ini"
    expect_documented "pipette check $f"
done
for f in "$regress"/schedule/*; do
    [ -f "$f" ] || continue
    count=$((count + 1))
    run timeout "$limit" "$build/fuzz/regress-schedule" "$f"
    expect_status 0 "fuzz/regress-schedule $f"
    rm -rf "$tmp/in" && mkdir "$tmp/in" && cp "$f" "$tmp/in/schedule.txt"
    for how in "" "--dump" "--format svg" "--format chrome -d 2"; do
        # shellcheck disable=SC2086
        run timeout "$limit" "$PIPETTE" schedule "file:$tmp/in/schedule.txt" \
            $how
        expect_documented "pipette schedule file:$f $how"
    done
done
echo "$count regression inputs replayed"

finish
