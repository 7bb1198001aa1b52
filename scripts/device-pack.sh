#!/bin/sh
# scripts/device-pack.sh - builds pipette here for a lent GPU machine and
# packs the build into .device/pipette.tar.gz, for scripts/device-run.sh
# to unpack and run there (tests, bench/gpu.sh).
#
#   scripts/device-pack.sh          (from the checkout; JOBS=N for make -jN)
#
# Why a packed build rather than the checkout's own: that machine has the
# CUDA runtime and PyTorch but neither libinih nor Check's libsubunit, and
# only a handful of ignored paths may travel with the working tree. And a
# build tree must not move: libtool's wrappers, the Makefiles and the
# plugin registry (PP_BUILDDIR, how an uninstalled pipette finds its
# plugins) name it by absolute path. So the build is made in its own
# directory, PIPETTE_DEVICE_DIR (default /tmp/pipette-device), which
# device-run.sh recreates at the same path there; tar keeps the files'
# times, so make finds everything up to date and rebuilds nothing; and
# configure runs with --disable-dependency-tracking, so that no target
# depends on a header that machine lacks (ini.h, check.h).
#
# The archive goes to .device/ (ignored by git); name that
# folder in the device tool's carry. It holds the build, libinih and
# libsubunit, and the commit it was built from.
set -eu

top=$(git rev-parse --show-toplevel)
dir=${PIPETTE_DEVICE_DIR:-/tmp/pipette-device}
jobs=${JOBS:-$(nproc)}
case $dir in
/*) ;;
*) echo "device-pack: PIPETTE_DEVICE_DIR must be absolute: $dir" >&2; exit 2 ;;
esac

echo "device-pack: copying $top to $dir"
rm -rf "$dir"
mkdir -p "$dir"
# What git would commit (tracked and untracked-not-ignored files), with
# their times: the build's outputs must come out newer than its sources.
git -C "$top" ls-files -z -co --exclude-standard |
    tar -C "$top" --null -T - --ignore-failed-read -cf - |
    tar -C "$dir" -xf -
{
    git -C "$top" rev-parse --short HEAD
    git -C "$top" diff --quiet HEAD -- 2>/dev/null || echo "(with uncommitted changes)"
} | tr '\n' ' ' | sed 's/ $//' >"$dir/.commit"

echo "device-pack: building in $dir (make -j$jobs)"
(
    cd "$dir"
    autoreconf -fi >/dev/null 2>&1
    ./configure --enable-werror --disable-dependency-tracking >configure.out
    tail -n 12 configure.out
    grep -q '^  CUDA  *yes' configure.out || {
        echo "device-pack: configure found no CUDA toolkit: nothing to run on a GPU" >&2
        exit 1
    }
    make -j"$jobs" >make.out 2>&1 || { tail -n 30 make.out >&2; exit 1; }
    # The test programs too, without running them.
    make -j"$jobs" check TESTS= >>make.out 2>&1 || { tail -n 30 make.out >&2; exit 1; }
)

# The shared libraries the build needs that the device machine lacks:
# everything ldd resolves here except the C library's own, the CUDA
# libraries (there from the toolkit or PyTorch's wheels) and the build's.
mkdir -p "$dir/.devlibs"
find "$dir" -path '*/.libs/*' -type f \( -name '*.so*' -o -perm -u+x \) |
    while IFS= read -r f; do
        LD_LIBRARY_PATH="$dir/src/.libs" ldd "$f" 2>/dev/null || true
    done |
    awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
    while read -r name path; do
        case $name in
        libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | \
        libgcc_s.so.* | libstdc++.so.* | ld-linux*) continue ;;
        libcuda*.so.* | libcublas*.so.* | libcudnn*.so.* | libnccl.so.* | \
        libnvrtc*.so.* | libnvJitLink*.so.*) continue ;;
        esac
        case $path in "$dir"/*) continue ;; esac
        cp -L "$path" "$dir/.devlibs/$name"
        echo "device-pack: carrying $name (from $path)"
    done

mkdir -p "$top/.device"
tar -C / --exclude="${dir#/}/.git" --exclude="${dir#/}/autom4te.cache" \
    -czf "$top/.device/pipette.tar.gz" "${dir#/}"
cp "$top/scripts/device-run.sh" "$top/.device/run.sh"
echo "device-pack: $(du -h "$top/.device/pipette.tar.gz" | cut -f1) in .device/pipette.tar.gz," \
    "built from $(cat "$dir/.commit")"
echo "device-pack: on the device (carry: [\".device\"]):"
echo "  sh .device/run.sh check     # GPU tests, PIPETTE_REQUIRE_GPU=1"
echo "  sh .device/run.sh bench     # bench/gpu.sh"
