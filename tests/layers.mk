# tests/layers.mk - the layer plugins' CPU kernels (included from
# tests/local.mk), in three programs that share tests/layer_harness.c and
# run in parallel under make -j:
#
# test_layers: gradients against finite differences, and their
#   accumulation.
# test_layer_values: float64 forward references, dropout's mask, runtime
#   errors and plans.
# test_matmul: layers/matmul.h, linear's CPU products (a BLAS's or the
#   loops), linked with the BLAS the layer links.
#
# All load the build tree's layers/.libs through the registry.
if HAVE_CHECK
check_PROGRAMS += tests/test_layers tests/test_layer_values tests/test_matmul
TESTS += tests/test_layers tests/test_layer_values tests/test_matmul
tests_test_layers_SOURCES = tests/test_layers.c \
	tests/layer_harness.c tests/layer_harness.h
tests_test_layers_CFLAGS = $(TEST_CFLAGS)
tests_test_layers_LDADD = $(TEST_LIBS) -lm
tests_test_layer_values_SOURCES = tests/test_layer_values.c \
	tests/layer_harness.c tests/layer_harness.h
tests_test_layer_values_CFLAGS = $(TEST_CFLAGS)
tests_test_layer_values_LDADD = $(TEST_LIBS) -lm
tests_test_matmul_SOURCES = tests/test_matmul.c \
	tests/layer_harness.c tests/layer_harness.h
tests_test_matmul_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/layers \
	$(CBLAS_CPPFLAGS)
tests_test_matmul_CFLAGS = $(TEST_CFLAGS)
tests_test_matmul_LDADD = $(TEST_LIBS) $(CBLAS_LIBS) -lm
endif

# test_linear_gelu: linear's activation = gelu against the chain linear
#   + gelu, bit for bit, and trained under split schedules; its std and
#   residual_layers initialisation, in the plan and as drawn.
if HAVE_CHECK
check_PROGRAMS += tests/test_linear_gelu
TESTS += tests/test_linear_gelu
tests_test_linear_gelu_SOURCES = tests/test_linear_gelu.c \
	tests/layer_harness.c tests/layer_harness.h
tests_test_linear_gelu_CFLAGS = $(TEST_CFLAGS)
tests_test_linear_gelu_LDADD = $(TEST_LIBS) -lm
endif
