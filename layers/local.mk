# layers/: the layer plugins, one module each.
#
# Their CUDA halves call the kernels in cuda_kernels.cu, built once into a
# convenience library and linked into each plugin that has one. The .cu
# goes through the .cu.lo rule in Makefile.am, which knows neither
# per-target flags nor dependency tracking: hence the explicit header
# dependency. CUDA_CPPFLAGS is empty without CUDA, so the plugins' C
# flags need no condition.
layer_LTLIBRARIES += layers/linear.la layers/relu.la layers/softmax_xent.la \
	layers/embedding.la layers/gelu.la layers/tanh.la layers/layernorm.la \
	layers/dropout.la layers/mse.la layers/add.la layers/concat.la

LAYER_CPPFLAGS = $(AM_CPPFLAGS) $(CUDA_CPPFLAGS)

if HAVE_CUDA
noinst_LTLIBRARIES += layers/libppcuda.la
layers_libppcuda_la_SOURCES = layers/cuda_kernels.cu layers/cuda_kernels.h
layers/cuda_kernels.lo: layers/cuda_kernels.h
LAYER_CUDA_LIBADD = layers/libppcuda.la $(CUDA_LIBS)
else
LAYER_CUDA_LIBADD =
endif
# Shipped even by a `make dist` configured without CUDA.
EXTRA_DIST += layers/cuda_kernels.cu layers/cuda_kernels.h

layers_linear_la_SOURCES = layers/linear.c layers/matmul.h
layers_linear_la_CPPFLAGS = $(LAYER_CPPFLAGS) $(CUBLAS_CPPFLAGS)
layers_linear_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_linear_la_LIBADD = $(PLUGIN_LIBADD) -lm
if HAVE_CUBLAS
layers_linear_la_LIBADD += layers/libppcuda.la $(CUDA_LIBS) $(CUBLAS_LIBS)
endif

layers_relu_la_SOURCES = layers/relu.c layers/elementwise.h
layers_relu_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_relu_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_relu_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD)

layers_softmax_xent_la_SOURCES = layers/softmax_xent.c
layers_softmax_xent_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_softmax_xent_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_softmax_xent_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD) -lm

layers_embedding_la_SOURCES = layers/embedding.c
layers_embedding_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_embedding_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_embedding_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD) -lm

layers_gelu_la_SOURCES = layers/gelu.c layers/elementwise.h
layers_gelu_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_gelu_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_gelu_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD) -lm

layers_tanh_la_SOURCES = layers/tanh.c layers/elementwise.h
layers_tanh_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_tanh_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_tanh_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD) -lm

layers_layernorm_la_SOURCES = layers/layernorm.c
layers_layernorm_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_layernorm_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_layernorm_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD) -lm

layers_dropout_la_SOURCES = layers/dropout.c
layers_dropout_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_dropout_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_dropout_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD)

layers_add_la_SOURCES = layers/add.c
layers_add_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_add_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_add_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD)

layers_concat_la_SOURCES = layers/concat.c
layers_concat_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_concat_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_concat_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD)

layers_mse_la_SOURCES = layers/mse.c
layers_mse_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_mse_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_mse_la_LIBADD = $(PLUGIN_LIBADD) $(LAYER_CUDA_LIBADD)
