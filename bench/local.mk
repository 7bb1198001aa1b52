# Benchmark programs: built with the rest, run by the bench/ scripts.
if HAVE_CUBLAS
noinst_PROGRAMS += bench/linear_gpu
bench_linear_gpu_SOURCES = bench/linear_gpu.c
bench_linear_gpu_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	$(CUDA_CPPFLAGS) $(CUBLAS_CPPFLAGS)
bench_linear_gpu_LDADD = src/libpipette.la $(CUDA_LIBS) $(CUBLAS_LIBS)
endif
EXTRA_DIST += bench/linear_gpu.c bench/schedules.sh bench/cpu-pipeline.sh \
	bench/gpu.sh
