# pp_cuda.m4 - find the CUDA toolkit, its libraries and MPI; print a summary.
#
# Each component has --with-X[=DIR] / --without-X. With no option a component
# is used when found (CUDA under /usr/local/cuda, its libraries beside it);
# naming it (--with-X or --with-X=DIR) makes its absence an error.

# PP_CHECK_CUDA: sets pp_have_cuda, NVCC, NVCCFLAGS, CUDA_CPPFLAGS, CUDA_LIBS,
# pp_cuda_home, pp_cuda_version; defines HAVE_CUDA and the HAVE_CUDA
# conditional.
AC_DEFUN([PP_CHECK_CUDA], [
AC_ARG_WITH([cuda],
  AS_HELP_STRING([--with-cuda@<:@=DIR@:>@],
    [build the CUDA device and kernels with the toolkit in DIR (default: /usr/local/cuda if present)]),
  [], [with_cuda=check])
AC_ARG_VAR([NVCC], [CUDA compiler (default: DIR/bin/nvcc)])
AC_ARG_VAR([NVCCFLAGS], [flags for nvcc (default: -O3 -lineinfo -arch=all-major)])
AC_ARG_ENABLE([cuda-emulator],
  AS_HELP_STRING([--enable-cuda-emulator],
    [build the CUDA code against a CPU emulation of the CUDA runtime, cuBLAS,
     cuBLASLt, cuDNN and NCCL (tests/emu), so that make check runs the GPU
     tests with no GPU: for testing only; needs the CUDA headers (and
     nccl.h for NCCL), a C++ compiler (CXX) and perl, not nvcc]),
  [], [enable_cuda_emulator=no])
AS_CASE([$enable_cuda_emulator], [yes|no], [],
  [AC_MSG_ERROR([--enable-cuda-emulator takes no value])])
pp_cuda_emulator=$enable_cuda_emulator
pp_have_cuda=no
pp_cuda_version=
pp_cuda_why="not requested"
AS_CASE([$with_cuda],
  [no], [pp_cuda_home=],
  [yes|check], [pp_cuda_home=${CUDA_HOME:-/usr/local/cuda}],
  [pp_cuda_home=$with_cuda])
AS_IF([test "x$pp_cuda_emulator" = xyes], [PP_CUDA_EMULATOR_SETUP])
AS_IF([test -n "$pp_cuda_home" && test "x$pp_cuda_emulator" != xyes], [
  AS_IF([test -z "$NVCC"], [NVCC=$pp_cuda_home/bin/nvcc])
  AC_MSG_CHECKING([for nvcc])
  AS_IF([test -x "$NVCC"], [
    AC_MSG_RESULT([$NVCC])
    pp_cuda_version=$("$NVCC" --version | sed -n 's/.*release \(@<:@0-9.@:>@*\),.*/\1/p')
    # -isystem: the libraries' headers are not ours to warn about (nccl.h
    # declares f() prototypes, which -Wstrict-prototypes rejects).
    CUDA_CPPFLAGS="-isystem $pp_cuda_home/include"
    pp_cuda_libdir=$pp_cuda_home/lib64
    AS_IF([test -d "$pp_cuda_libdir"], [], [pp_cuda_libdir=$pp_cuda_home/lib])
    CUDA_LDFLAGS="-L$pp_cuda_libdir -Wl,-rpath,$pp_cuda_libdir"
    pp_save_CPPFLAGS=$CPPFLAGS; pp_save_LDFLAGS=$LDFLAGS
    CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS"; LDFLAGS="$LDFLAGS $CUDA_LDFLAGS"
    pp_cuda_why="cuda_runtime.h or libcudart not found in $pp_cuda_home"
    AC_CHECK_HEADER([cuda_runtime.h],
      [AC_CHECK_LIB([cudart], [cudaGetDeviceCount], [pp_have_cuda=yes])])
    CPPFLAGS=$pp_save_CPPFLAGS; LDFLAGS=$pp_save_LDFLAGS
  ], [
    AC_MSG_RESULT([no])
    pp_cuda_why="no nvcc at $NVCC"
  ])
])
AS_IF([test "x$pp_have_cuda" = xno && test "x$with_cuda" != xno && test "x$with_cuda" != xcheck],
  [AC_MSG_ERROR([--with-cuda was given but the CUDA toolkit is unusable: $pp_cuda_why])])
AS_IF([test "x$pp_have_cuda" = xyes], [
  # Machine code for every major architecture the toolkit supports (H100
  # is sm_90) and PTX for the newest, so no GPU JIT-compiles at first launch.
  AS_IF([test -z "$NVCCFLAGS"], [NVCCFLAGS="-O3 -lineinfo -arch=all-major"])
  # The host half of nvcc output needs the C++ runtime (static guards,
  # personality); plugins link with --no-undefined, so name it.
  CUDA_LIBS="$CUDA_LDFLAGS -lcudart -lstdc++"
  AC_DEFINE([HAVE_CUDA], [1], [Define if the CUDA toolkit is available])
])
AS_IF([test "x$pp_cuda_emulator" = xyes], [
  # The emulator stands in for libcudart here, and for libcublas,
  # libcublasLt, libcudnn and libnccl in their *_LIBS (PP_CHECK_CUDA_LIB);
  # the .cu files, compiled by $(CXX), need the C++ runtime as nvcc's
  # output does, and libm for what is an intrinsic on a GPU (fmaf, expf).
  CUDA_LDFLAGS=
  CUDA_LIBS="$pp_cuda_emulator_la -lstdc++ -lm"
  AC_DEFINE([PP_CUDA_EMULATOR], [1],
    [Define if the CUDA code runs on the CPU emulator (--enable-cuda-emulator)])
])
AM_CONDITIONAL([PP_CUDA_EMULATOR], [test "x$pp_cuda_emulator" = xyes])
# pipette.pc's recipe for a plugin's own CUDA half: this toolkit and the
# flags pipette's kernels are built with. Empty without a real toolkit (an
# emulated build cannot build a plugin's CUDA half out of its tree).
PP_PC_NVCC= PP_PC_NVCCFLAGS= PP_PC_CUDA_CFLAGS= PP_PC_CUDA_LIBS=
AS_IF([test "x$pp_have_cuda" = xyes && test "x$pp_cuda_emulator" != xyes], [
  PP_PC_NVCC=$NVCC
  PP_PC_NVCCFLAGS="$NVCCFLAGS --fmad=false --compiler-options=-fPIC"
  PP_PC_CUDA_CFLAGS=$CUDA_CPPFLAGS
  PP_PC_CUDA_LIBS=$CUDA_LIBS
])
AC_SUBST([PP_PC_NVCC])
AC_SUBST([PP_PC_NVCCFLAGS])
AC_SUBST([PP_PC_CUDA_CFLAGS])
AC_SUBST([PP_PC_CUDA_LIBS])
AC_SUBST([CUDA_CPPFLAGS])
AC_SUBST([CUDA_LDFLAGS])
AC_SUBST([CUDA_LIBS])
AM_CONDITIONAL([HAVE_CUDA], [test "x$pp_have_cuda" = xyes])
])

