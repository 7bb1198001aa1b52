#!/bin/sh
# scripts/fuzz.sh - runs the libFuzzer targets (fuzz/*.c) for a bounded
# time each, from a build configured with --enable-fuzzers (CC=clang);
# docs/testing.md says how to set one up. CI runs it after the sanitizer
# pass (.ci/run).
#
#   scripts/fuzz.sh [-t SECONDS] [-o DIR] [TARGET...]
#
# TARGET is model or schedule (default: both). Run from the build
# directory. Each target starts from the seeds (the examples and the test
# corpora for model; every schedule plugin's --dump for schedule), from
# the inputs that once crashed (fuzz/regressions/TARGET) and from the
# corpus it grew on earlier runs (DIR/TARGET-corpus), and runs for
# SECONDS (default 120). An input that crashes, hangs past the per-input
# limit (PP_FUZZ_TIMEOUT seconds, default 30) or leaks is written to
# DIR/TARGET-crash-* etc. (DIR default: fuzz-out), and the script exits
# 1 after running every target. Keep a crashing input, once fixed, as
# fuzz/regressions/TARGET/NAME, where make check replays it.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
secs=120
out=fuzz-out
while getopts t:o: opt; do
    case $opt in
    t) secs=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,19s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- model schedule

for t in "$@"; do
    case $t in
    model | schedule) ;;
    *) echo "fuzz.sh: no target '$t' (model, schedule)" >&2; exit 2 ;;
    esac
    if [ ! -x "fuzz/fuzz-$t" ]; then
        echo "fuzz.sh: no fuzz/fuzz-$t here: run from a build configured" \
             "with CC=clang --enable-fuzzers, after make" >&2
        exit 2
    fi
done
[ -x src/pipette ] || { echo "fuzz.sh: no src/pipette here" >&2; exit 2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
seeds=$(mktemp -d "${TMPDIR:-/tmp}/pp-fuzz-seeds.XXXXXX")
trap 'rm -rf "$seeds"' EXIT
# As make check: the build tree's plugins only.
unset PIPETTE_PLUGIN_PATH

# Model files: the examples, the check and config corpora, the gradcheck
# and [repeat] models.
mkdir "$seeds/model"
for f in "$srcdir"/examples/*.ini "$srcdir"/tests/check/*.ini \
    "$srcdir"/tests/config/*/*.ini "$srcdir"/tests/gradcheck/*.ini \
    "$srcdir"/tests/repeat/*.ini; do
    [ -f "$f" ] || continue
    name=$(printf '%s' "${f#"$srcdir"/}" | tr / _)
    cp "$f" "$seeds/model/$name"
done
# Schedules: every schedule plugin written out as a file, on a few
# shapes (one that a plugin refuses is left out).
mkdir "$seeds/schedule"
for s in $(src/pipette plugins | awk '$1 == "schedule" { print $2 }'); do
    for pmv in 1,1,1 2,4,1 2,4,2 3,5,1 4,8,1 4,8,2; do
        IFS=, read -r p m v <<EOF
$pmv
EOF
        f="$seeds/schedule/$s-p$p-m$m-v$v.txt"
        src/pipette schedule "$s" -p "$p" -m "$m" -v "$v" --dump \
            >"$f" 2>/dev/null || rm -f "$f"
    done
done

status=0
for t in "$@"; do
    corpus="$out/$t-corpus"
    mkdir -p "$corpus"
    regress="$srcdir/fuzz/regressions/$t"
    [ -d "$regress" ] || regress=
    echo "fuzz.sh: fuzz/fuzz-$t for ${secs}s: $(ls "$seeds/$t" | wc -l) seeds," \
         "$(ls "$corpus" | wc -l) inputs in $corpus"
    # -timeout: an input that runs longer is a hang (the issue's bar: no
    # hang on any input). -rss_limit_mb bounds a run's memory; a single
    # allocation above it is a finding too. -print_final_stats for the
    # log. Each crash is written to $out and the run stops there.
    if ! "fuzz/fuzz-$t" -max_total_time="$secs" \
        -timeout="${PP_FUZZ_TIMEOUT:-30}" -rss_limit_mb=3072 \
        -max_len=8192 -dict="$srcdir/fuzz/$t.dict" \
        -artifact_prefix="$out/$t-" -print_final_stats=1 \
        "$corpus" "$seeds/$t" ${regress:+"$regress"} >"$out/$t.log" 2>&1
    then
        status=1
        echo "fuzz.sh: fuzz/fuzz-$t found a problem: $out/$t.log;" \
             "the input: $(ls "$out/$t"-crash-* "$out/$t"-timeout-* \
                             "$out/$t"-leak-* "$out/$t"-oom-* 2>/dev/null |
                           tr '\n' ' ')" >&2
        grep -E "^(==[0-9]+==ERROR|SUMMARY|.*runtime error)" "$out/$t.log" \
            >&2 || tail -n 20 "$out/$t.log" >&2
        # The input itself, byte for byte, for a log that is all there is
        # (CI): base64 -d recreates it.
        for f in "$out/$t"-crash-* "$out/$t"-timeout-* "$out/$t"-leak-* \
            "$out/$t"-oom-*; do
            [ -f "$f" ] || continue
            echo "fuzz.sh: $f, base64:" >&2
            base64 "$f" | head -n 200 >&2
        done
    fi
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" \
        "$out/$t.log" | sed "s/^/fuzz.sh: $t: /"
done
exit "$status"
