# m4/pp_sanitizers.m4 - --enable-sanitizers and --enable-fuzzers.
#
# PP_SANITIZERS checks the options and that the compiler takes them;
# PP_SANITIZERS_APPLY, called once every other check has run (they must
# link without the sanitizers' runtimes), adds the flags to CFLAGS and
# LDFLAGS, so that libpipette, the plugins, pipette and the tests are all
# built with them. CI's sanitizer passes (.ci/run) and docs/testing.md say
# how they are run.

# PP_SANITIZERS
AC_DEFUN([PP_SANITIZERS], [
AC_ARG_ENABLE([sanitizers],
  AS_HELP_STRING([--enable-sanitizers@<:@=LIST@:>@],
    [build everything with -fsanitize=LIST: address, undefined, thread,
     comma-separated (yes: address,undefined); for testing only]),
  [], [enable_sanitizers=no])
AC_ARG_ENABLE([fuzzers],
  AS_HELP_STRING([--enable-fuzzers],
    [build the libFuzzer harnesses in fuzz/ (needs clang; implies
     --enable-sanitizers=address,undefined unless it is given)]),
  [], [enable_fuzzers=no])

AS_CASE([$enable_fuzzers], [yes|no], [],
  [AC_MSG_ERROR([--enable-fuzzers takes no value])])
AC_CACHE_CHECK([whether the compiler is clang], [pp_cv_clang],
  [AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [[
#ifndef __clang__
#error not clang
#endif
]])], [pp_cv_clang=yes], [pp_cv_clang=no])])
AS_IF([test "x$enable_fuzzers" = xyes && test "x$pp_cv_clang" != xyes],
  [AC_MSG_ERROR([--enable-fuzzers needs clang's libFuzzer: configure with CC=clang])])

AS_CASE([$enable_sanitizers],
  [yes], [enable_sanitizers=address,undefined],
  [no|""], [AS_IF([test "x$enable_fuzzers" = xyes],
                  [enable_sanitizers=address,undefined],
                  [enable_sanitizers=no])])
SAN_CFLAGS=
SAN_LDFLAGS=
pp_sanitizers=no
AS_IF([test "x$enable_sanitizers" != xno], [
  pp_san_list=
  pp_save_IFS=$IFS; IFS=,
  for pp_san in $enable_sanitizers; do
    IFS=$pp_save_IFS
    AS_CASE([$pp_san],
      [address|undefined|thread], [],
      [AC_MSG_ERROR([--enable-sanitizers: '$pp_san' is not one of address, undefined, thread])])
    pp_san_list="${pp_san_list:+$pp_san_list,}$pp_san"
  done
  IFS=$pp_save_IFS
  AS_CASE([,$pp_san_list,], [*,thread,*],
    [AS_CASE([,$pp_san_list,], [*,address,*],
      [AC_MSG_ERROR([--enable-sanitizers: thread cannot be combined with address])])])
  AS_IF([test "x$enable_fuzzers" = xyes], [AS_CASE([,$pp_san_list,], [*,thread,*],
    [AC_MSG_ERROR([--enable-fuzzers: libFuzzer does not run under thread; use address,undefined])])])
  pp_sanitizers=$pp_san_list
  # Frame pointers give whole stacks; an undefined-behaviour report stops
  # the program (a test fails) instead of scrolling past.
  SAN_CFLAGS="-fsanitize=$pp_san_list -fno-omit-frame-pointer"
  AS_CASE([,$pp_san_list,], [*,undefined,*],
    [SAN_CFLAGS="$SAN_CFLAGS -fno-sanitize-recover=undefined"])
  AS_IF([test "x$enable_fuzzers" = xyes],
    [SAN_CFLAGS="$SAN_CFLAGS -fsanitize=fuzzer-no-link"])
  # clang links its sanitizer runtimes statically into programs only, so a
  # shared library built with -Wl,--no-undefined (libpipette, every
  # plugin) would not link: take the shared runtimes, and find them at run
  # time. GCC always links its shared ones.
  AS_IF([test "x$pp_cv_clang" = xyes], [
    pp_san_rtdir=$($CC -print-runtime-dir 2>/dev/null)
    AS_IF([test -z "$pp_san_rtdir" || test ! -d "$pp_san_rtdir"],
      [AC_MSG_ERROR([--enable-sanitizers: $CC -print-runtime-dir names no directory])])
    SAN_LDFLAGS="-shared-libsan -Wl,-rpath,$pp_san_rtdir"
  ])
  AC_MSG_CHECKING([whether $CC builds with $SAN_CFLAGS])
  pp_save_CFLAGS=$CFLAGS; pp_save_LDFLAGS=$LDFLAGS
  CFLAGS="$CFLAGS $SAN_CFLAGS"; LDFLAGS="$LDFLAGS $SAN_LDFLAGS"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <stdlib.h>]],
                                  [[return getenv("x") != 0;]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([$CC cannot build with $SAN_CFLAGS (install its sanitizer runtimes, or use CC=clang)])])
  CFLAGS=$pp_save_CFLAGS; LDFLAGS=$pp_save_LDFLAGS
])

FUZZ_LDFLAGS=
AS_IF([test "x$enable_fuzzers" = xyes], [FUZZ_LDFLAGS=-fsanitize=fuzzer])
AC_SUBST([FUZZ_LDFLAGS])
AM_CONDITIONAL([PP_FUZZERS], [test "x$enable_fuzzers" = xyes])
AM_CONDITIONAL([PP_SANITIZED], [test "x$pp_sanitizers" != xno])
])

# PP_SANITIZERS_APPLY: after every other check.
AC_DEFUN([PP_SANITIZERS_APPLY], [
AS_IF([test -n "$SAN_CFLAGS"], [
  CFLAGS="$CFLAGS $SAN_CFLAGS"
  # libtool passes -fsanitize=* and -Wl,* to the link, and drops other
  # flags it does not know unless they come through -Wc.
  for pp_flag in $SAN_LDFLAGS; do
    AS_CASE([$pp_flag],
      [-Wl,*], [LDFLAGS="$LDFLAGS $pp_flag"],
      [LDFLAGS="$LDFLAGS -Wc,$pp_flag"])
  done
])
])
