# tests/device.mk - the device tests (included from tests/local.mk).
#
# test_device_cpu: the built-in cpu device, everywhere.
# test_cuda_plugin: the cuda plugin without a GPU (loads, versions, "no GPU"
#   answers); never skips, so it fails on a CUDA build whose plugin is broken.
# test_device_cuda: kernels against the cpu device; SKIP (77) without a GPU,
#   FAIL instead when PIPETTE_REQUIRE_GPU=1.
if HAVE_CHECK
check_PROGRAMS += tests/test_device_cpu
TESTS += tests/test_device_cpu
tests_test_device_cpu_SOURCES = tests/test_device_cpu.c
tests_test_device_cpu_CFLAGS = $(TEST_CFLAGS)
tests_test_device_cpu_LDADD = $(TEST_LIBS)

if HAVE_CUDA
check_PROGRAMS += tests/test_cuda_plugin tests/test_device_cuda
TESTS += tests/test_cuda_plugin tests/test_device_cuda
# Headers only (version macros), never CUDA libraries: the plugin is the
# one thing that links them.
tests_test_cuda_plugin_SOURCES = tests/test_cuda_plugin.c
tests_test_cuda_plugin_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	$(CUDA_CPPFLAGS) $(CUDNN_CPPFLAGS) $(NCCL_CPPFLAGS)
tests_test_cuda_plugin_CFLAGS = $(TEST_CFLAGS)
tests_test_cuda_plugin_LDADD = $(TEST_LIBS)
tests_test_device_cuda_SOURCES = tests/test_device_cuda.c
tests_test_device_cuda_CFLAGS = $(TEST_CFLAGS)
tests_test_device_cuda_LDADD = $(TEST_LIBS)
endif
endif
