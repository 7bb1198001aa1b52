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
for h in pipette error config plugin device tensor layer schedule optimizer data transport job cuda; do
    [ -f "$stage$PP_INCLUDEDIR/pipette/$h.h" ] || fail "header $h.h not installed"
done
[ -f "$stage$PP_PKGCONFIGDIR/pipette.pc" ] || fail "pipette.pc not installed"
for name in linear relu softmax_xent; do
    [ -f "$stage$PP_PKGLIBDIR/layers/$name.so" ] || fail "layer $name not installed"
done
[ -f "$stage$PP_MANDIR/man1/pipette.1" ] || fail "pipette.1 not installed"
[ -f "$stage$PP_MANDIR/man5/pipette.ini.5" ] || fail "pipette.ini.5 not installed"
[ -x "$stage$PP_PKGDATADIR/random-tokens.py" ] || fail "random-tokens.py not installed"

# Where libdir is on the loader's path, its cache may predate the install:
# the binary names libdir itself.
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$bin" | grep -Eq "(RUNPATH|RPATH).*$PP_LIBDIR" ||
        fail "the installed pipette does not name $PP_LIBDIR as its runpath"
fi

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
if [ "$PP_HAVE_MPI" = yes ]; then
    expect_out "^job +mpi-job +.* $stage$PP_PKGLIBDIR/plugins/mpi-job\.so$" "installed mpi-job listed"
    expect_out "^transport +mpi +.* $stage$PP_PKGLIBDIR/plugins/mpi\.so$" "installed mpi transport listed"
fi
run "$bin" check "$stage$PP_EXAMPLEDIR/mlp.ini"
expect_status 0 "installed pipette checks the installed example"
run "$bin" train --steps 2 "$stage$PP_EXAMPLEDIR/mlp.ini"
expect_status 0 "installed pipette trains the installed example"
run "$bin" train --steps 2 --quiet "$stage$PP_EXAMPLEDIR/char-1f1b.ini"
expect_status 0 "installed character example finds its corpus beside it"
# The stream-ordered transport is installed and loads from there.
sed 's/^schedule = 1f1b/schedule = 1f1b\ntransport = peer/' \
    "$stage$PP_EXAMPLEDIR/char-1f1b.ini" >"$stage$PP_EXAMPLEDIR/peer.ini"
run "$bin" train --steps 2 "$stage$PP_EXAMPLEDIR/peer.ini"
expect_status 0 "installed pipette trains over the installed peer transport"
expect_out "^  transport: peer 0->1 0->2 1->0 1->2 2->0 2->1$" "installed peer transport used"
rm -f "$stage$PP_EXAMPLEDIR/peer.ini"
run "$bin" check "$stage$PP_EXAMPLEDIR/gpu-char.ini"
if [ "$PP_HAVE_CUDA" = yes ]; then
    expect_status 0 "installed GPU example checks with the installed cuda plugin"
fi

