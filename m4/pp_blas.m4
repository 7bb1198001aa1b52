# pp_blas.m4 - find a CBLAS for the layers' matrix products on the CPU.
#
# --with-blas=auto (the default) takes the first that works of OpenBLAS
# (pkg-config openblas, else -lopenblas), BLIS (pkg-config blis, else
# -lblis beside its cblas.h) and a generic -lcblas or -lblas, but not the
# reference BLAS (netlib's, whose CBLAS defines RowMajorStrg): its
# products are slower than pipette's own loops. With none, the layers
# use their own loops. --with-blas=openblas or blis: that one, or an
# error. --with-blas=no: the loops.
#
# "Works": <cblas.h> compiles and cblas_sgemm and cblas_sgemv link. The BLAS's headers
# are not ours to warn about, so its -I flags become -isystem.

# _PP_BLAS_TRY(NAME, CPPFLAGS, LIBS): unless a BLAS was found already,
# takes NAME when it works with CPPFLAGS and LIBS.
m4_define([_PP_BLAS_TRY], [
AS_IF([test "x$pp_blas" = xnone], [
  AC_MSG_CHECKING([for cblas_sgemm with $(echo $3 $2)])
  pp_save_CPPFLAGS=$CPPFLAGS; pp_save_LIBS=$LIBS
  CPPFLAGS="$CPPFLAGS $2"; LIBS="$3 $LIBS"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <cblas.h>]], [[
    float a = 1, b = 2, c = 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, 1, 1, 1.0f,
                &a, 1, &b, 1, 0.0f, &c, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, 1, 1, 1.0f, &a, 1, &b, 1,
                0.0f, &c, 1);]])],
    [AC_MSG_RESULT([yes])
     pp_blas=$1; CBLAS_CPPFLAGS="$2"; CBLAS_LIBS="$3"],
    [AC_MSG_RESULT([no])])
  CPPFLAGS=$pp_save_CPPFLAGS; LIBS=$pp_save_LIBS
])])

# _PP_BLAS_PKG(NAME, MODULE): _PP_BLAS_TRY with pkg-config's flags for
# MODULE, when pkg-config knows it; sets pp_blas_version.
m4_define([_PP_BLAS_PKG], [
AS_IF([test "x$pp_blas" = xnone && test -n "$PKG_CONFIG" &&
       $PKG_CONFIG --exists $2], [
  pp_blas_cflags=
  for pp_f in $($PKG_CONFIG --cflags $2); do
    AS_CASE([$pp_f], [-I*], [pp_f="-isystem ${pp_f@%:@-I}"])
    pp_blas_cflags="${pp_blas_cflags:+$pp_blas_cflags }$pp_f"
  done
  _PP_BLAS_TRY([$1], [$pp_blas_cflags], [$(echo $($PKG_CONFIG --libs $2))])
  AS_IF([test "x$pp_blas" = x$1],
    [pp_blas_version=$($PKG_CONFIG --modversion $2)])
])])

# PP_CHECK_BLAS: sets pp_blas (OpenBLAS, BLIS, -lcblas, -lblas or none),
# pp_blas_version, pp_blas_why (why none), CBLAS_CPPFLAGS and CBLAS_LIBS;
# defines HAVE_CBLAS.
AC_DEFUN([PP_CHECK_BLAS], [
AC_REQUIRE([PKG_PROG_PKG_CONFIG])
AC_ARG_WITH([blas],
  AS_HELP_STRING([--with-blas=auto|openblas|blis|no],
    [the BLAS for layers' matrix products on the CPU (default: auto, the
     first found of OpenBLAS, BLIS and a generic CBLAS; no: pipette's own
     loops, several times slower)]),
  [], [with_blas=auto])
AS_CASE([$with_blas],
  [yes], [with_blas=auto],
  [auto|openblas|blis|no], [],
  [AC_MSG_ERROR([--with-blas=$with_blas: expected auto, openblas, blis or no])])
pp_blas=none
pp_blas_version=
pp_blas_why="no CBLAS found"
AS_IF([test "x$with_blas" = xno], [pp_blas_why="--with-blas=no"])
CBLAS_CPPFLAGS=
CBLAS_LIBS=
AS_IF([test "x$with_blas" = xauto || test "x$with_blas" = xopenblas], [
  _PP_BLAS_PKG([OpenBLAS], [openblas])
  _PP_BLAS_TRY([OpenBLAS], [], [-lopenblas])
])
AS_IF([test "x$with_blas" = xauto || test "x$with_blas" = xblis], [
  _PP_BLAS_PKG([BLIS], [blis])
  # Without blis.pc, cblas.h lies beside blis.h: in include/blis, or on
  # Debian in a directory per threading model that blis.h links to.
  pp_multiarch=$($CC -print-multiarch 2>/dev/null)
  for pp_h in "/usr/include/$pp_multiarch/blis.h" /usr/include/blis/blis.h \
              /usr/local/include/blis/blis.h; do
    AS_IF([test -f "$pp_h"], [
      pp_d=$(dirname "$(readlink -f "$pp_h")")
      AS_IF([test -f "$pp_d/cblas.h"],
        [_PP_BLAS_TRY([BLIS], [-isystem $pp_d], [-lblis])])
    ])
  done
])
AS_IF([test "x$with_blas" = xauto], [
  for pp_lib in cblas blas; do
    _PP_BLAS_TRY([-l$pp_lib], [], [-l$pp_lib])
    AS_IF([test "x$pp_blas" = "x-l$pp_lib"], [
      AC_MSG_CHECKING([whether -l$pp_lib is the reference BLAS])
      pp_save_LIBS=$LIBS; LIBS="-l$pp_lib $LIBS"
      AC_LINK_IFELSE([AC_LANG_PROGRAM([[extern int RowMajorStrg;]],
                                      [[return RowMajorStrg;]])],
        [AC_MSG_RESULT([yes, not used])
         pp_blas=none; CBLAS_CPPFLAGS=; CBLAS_LIBS=
         pp_blas_why="-l$pp_lib is the reference BLAS, slower than these"],
        [AC_MSG_RESULT([no])])
      LIBS=$pp_save_LIBS
    ])
  done
])
AS_IF([test "x$pp_blas" = xnone && test "x$with_blas" != xauto &&
       test "x$with_blas" != xno],
  [AC_MSG_ERROR([--with-blas=$with_blas: no cblas.h and cblas_sgemm of it work
  here (see config.log); install it (Debian: libopenblas-dev or libblis-dev),
  or say --with-blas=auto])])
AS_IF([test "x$pp_blas" != xnone],
  [AC_DEFINE([HAVE_CBLAS], [1],
     [Define if layers multiply matrices on the CPU with a CBLAS])])
AC_SUBST([CBLAS_CPPFLAGS])
AC_SUBST([CBLAS_LIBS])
])
