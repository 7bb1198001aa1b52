#!/bin/sh
# tests/install.sh - install into a staging directory (make install
# DESTDIR=...), run the installed pipette from there, then uninstall and
# check that nothing is left behind.
. "${srcdir:-.}/tests/lib.sh"

stage="$tmp/stage"
run $MAKE -C "$PP_BUILDDIR" install DESTDIR="$stage"
expect_status 0 "make install DESTDIR"
[ "$status" -eq 0 ] || finish

bin="$stage$PP_BINDIR/pipette"
[ -x "$bin" ] || fail "no pipette installed at $bin"
for h in pipette error config plugin device layer; do
    [ -f "$stage$PP_INCLUDEDIR/pipette/$h.h" ] || fail "header $h.h not installed"
done
[ -f "$stage$PP_PKGCONFIGDIR/pipette.pc" ] || fail "pipette.pc not installed"
for name in linear relu softmax_xent; do
    [ -f "$stage$PP_PKGLIBDIR/layers/$name.so" ] || fail "layer $name not installed"
done
[ -f "$stage$PP_MANDIR/man1/pipette.1" ] || fail "pipette.1 not installed"
[ -f "$stage$PP_MANDIR/man5/pipette.ini.5" ] || fail "pipette.ini.5 not installed"

# The staged pipette, with the staged library and plugins: it must not
# reach into the build tree.
LD_LIBRARY_PATH="$stage$PP_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PIPETTE_PLUGIN_PATH="$stage$PP_PKGLIBDIR"
export LD_LIBRARY_PATH PIPETTE_PLUGIN_PATH
run "$bin" --version
expect_status 0 "installed pipette --version"
run "$bin" plugins
expect_status 0 "installed pipette plugins"
expect_out "^layer +linear +.* $stage$PP_PKGLIBDIR/layers/linear\.so$" "installed linear listed"
if grep -q "$PP_BUILDDIR/" "$tmp/out"; then
    fail "installed pipette searched the build tree"
fi
run "$bin" check "$stage$PP_EXAMPLEDIR/mlp.ini"
expect_status 0 "installed pipette checks the installed example"
unset LD_LIBRARY_PATH PIPETTE_PLUGIN_PATH

run $MAKE -C "$PP_BUILDDIR" uninstall DESTDIR="$stage"
expect_status 0 "make uninstall DESTDIR"
left=$(find "$stage" -type f | head -n 5)
[ -z "$left" ] || fail "files left after uninstall: $left"

finish
