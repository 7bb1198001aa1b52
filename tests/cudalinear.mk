# tests/cudalinear.mk - linear's cuBLAS kernels and the optimizers' fused
# kernels against their CPU halves (included from tests/local.mk). SKIP
# (77) without a GPU, FAIL instead when PIPETTE_REQUIRE_GPU=1. Needs
# cuBLAS: the test creates the handle and stream a rank would have.
if HAVE_CHECK
if HAVE_CUBLAS
check_PROGRAMS += tests/test_linear_optim_cuda
TESTS += tests/test_linear_optim_cuda
tests_test_linear_optim_cuda_SOURCES = tests/test_linear_optim_cuda.c
tests_test_linear_optim_cuda_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	$(CUDA_CPPFLAGS) $(CUBLAS_CPPFLAGS)
tests_test_linear_optim_cuda_CFLAGS = $(TEST_CFLAGS)
tests_test_linear_optim_cuda_LDADD = $(TEST_LIBS) $(CUDA_LIBS) \
	$(CUBLAS_LIBS) -lm
endif
endif
