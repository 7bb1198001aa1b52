# fuzz/local.mk - the fuzz targets (fuzz/*.c; docs/testing.md).
#
# Every build makes fuzz/regress-model and fuzz/regress-schedule: the
# targets with fuzz/standalone.c's main, which tests/fuzz-regressions.sh
# runs on every input a fuzzer ever crashed with (fuzz/regressions/).
# configure --enable-fuzzers (CC=clang) also makes fuzz/fuzz-model and
# fuzz/fuzz-schedule with libFuzzer; scripts/fuzz.sh runs them.

FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/fuzz
FUZZ_MODEL_SOURCES = fuzz/fuzz.h fuzz/fuzz_common.c fuzz/fuzz_model.c
FUZZ_SCHEDULE_SOURCES = fuzz/fuzz.h fuzz/fuzz_common.c fuzz/fuzz_schedule.c

check_PROGRAMS += fuzz/regress-model fuzz/regress-schedule
fuzz_regress_model_SOURCES = $(FUZZ_MODEL_SOURCES) fuzz/standalone.c
fuzz_regress_model_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_regress_model_LDADD = src/libpipette.la
fuzz_regress_schedule_SOURCES = $(FUZZ_SCHEDULE_SOURCES) fuzz/standalone.c
fuzz_regress_schedule_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_regress_schedule_LDADD = src/libpipette.la

if PP_FUZZERS
# FUZZ_LDFLAGS: -fsanitize=fuzzer, whose runtime (C++) needs libm.
noinst_PROGRAMS += fuzz/fuzz-model fuzz/fuzz-schedule
fuzz_fuzz_model_SOURCES = $(FUZZ_MODEL_SOURCES)
fuzz_fuzz_model_CPPFLAGS = $(FUZZ_CPPFLAGS) -DPP_LIBFUZZER
fuzz_fuzz_model_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_model_LDADD = src/libpipette.la -lm
fuzz_fuzz_schedule_SOURCES = $(FUZZ_SCHEDULE_SOURCES)
fuzz_fuzz_schedule_CPPFLAGS = $(FUZZ_CPPFLAGS) -DPP_LIBFUZZER
fuzz_fuzz_schedule_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_schedule_LDADD = src/libpipette.la -lm
endif

TESTS += tests/fuzz-regressions.sh
# fuzz/regressions goes into the tarball whole: a new file needs no entry
# here.
EXTRA_DIST += tests/fuzz-regressions.sh scripts/fuzz.sh scripts/tsan-train.sh \
	fuzz/model.dict fuzz/schedule.dict fuzz/regressions
