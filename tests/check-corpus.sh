#!/bin/sh
# tests/check-corpus.sh - `pipette check` on model files with mistakes in
# them (tests/check/*.ini): each must exit 2, print nothing on stdout, and
# print exactly the lines of its .expected file on stderr. `pipette train`
# must refuse each the same way, before step 1: check sees all that train
# checks but the devices (the train_*.ini files are mistakes only train
# saw once). The test plugins' and test schedules' directories are on the
# path, so a config can name one of them.
# In .expected files @PLUGINS@ and @SCHEDULES@ stand for those
# directories, @BUILDDIR@ for the build tree and @PKGLIBDIR@ for the
# installed plugin directory.
. "${srcdir:-.}/tests/lib.sh"
corpus="${srcdir:-.}/tests/check"

cd "$corpus" || exit 1
export PIPETTE_PLUGIN_PATH="$TEST_PLUGIN_DIR:$TEST_SCHEDULE_DIR"

run "$PIPETTE" check good.ini
expect_status 0 "good.ini"

for ini in *.ini; do
    [ "$ini" = good.ini ] && continue
    expected="${ini%.ini}.expected"
    run "$PIPETTE" check "$ini"
    expect_status 2 "$ini"
    expect_no_out "$ini"
    sed -e "s|@PLUGINS@|$TEST_PLUGIN_DIR|g" \
        -e "s|@SCHEDULES@|$TEST_SCHEDULE_DIR|g" -e "s|@BUILDDIR@|$PP_BUILDDIR|g" \
        -e "s|@PKGLIBDIR@|$PP_PKGLIBDIR|g" "$expected" >"$tmp/want"
    if ! cmp -s "$tmp/want" "$tmp/err"; then
        fail "$ini: stderr differs from $expected"
        diff -u "$tmp/want" "$tmp/err" >&2
    fi
    run timeout 60 "$PIPETTE" train "$ini"
    expect_status 2 "train $ini"
    expect_no_out "train $ini"
    if ! cmp -s "$tmp/want" "$tmp/err"; then
        fail "train $ini: stderr differs from $expected"
        diff -u "$tmp/want" "$tmp/err" >&2
    fi
done

finish