# PP_CUDA_EMULATOR_SETUP: --enable-cuda-emulator. The CUDA headers (for
# the prototypes the emulator implements and the code it runs), a C++
# compiler for the .cu files and the kernel emulator, perl for
# tests/emu/cu2cc.pl; no nvcc, no CUDA libraries, no GPU. Sets what
# PP_CHECK_CUDA would for a toolkit, plus CXX, CXXFLAGS, PERL and
# pp_cuda_emulator_la.
AC_DEFUN([PP_CUDA_EMULATOR_SETUP], [
AS_IF([test "x$with_cuda" = xno],
  [AC_MSG_ERROR([--enable-cuda-emulator needs the CUDA headers: drop --without-cuda])])
CUDA_CPPFLAGS="-isystem $pp_cuda_home/include"
pp_save_CPPFLAGS=$CPPFLAGS
CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS"
AC_CHECK_HEADER([cuda_runtime.h], [],
  [AC_MSG_ERROR([--enable-cuda-emulator needs the CUDA headers: no cuda_runtime.h in $pp_cuda_home/include (--with-cuda=DIR)])])
AC_COMPUTE_INT([pp_v1], [CUDART_VERSION], [#include <cuda_runtime_api.h>], [pp_v1=0])
CPPFLAGS=$pp_save_CPPFLAGS
pp_cuda_version="$((pp_v1 / 1000)).$((pp_v1 % 1000 / 10))-emu"
AC_ARG_VAR([CXX], [C++ compiler for --enable-cuda-emulator])
AC_ARG_VAR([CXXFLAGS], [flags for CXX (default: -g -O2)])
AC_CHECK_PROGS([CXX], [g++ c++ clang++])
AS_IF([test -z "$CXX"], [AC_MSG_ERROR([--enable-cuda-emulator needs a C++ compiler (CXX)])])
AS_IF([test "${CXXFLAGS+set}" != set], [CXXFLAGS="-g -O2"])
AC_PATH_PROG([PERL], [perl])
AS_IF([test -z "$PERL"], [AC_MSG_ERROR([--enable-cuda-emulator needs perl])])
pp_cuda_emulator_la=tests/emu/libpipette-cuda-emulator.la
pp_have_cuda=yes
])

# PP_CHECK_CUDA_LIB(TITLE, NAME, HEADER, LIB, FUNC, VERSION-HEADER, MAJOR, MINOR, PATCH)
# A library of the CUDA ecosystem, by default looked up beside the toolkit.
# Sets pp_have_NAME, pp_NAME_version, NAME_CPPFLAGS, NAME_LIBS; defines
# HAVE_NAME and the HAVE_NAME conditional (NAME upper-cased).
AC_DEFUN([PP_CHECK_CUDA_LIB], [
AC_ARG_WITH([$2],
  AS_HELP_STRING([--with-$2@<:@=DIR@:>@], [use $1 from DIR (default: beside the CUDA toolkit, if present)]),
  [], [with_$2=check])
pp_have_$2=no
pp_$2_version=
AS_CASE([$with_$2],
  [no], [pp_$2_home=],
  [yes|check], [pp_$2_home=$pp_cuda_home],
  [pp_$2_home=$with_$2])
AS_IF([test "x$with_$2" != xno && test "x$pp_have_cuda" != xyes && test "x$with_$2" != xcheck],
  [AC_MSG_ERROR([--with-$2 needs the CUDA toolkit, which was not found])])
AS_IF([test "x$pp_have_cuda" = xyes && test -n "$pp_$2_home"], [
  pp_$2_libdir=$pp_$2_home/lib64
  AS_IF([test -d "$pp_$2_libdir"], [], [pp_$2_libdir=$pp_$2_home/lib])
  m4_toupper($2)_CPPFLAGS="-isystem $pp_$2_home/include"
  m4_toupper($2)_LDFLAGS="-L$pp_$2_libdir -Wl,-rpath,$pp_$2_libdir"
  pp_save_CPPFLAGS=$CPPFLAGS; pp_save_LDFLAGS=$LDFLAGS
  CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS $m4_toupper($2)_CPPFLAGS"
  LDFLAGS="$LDFLAGS $CUDA_LDFLAGS $m4_toupper($2)_LDFLAGS"
  AS_IF([test "x$pp_cuda_emulator" = xyes],
    [AC_CHECK_HEADER([$3], [pp_have_$2=yes])],
    [AC_CHECK_HEADER([$3],
      [AC_CHECK_LIB([$4], [$5], [pp_have_$2=yes], [], [-lcudart])])])
  AS_IF([test "x$pp_have_$2" = xyes], [
    AC_COMPUTE_INT([pp_v1], [$7], [#include <$6>], [pp_v1=?])
    AC_COMPUTE_INT([pp_v2], [$8], [#include <$6>], [pp_v2=?])
    AC_COMPUTE_INT([pp_v3], [$9], [#include <$6>], [pp_v3=?])
    pp_$2_version=$pp_v1.$pp_v2.$pp_v3
  ])
  CPPFLAGS=$pp_save_CPPFLAGS; LDFLAGS=$pp_save_LDFLAGS
])
AS_IF([test "x$pp_have_$2" = xno && test "x$with_$2" != xno && test "x$with_$2" != xcheck],
  [AC_MSG_ERROR([--with-$2 was given but $1 ($3, lib$4) was not found in $pp_$2_home])])
AS_IF([test "x$pp_have_$2" = xyes], [
  m4_toupper($2)_LIBS="$m4_toupper($2)_LDFLAGS -l$4"
  AS_IF([test "x$pp_cuda_emulator" = xyes], [m4_toupper($2)_LIBS=$pp_cuda_emulator_la])
  AC_DEFINE([HAVE_]m4_toupper($2), [1], [Define if $1 is available])
], [
  m4_toupper($2)_CPPFLAGS=
  m4_toupper($2)_LIBS=
])
AC_SUBST(m4_toupper($2)[_CPPFLAGS])
AC_SUBST(m4_toupper($2)[_LIBS])
AM_CONDITIONAL([HAVE_]m4_toupper($2), [test "x$pp_have_$2" = xyes])
])

# PP_CHECK_MPI: optional, for multi-process runs (the mpi-job and mpi
# plugins, plugins/mpi.mk). Found through mpicc (or DIR/bin/mpicc). Sets
# pp_have_mpi, MPI_CFLAGS, MPI_LIBS, HAVE_MPI.
AC_DEFUN([PP_CHECK_MPI], [
AC_ARG_WITH([mpi],
  AS_HELP_STRING([--with-mpi@<:@=DIR@:>@], [use MPI from DIR (default: mpicc on PATH, if any)]),
  [], [with_mpi=check])
pp_have_mpi=no
pp_mpi_version=
AS_CASE([$with_mpi],
  [no], [],
  [yes|check], [AC_PATH_PROG([MPICC], [mpicc])],
  [AC_PATH_PROG([MPICC], [mpicc], [], [$with_mpi/bin])])
AS_IF([test -n "$MPICC"], [
  MPI_CFLAGS=$("$MPICC" --showme:compile 2>/dev/null || "$MPICC" -compile_info 2>/dev/null | cut -d' ' -f2-)
  MPI_LIBS=$("$MPICC" --showme:link 2>/dev/null || "$MPICC" -link_info 2>/dev/null | cut -d' ' -f2-)
  pp_save_CPPFLAGS=$CPPFLAGS; pp_save_LIBS=$LIBS
  CPPFLAGS="$CPPFLAGS $MPI_CFLAGS"; LIBS="$MPI_LIBS $LIBS"
  AC_CHECK_HEADER([mpi.h], [AC_CHECK_FUNC([MPI_Init], [pp_have_mpi=yes])])
  AS_IF([test "x$pp_have_mpi" = xyes], [
    AC_COMPUTE_INT([pp_v1], [MPI_VERSION], [#include <mpi.h>], [pp_v1=?])
    AC_COMPUTE_INT([pp_v2], [MPI_SUBVERSION], [#include <mpi.h>], [pp_v2=?])
    pp_mpi_version="MPI $pp_v1.$pp_v2"
  ])
  CPPFLAGS=$pp_save_CPPFLAGS; LIBS=$pp_save_LIBS
])
AS_IF([test "x$pp_have_mpi" = xno && test "x$with_mpi" != xno && test "x$with_mpi" != xcheck],
  [AC_MSG_ERROR([--with-mpi was given but no working mpicc/mpi.h was found])])
AS_IF([test "x$pp_have_mpi" = xyes], [AC_DEFINE([HAVE_MPI], [1], [Define if MPI is available])],
  [MPI_CFLAGS=; MPI_LIBS=])
AC_SUBST([MPI_CFLAGS])
AC_SUBST([MPI_LIBS])
AM_CONDITIONAL([HAVE_MPI], [test "x$pp_have_mpi" = xyes])
])

# PP_SUMMARY: the table configure ends with.
AC_DEFUN([PP_SUMMARY], [
pp_row() { printf '  %-10s %-5s %-10s %s\n' "$[]1" "$[]2" "$[]3" "$[]4"; }
pp_prefix=$prefix
test "x$pp_prefix" = xNONE && pp_prefix=$ac_default_prefix
pp_exec_prefix=$exec_prefix
test "x$pp_exec_prefix" = xNONE && pp_exec_prefix=$pp_prefix
pp_libdir=$(prefix=$pp_prefix; exec_prefix=$pp_exec_prefix; eval eval echo "$libdir")
echo
echo "pipette $PACKAGE_VERSION configured:"
pp_row component found version "what it enables"
pp_row inih yes "$pp_inih_version" "model files (required)"
pp_row Check "$pp_have_check" "$pp_check_version" "make check"
AS_IF([test "x$pp_blas" = xnone],
  [pp_row "CPU BLAS" no "" "linear's matrix products on the CPU"],
  [pp_row "CPU BLAS" yes "$pp_blas_version" "$pp_blas: linear's matrix products on the CPU"])
pp_row CUDA "$pp_have_cuda" "$pp_cuda_version" "cuda device plugin, .cu kernels"
pp_row cuBLAS "$pp_have_cublas" "$pp_cublas_version" "matrix products on GPU"
pp_row cuBLASLt "$pp_have_cublaslt" "$pp_cublaslt_version" "GEMMs with fused epilogues, bf16"
pp_row cuDNN "$pp_have_cudnn" "$pp_cudnn_version" "attention's fused SDPA (bf16); a handle per GPU rank"
pp_row NCCL "$pp_have_nccl" "$pp_nccl_version" "the nccl transport between GPUs"
pp_row MPI "$pp_have_mpi" "$pp_mpi_version" "the mpi-job and mpi plugins: ranks in several processes"
AS_IF([test "x$pp_blas" = xnone], [echo "  (CPU BLAS: none, pipette's own loops ($pp_blas_why); install libopenblas-dev for speed)"])
AS_IF([test "x$pp_have_cuda" != xyes], [echo "  (CUDA: $pp_cuda_why; building the CPU-only framework)"])
AS_IF([test "x$pp_cuda_emulator" = xyes], [
  echo "  (CUDA emulator: CUDA, cuBLAS, cuBLASLt, cuDNN and NCCL emulated on the"
  echo "   CPU by tests/emu, so that make check runs the GPU tests; for testing"
  echo "   only, and devices are named \"pipette CUDA emulator\")"])
AS_IF([test "x$pp_have_check" != xyes], [echo "  (Check missing: make check will fail; run scripts/install-deps.sh)"])
echo "  install prefix: $pp_prefix; plugins: $pp_libdir/$PACKAGE/{layers,schedules,plugins}"
echo "  warnings: $WARN_CFLAGS"
AS_IF([test "x$pp_sanitizers" != xno], [echo "  sanitizers: $SAN_CFLAGS${FUZZ_LDFLAGS:+ (and the fuzzers in fuzz/)}"])
])
