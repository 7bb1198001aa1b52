# tests/layers.mk - the layer plugins' CPU kernels (included from
# tests/local.mk): finite-difference gradients, float64 forward references,
# dropout's mask, accumulation and runtime errors. Loads the build tree's
# layers/.libs through the registry.
if HAVE_CHECK
check_PROGRAMS += tests/test_layers
TESTS += tests/test_layers
tests_test_layers_SOURCES = tests/test_layers.c
tests_test_layers_CFLAGS = $(TEST_CFLAGS)
tests_test_layers_LDADD = $(TEST_LIBS) -lm
endif
