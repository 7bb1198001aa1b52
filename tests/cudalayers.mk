# tests/cudalayers.mk - the layer plugins' CUDA kernels against their CPU
# kernels (included from tests/local.mk). SKIP (77) without a GPU, FAIL
# instead when PIPETTE_REQUIRE_GPU=1. The test drives the kernels with
# memory, a stream and a cuDNN handle of its own, hence cudart and
# cuDNN; it loads the build tree's layers/.libs through the registry.
if HAVE_CHECK
if HAVE_CUDA
check_PROGRAMS += tests/test_layers_cuda
TESTS += tests/test_layers_cuda
tests_test_layers_cuda_SOURCES = tests/test_layers_cuda.c \
	tests/layer_harness.c tests/layer_harness.h
tests_test_layers_cuda_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	$(CUDA_CPPFLAGS) $(CUDNN_CPPFLAGS)
tests_test_layers_cuda_CFLAGS = $(TEST_CFLAGS)
tests_test_layers_cuda_LDADD = $(TEST_LIBS) $(CUDA_LIBS) $(CUDNN_LIBS) -lm
endif
endif
# Shipped even by a `make dist` configured without CUDA.
EXTRA_DIST += tests/test_layers_cuda.c
