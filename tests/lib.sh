# tests/lib.sh - shared by the shell tests: run a command, capture its
# stdout, stderr and status, and compare them with what is expected.
# Sourced; uses $PIPETTE and the test environment set by tests/local.mk.

failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pp-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# run CMD...: runs it, leaving $status, $tmp/out and $tmp/err.
run() {
    "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

# run_full CMD...: runs it with stdout on a full disk (/dev/full),
# leaving $status, $tmp/err and an empty $tmp/out.
run_full() {
    "$@" >/dev/full 2>"$tmp/err"
    status=$?
    : >"$tmp/out"
}

# expect_err_is TEXT WHAT: stderr is exactly TEXT.
expect_err_is() {
    [ "$(cat "$tmp/err")" = "$1" ] || fail "$2: stderr is not '$1'"
}

fail() {
    echo "FAIL: $*" >&2
    echo "--- stdout:" >&2; cat "$tmp/out" >&2
    echo "--- stderr:" >&2; cat "$tmp/err" >&2
    failures=$((failures + 1))
}

# expect_status N WHAT
expect_status() {
    [ "$status" -eq "$1" ] || fail "$2: exit status $status, expected $1"
}

# expect_out PATTERN WHAT / expect_err PATTERN WHAT (grep -E)
expect_out() {
    grep -Eq -- "$1" "$tmp/out" || fail "$2: stdout lacks /$1/"
}
expect_err() {
    grep -Eq -- "$1" "$tmp/err" || fail "$2: stderr lacks /$1/"
}
expect_no_out() {
    [ ! -s "$tmp/out" ] || fail "$1: expected nothing on stdout"
}

# needs_mpi: the tests in MPI processes need pipette built with MPI and
# mpirun on PATH: without them, skip (77), or fail where
# PIPETTE_REQUIRE_MPI=1. Sets $mpirun: Open MPI's refuses root without
# --allow-run-as-root, and more processes than cores without
# --oversubscribe; MPICH's takes neither.
needs_mpi() {
    why=""
    [ "$PP_HAVE_MPI" = yes ] || why="pipette was configured without MPI"
    command -v mpirun >/dev/null 2>&1 || why=${why:-"no mpirun on PATH"}
    if [ -n "$why" ] && [ "${PIPETTE_REQUIRE_MPI:-0}" = 1 ]; then
        echo "FAIL: $why, and PIPETTE_REQUIRE_MPI=1" >&2
        exit 1
    elif [ -n "$why" ]; then
        echo "SKIP: $why"
        exit 77
    fi
    if mpirun --version 2>&1 | grep -q "Open MPI"; then
        mpirun="mpirun --allow-run-as-root --oversubscribe"
    else
        mpirun="mpirun"
    fi
    # Open MPI leaks at exit, in stacks LeakSanitizer cannot name (its
    # libraries have no frame pointers, its components are unloaded by
    # then), so no suppression can single its leaks out: in a sanitizer
    # build's make check (tests/local.mk sets ASAN_OPTIONS) the processes
    # mpirun starts are checked for memory errors and undefined
    # behaviour, but not for leaks.
    if [ -n "${ASAN_OPTIONS:-}" ]; then
        mpirun="env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 $mpirun"
    fi
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    exit 0
}
