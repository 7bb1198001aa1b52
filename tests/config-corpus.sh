#!/bin/sh
# tests/config-corpus.sh - runs tests/config_lint over the files under
# tests/config. Each bad/*.ini must exit with status 2, print nothing on
# stdout and exactly its .expected on stderr; each good/*.ini must exit 0,
# print nothing on stderr and exactly its .expected on stdout.
#
# The files are named relative to tests/config (the driver runs there), so
# the paths inside the .expected files read "bad/NAME.ini:LINE: ...".
set -u

srcdir=${srcdir:-.}
lint=$(pwd)/tests/config_lint
[ -x "$lint" ] || { echo "config-corpus: $lint not built" >&2; exit 99; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$srcdir/tests/config" || exit 99

failed=0
checked=0

fail() {
    echo "FAIL: $1: $2"
    failed=$((failed + 1))
}

for ini in bad/*.ini good/*.ini; do
    expected=${ini%.ini}.expected
    [ -f "$expected" ] || { fail "$ini" "no $expected"; continue; }
    checked=$((checked + 1))
    "$lint" "$ini" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    case $ini in
    bad/*) want_rc=2 quiet=$tmp/out shown=$tmp/err ;;
    *) want_rc=0 quiet=$tmp/err shown=$tmp/out ;;
    esac
    if [ "$rc" -ne "$want_rc" ]; then
        fail "$ini" "exit status $rc, expected $want_rc"
        cat "$tmp/err"
    elif [ -s "$quiet" ]; then
        fail "$ini" "unexpected output on $(basename "$quiet"):"
        cat "$quiet"
    elif ! diff -u "$expected" "$shown"; then
        fail "$ini" "output differs from $expected (diff above)"
    else
        echo "ok: $ini"
    fi
done

echo "config-corpus: $checked files, $failed failed"
[ "$failed" -eq 0 ] && [ "$checked" -gt 0 ]
