# layers/: the layer plugins, one module each: NAME.c (the plan and the
# CPU half) and, built where CUDA is, NAME.cu (the CUDA half), with a
# NAME.h where the two halves share a definition. CUDA_CPPFLAGS is empty
# without CUDA, so the plugins' C flags need no condition.
layer_LTLIBRARIES += layers/linear.la layers/relu.la layers/softmax_xent.la \
	layers/embedding.la layers/gelu.la layers/tanh.la layers/layernorm.la \
	layers/dropout.la layers/mse.la layers/add.la layers/concat.la \
	layers/attention.la

LAYER_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(CUDA_CPPFLAGS)
LAYER_LIBADD = $(PLUGIN_LIBADD) $(CUDA_LIBS) -lm

layers_linear_la_SOURCES = layers/linear.c layers/linear.h layers/matmul.h \
	layers/gelu.h \
	layers/f32view.h
layers_relu_la_SOURCES = layers/relu.c layers/elementwise.h layers/simd.h
layers_softmax_xent_la_SOURCES = layers/softmax_xent.c
layers_embedding_la_SOURCES = layers/embedding.c
layers_gelu_la_SOURCES = layers/gelu.c layers/gelu.h layers/elementwise.h \
	layers/simd.h
layers_tanh_la_SOURCES = layers/tanh.c layers/elementwise.h layers/simd.h
layers_layernorm_la_SOURCES = layers/layernorm.c layers/layernorm.h \
	layers/simd.h
layers_dropout_la_SOURCES = layers/dropout.c layers/dropout.h
layers_mse_la_SOURCES = layers/mse.c
layers_add_la_SOURCES = layers/add.c
layers_concat_la_SOURCES = layers/concat.c
layers_attention_la_SOURCES = layers/attention.c layers/attention.h \
	layers/f32view.h

# The CUDA halves. Each .cu goes through the .cu.lo rule (Makefile.am),
# which writes its dependencies to layers/.deps/NAME.Pcu; linear's needs
# cuBLASLt, hence its own rule and libraries, and attention's cuDNN
# where configure found it (its fused attention; without, the .cu has
# its own kernels only).
PP_LAYER_CU = relu softmax_xent embedding gelu tanh layernorm dropout mse \
	add concat attention
if HAVE_CUDA
layers_relu_la_SOURCES += layers/relu.cu
layers_softmax_xent_la_SOURCES += layers/softmax_xent.cu
layers_embedding_la_SOURCES += layers/embedding.cu
layers_gelu_la_SOURCES += layers/gelu.cu
layers_tanh_la_SOURCES += layers/tanh.cu
layers_layernorm_la_SOURCES += layers/layernorm.cu
layers_dropout_la_SOURCES += layers/dropout.cu
layers_mse_la_SOURCES += layers/mse.cu
layers_add_la_SOURCES += layers/add.cu
layers_concat_la_SOURCES += layers/concat.cu
layers_attention_la_SOURCES += layers/attention.cu
endif
if HAVE_CUDNN
layers/attention.lo: layers/attention.cu
	$(AM_V_NVCC)$(PP_CU_COMPILE) $(CUDNN_CPPFLAGS)
endif
if HAVE_CUBLASLT
layers_linear_la_SOURCES += layers/linear.cu
layers/linear.lo: layers/linear.cu
	$(AM_V_NVCC)$(PP_CU_COMPILE) $(CUBLASLT_CPPFLAGS)
endif
@am__include@ @am__quote@layers/$(DEPDIR)/linear.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/relu.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/softmax_xent.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/embedding.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/gelu.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/tanh.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/layernorm.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/dropout.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/mse.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/add.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/concat.Pcu@am__quote@ # am--include-marker
@am__include@ @am__quote@layers/$(DEPDIR)/attention.Pcu@am__quote@ # am--include-marker
PP_CU_DEPFILES += layers/$(DEPDIR)/linear.Pcu \
	$(PP_LAYER_CU:%=layers/$(DEPDIR)/%.Pcu)
# Shipped even by a `make dist` configured without CUDA, with packed.h,
# which only the .cu files include.
EXTRA_DIST += layers/linear.cu $(PP_LAYER_CU:%=layers/%.cu) layers/packed.h

# linear's CPU products are a CBLAS's where configure found one (empty
# flags otherwise); no other module links it.
layers_linear_la_CPPFLAGS = $(LAYER_CPPFLAGS) $(CUBLASLT_CPPFLAGS) \
	$(CBLAS_CPPFLAGS)
layers_linear_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_linear_la_LIBADD = $(LAYER_LIBADD) $(CUBLASLT_LIBS) $(CBLAS_LIBS)
layers_relu_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_relu_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_relu_la_LIBADD = $(LAYER_LIBADD)
layers_softmax_xent_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_softmax_xent_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_softmax_xent_la_LIBADD = $(LAYER_LIBADD)
layers_embedding_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_embedding_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_embedding_la_LIBADD = $(LAYER_LIBADD)
layers_gelu_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_gelu_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_gelu_la_LIBADD = $(LAYER_LIBADD)
layers_tanh_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_tanh_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_tanh_la_LIBADD = $(LAYER_LIBADD)
layers_layernorm_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_layernorm_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_layernorm_la_LIBADD = $(LAYER_LIBADD)
layers_dropout_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_dropout_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_dropout_la_LIBADD = $(LAYER_LIBADD)
layers_mse_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_mse_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_mse_la_LIBADD = $(LAYER_LIBADD)
layers_add_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_add_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_add_la_LIBADD = $(LAYER_LIBADD)
layers_concat_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_concat_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_concat_la_LIBADD = $(LAYER_LIBADD)
layers_attention_la_CPPFLAGS = $(LAYER_CPPFLAGS)
layers_attention_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_attention_la_LIBADD = $(LAYER_LIBADD) $(CUDNN_LIBS)
