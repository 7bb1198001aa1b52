# plugins/: device, transport, optimizer, data and job plugins.

# The cuda device. Its .cu goes through the .cu.lo rule in Makefile.am,
# which writes the object's dependencies to plugins/.deps/NAME.Pcu.
if HAVE_CUDA
plugin_LTLIBRARIES += plugins/cuda.la
plugins_cuda_la_SOURCES = plugins/cuda.c plugins/cuda_kernels.cu \
	plugins/cuda_kernels.h
plugins_cuda_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(CUDA_CPPFLAGS) \
	$(CUBLAS_CPPFLAGS) $(CUDNN_CPPFLAGS) $(NCCL_CPPFLAGS)
plugins_cuda_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_cuda_la_LIBADD = $(PLUGIN_LIBADD) $(CUDA_LIBS) $(CUBLAS_LIBS) \
	$(CUDNN_LIBS) $(NCCL_LIBS)
endif
@am__include@ @am__quote@plugins/$(DEPDIR)/cuda_kernels.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@plugins/$(DEPDIR)/optim_cuda.Pcu@am__quote@ # am--include-marker
PP_CU_DEPFILES += plugins/$(DEPDIR)/cuda_kernels.Pcu \
	plugins/$(DEPDIR)/optim_cuda.Pcu
# Shipped even by a `make dist` configured without CUDA.
EXTRA_DIST += plugins/cuda.c plugins/cuda_kernels.cu plugins/cuda_kernels.h

# The local transport: ranks as threads of one process.
plugin_LTLIBRARIES += plugins/local.la
plugins_local_la_SOURCES = plugins/local.c plugins/deadline.h
plugins_local_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_local_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_local_la_LIBADD = $(PLUGIN_LIBADD) $(PTHREAD_LIBS)

# The peer transport: device-to-device copies between ranks of one
# process, written against the device table (so built and tested
# everywhere, with the cpu device where there is no GPU).
plugin_LTLIBRARIES += plugins/peer.la
plugins_peer_la_SOURCES = plugins/peer.c plugins/deadline.h
plugins_peer_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_peer_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_peer_la_LIBADD = $(PLUGIN_LIBADD) $(PTHREAD_LIBS)

# Optimizers and data sources, built everywhere. text and tokens share
# corpus.c (reading a file, drawing windows).
plugin_LTLIBRARIES += plugins/sgd.la plugins/adamw.la plugins/synthetic.la \
	plugins/text.la plugins/tokens.la
plugins_sgd_la_SOURCES = plugins/sgd.c
plugins_sgd_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(CUDA_CPPFLAGS)
plugins_sgd_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_sgd_la_LIBADD = $(PLUGIN_LIBADD)
plugins_adamw_la_SOURCES = plugins/adamw.c
plugins_adamw_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(CUDA_CPPFLAGS)
plugins_adamw_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_adamw_la_LIBADD = $(PLUGIN_LIBADD) -lm
# With CUDA both optimizers get their fused kernels from one .cu, compiled
# once into a convenience library and linked whole into each;
# --no-undefined and the export regex still hold for each plugin.
if HAVE_CUDA
noinst_LTLIBRARIES += plugins/liboptimcuda.la
plugins_liboptimcuda_la_SOURCES = plugins/optim_cuda.cu plugins/optim_cuda.h
plugins_sgd_la_LIBADD += plugins/liboptimcuda.la $(CUDA_LIBS)
plugins_adamw_la_LIBADD += plugins/liboptimcuda.la $(CUDA_LIBS)
endif
EXTRA_DIST += plugins/optim_cuda.cu plugins/optim_cuda.h
plugins_synthetic_la_SOURCES = plugins/synthetic.c plugins/counter_rng.h
plugins_synthetic_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_synthetic_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_synthetic_la_LIBADD = $(PLUGIN_LIBADD) -lm
plugins_text_la_SOURCES = plugins/text.c plugins/corpus.c plugins/corpus.h \
	plugins/counter_rng.h
plugins_text_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_text_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_text_la_LIBADD = $(PLUGIN_LIBADD)
plugins_tokens_la_SOURCES = plugins/tokens.c plugins/corpus.c \
	plugins/corpus.h plugins/counter_rng.h
plugins_tokens_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_tokens_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_tokens_la_LIBADD = $(PLUGIN_LIBADD)

include plugins/nccl.mk
include plugins/mpi.mk
