# tests/optimdata.mk - the optimizer and data source plugins (included from
# tests/local.mk): test_optim_data loads them from the build tree, so
# tests/local.mk lists its log in INSTALL_TEST_AFTER.
if HAVE_CHECK
check_PROGRAMS += tests/test_optim_data
TESTS += tests/test_optim_data
tests_test_optim_data_SOURCES = tests/test_optim_data.c
tests_test_optim_data_CFLAGS = $(TEST_CFLAGS)
tests_test_optim_data_LDADD = $(TEST_LIBS) -lm
endif
