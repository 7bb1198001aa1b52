#!/bin/sh
# Install the Debian packages pipette needs to build and test, and
# OpenBLAS, which configure takes for the layers' CPU matrix products
# (without it they run in pipette's own loops, several times slower), and
# Open MPI, for the mpi-job and mpi plugins (ranks in several processes;
# without it they are not built), and clang with its sanitizer and
# libFuzzer runtimes, for the fuzz targets (configure --enable-fuzzers;
# GCC's ASan, UBSan and TSan runtimes come with build-essential).
# Idempotent; runs as root or through sudo. The CUDA toolkit, cuDNN and NCCL
# are optional and not installed here: configure finds them under
# /usr/local/cuda (or --with-cuda=DIR) when they are present.
set -eu

packages="build-essential autoconf automake libtool pkg-config libinih-dev check
libopenblas-dev openmpi-bin libopenmpi-dev clang libclang-rt-dev"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: need root or sudo to install:$missing" >&2
    exit 1
fi

echo "install-deps: installing$missing"
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
