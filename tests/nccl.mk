# tests/nccl.mk - the nccl transport tests (included from tests/local.mk).
#
# test_nccl_plugin: the plugin as any CUDA+NCCL build sees it (loads, the
#   stream-ordered half only, refuses two linked ranks on one GPU before
#   touching CUDA); never skips.
# test_nccl_cuda: messages and sums through real communicators, in one
#   process and across "processes" played by threads (open_job with a fake
#   allgather); SKIP (77) without a GPU, FAIL instead when
#   PIPETTE_REQUIRE_GPU=1.
# Neither links CUDA or NCCL: the plugins are the only things that do.
if HAVE_CHECK
if HAVE_NCCL
check_PROGRAMS += tests/test_nccl_plugin tests/test_nccl_cuda
TESTS += tests/test_nccl_plugin tests/test_nccl_cuda
tests_test_nccl_plugin_SOURCES = tests/test_nccl_plugin.c
tests_test_nccl_plugin_CFLAGS = $(TEST_CFLAGS)
tests_test_nccl_plugin_LDADD = $(TEST_LIBS)
tests_test_nccl_cuda_SOURCES = tests/test_nccl_cuda.c
tests_test_nccl_cuda_CFLAGS = $(TEST_CFLAGS)
tests_test_nccl_cuda_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
endif
endif
# Shipped even by a `make dist` configured without NCCL or Check.
EXTRA_DIST += tests/test_nccl_plugin.c tests/test_nccl_cuda.c
