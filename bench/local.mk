# Benchmark programs: built with the rest, run by the bench/ scripts.
# linear's activation = gelu against linear + gelu, on the CPU.
noinst_PROGRAMS += bench/linear_gelu_cpu
bench_linear_gelu_cpu_SOURCES = bench/linear_gelu_cpu.c
bench_linear_gelu_cpu_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)
bench_linear_gelu_cpu_LDADD = src/libpipette.la
if HAVE_CUBLASLT
noinst_PROGRAMS += bench/linear_gpu
bench_linear_gpu_SOURCES = bench/linear_gpu.c
bench_linear_gpu_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	$(CUDA_CPPFLAGS) $(CUBLASLT_CPPFLAGS)
bench_linear_gpu_LDADD = src/libpipette.la $(CUDA_LIBS) $(CUBLASLT_LIBS) -lm
endif
# The transports through their plugins; the CUDA runtime only for events
# and the bare copy (NCCL, when there, is the nccl plugin's business).
if HAVE_CUDA
noinst_PROGRAMS += bench/transfer_gpu
bench_transfer_gpu_SOURCES = bench/transfer_gpu.c
bench_transfer_gpu_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	$(CUDA_CPPFLAGS)
bench_transfer_gpu_LDADD = src/libpipette.la $(CUDA_LIBS) $(PTHREAD_LIBS)
endif
EXTRA_DIST += bench/linear_gpu.c bench/transfer_gpu.c bench/schedules.sh \
	bench/cpu-pipeline.sh bench/data-parallel.sh bench/gpt2-estimate.sh \
	bench/gpu.sh bench/gpu-mlp.ini \
	bench/gpu-char.ini bench/torch_reference.py bench/cpu-torch.sh
