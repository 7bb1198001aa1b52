# tests/cudalinear.mk - linear's cuBLASLt kernels and the optimizers'
# fused kernels against their CPU halves (included from tests/local.mk).
# SKIP (77) without a GPU, FAIL instead when PIPETTE_REQUIRE_GPU=1. Built
# where linear's CUDA half is: with cuBLASLt.
if HAVE_CHECK
if HAVE_CUBLASLT
check_PROGRAMS += tests/test_linear_optim_cuda
TESTS += tests/test_linear_optim_cuda
tests_test_linear_optim_cuda_SOURCES = tests/test_linear_optim_cuda.c
tests_test_linear_optim_cuda_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	$(CUDA_CPPFLAGS)
tests_test_linear_optim_cuda_CFLAGS = $(TEST_CFLAGS)
tests_test_linear_optim_cuda_LDADD = $(TEST_LIBS) $(CUDA_LIBS) -lm
endif
endif
