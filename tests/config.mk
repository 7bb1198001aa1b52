# The config file layer: a Check suite, and a corpus of bad and good files
# run through tests/config_lint (a fixed test schema, not the model's); and
# [repeat] groups written out (tests/test_repeat).
# Included from tests/local.mk; paths are relative to the top directory.

if HAVE_CHECK
check_PROGRAMS += tests/test_config
TESTS += tests/test_config
tests_test_config_SOURCES = tests/test_config.c
tests_test_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_config_LDADD = src/libpipette.la $(CHECK_LIBS)

check_PROGRAMS += tests/test_repeat
TESTS += tests/test_repeat
tests_test_repeat_SOURCES = tests/test_repeat.c
tests_test_repeat_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_repeat_LDADD = src/libpipette.la $(CHECK_LIBS)
endif

check_PROGRAMS += tests/config_lint
tests_config_lint_SOURCES = tests/config_lint.c
tests_config_lint_LDADD = src/libpipette.la

TESTS += tests/config-corpus.sh
EXTRA_DIST += tests/config-corpus.sh tests/config
