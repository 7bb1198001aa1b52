# tests/optimdata.mk - the optimizer and data source plugins (included from
# tests/local.mk), in two programs that share tests/plugin_fixture.c and
# run in parallel under make -j:
#
# test_optimizers: sgd and adamw against updates computed in double.
# test_data_sources: synthetic, text and tokens: determinism, the tasks,
#   the windows of a file, and every refusal.
#
# Both load the plugins from the build tree, so they must be done before
# tests/install.sh relinks them (tests/local.mk orders install.log after
# every other log).
if HAVE_CHECK
check_PROGRAMS += tests/test_optimizers tests/test_data_sources
TESTS += tests/test_optimizers tests/test_data_sources
tests_test_optimizers_SOURCES = tests/test_optimizers.c \
	tests/plugin_fixture.c tests/plugin_fixture.h
tests_test_optimizers_CFLAGS = $(TEST_CFLAGS)
tests_test_optimizers_LDADD = $(TEST_LIBS) -lm
tests_test_data_sources_SOURCES = tests/test_data_sources.c \
	tests/plugin_fixture.c tests/plugin_fixture.h
tests_test_data_sources_CFLAGS = $(TEST_CFLAGS)
tests_test_data_sources_LDADD = $(TEST_LIBS) -lm
endif