# The schedule author's guide, run as written: its C example built out of
# tree against the staged SDK through pkg-config, checked with `pipette
# schedule` (whose summary must be the one the guide shows), then selected
# from the guide's model file.
guide="${srcdir:-.}/docs/writing-a-schedule.md"
block() { # block LANG N: the Nth ```LANG block of $guide
    awk -v lang="$1" -v want="$2" '
        $0 == "```" lang { n++; inside = (n == want); next }
        /^```/ { inside = 0; next }
        inside { print }' "$guide"
}
mkdir -p "$tmp/guide"
block c 1 >"$tmp/guide/chunked.c"
export PKG_CONFIG_PATH="$stage$PP_PKGCONFIGDIR" PKG_CONFIG_SYSROOT_DIR="$stage"
flags=$(pkg-config --cflags --libs pipette) || fail "pkg-config does not know pipette"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
run ${CC:-cc} -std=c11 -Wall -Wextra -Werror -shared -fPIC \
    -o "$tmp/guide/chunked.so" "$tmp/guide/chunked.c" $flags
expect_status 0 "the guide's example compiles against the staged SDK"
command=$(block sh 2 | sed -n 's/^PIPETTE_PLUGIN_PATH=\$PWD pipette //p')
[ -n "$command" ] || fail "the guide's pipette schedule command was not found"
(cd "$tmp/guide" && PIPETTE_PLUGIN_PATH="$tmp/guide:$stage$PP_PKGLIBDIR" \
    "$bin" $command --colour never) >"$tmp/out" 2>"$tmp/err"
status=$?
expect_status 0 "the guide's pipette schedule command"
block text 2 >"$tmp/guide/summary"
grep -qxF "$(cat "$tmp/guide/summary")" "$tmp/out" ||
    fail "the guide's summary ($(cat "$tmp/guide/summary")) is not what pipette prints"
block text 1 >"$tmp/guide/grid"
while IFS= read -r line; do
    grep -qxF "$line" "$tmp/out" || fail "the guide's grid line '$line' is not what pipette prints"
done <"$tmp/guide/grid"
block ini 1 >"$tmp/guide/model.ini"
run "$bin" check --allow-model-plugins "$tmp/guide/model.ini"
expect_status 0 "the guide's model file selects the example schedule"
expect_out "schedule chunked: verified" "the guide's schedule is used"

# The layer author's guide, run as written: its example built out of tree
# from the staged SDK (pkg-config, the staged pipette.pc), its gradients
# checked with the command it shows (whose output must be the one it
# shows), then trained in its model file. Its CUDA half is built with the
# recipe pipette.pc carries where pipette was built with a real toolkit.
guide="${srcdir:-.}/docs/writing-a-layer.md"
dir="$tmp/layer"
mkdir -p "$dir" "$tmp/bin"
block c 1 >"$dir/gain.c"
block cuda 1 >"$dir/gain.cu"
block ini 1 >"$dir/gain.ini"
block ini 2 >"$dir/mlp-gain.ini"
# pkg-config as the guide's reader has it, but finding the staged prefix.
printf '#!/bin/sh\nexec %s --define-prefix "$@"\n' "$(command -v pkg-config)" \
    >"$tmp/bin/pkg-config"
chmod +x "$tmp/bin/pkg-config"
build() { # build N: the guide's Nth sh block, run in $dir
    block sh "$1" >"$dir/build$1.sh"
    (cd "$dir" && PATH="$tmp/bin:$PATH" \
        PKG_CONFIG_PATH="$stage$PP_PKGCONFIGDIR" sh -e "build$1.sh") \
        >"$tmp/out" 2>"$tmp/err"
    status=$?
}
build 1
expect_status 0 "the layer guide's CPU build against the staged SDK"
command=$(block sh 3 | sed -n 's/^PIPETTE_PLUGIN_PATH=\$PWD pipette //p')
[ -n "$command" ] || fail "the layer guide's gradcheck command was not found"
(cd "$dir" && PIPETTE_PLUGIN_PATH="$dir:$stage$PP_PKGLIBDIR" \
    "$bin" $command) >"$tmp/out" 2>"$tmp/err"
status=$?
expect_status 0 "the layer guide's gradcheck command"
block text 1 >"$dir/shown"
while IFS= read -r line; do
    grep -qxF -- "$line" "$tmp/out" ||
        fail "the layer guide's gradcheck line '$line' is not what pipette prints"
done <"$dir/shown"
run "$bin" train --allow-model-plugins --steps 20 --quiet "$dir/mlp-gain.ini"
expect_status 0 "the layer guide's model trains with the guide's layer"
if [ "$PP_HAVE_CUDA" = yes ] && [ "$PP_EMULATED" = no ]; then
    build 2
    expect_status 0 "the layer guide's CUDA build with pipette.pc's recipe"
    (cd "$dir" && PIPETTE_PLUGIN_PATH="$dir:$stage$PP_PKGLIBDIR" \
        "$bin" gradcheck gain.ini) >"$tmp/out" 2>"$tmp/err"
    status=$?
    expect_status 0 "gradcheck of the guide's layer with its CUDA half"
    grep -q "CUDA halves not checked" "$tmp/out" ||
        expect_out "^  cuda backward_weight weight " "the guide's CUDA half checked"
fi
unset LD_LIBRARY_PATH PIPETTE_PLUGIN_PATH

run $MAKE -C "$PP_BUILDDIR" uninstall DESTDIR="$stage"
expect_status 0 "make uninstall DESTDIR"
left=$(find "$stage" -type f | head -n 5)
[ -z "$left" ] || fail "files left after uninstall: $left"

finish
