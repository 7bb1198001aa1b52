layer_LTLIBRARIES += layers/linear.la layers/relu.la layers/softmax_xent.la \
	layers/embedding.la layers/gelu.la layers/tanh.la layers/layernorm.la \
	layers/dropout.la layers/mse.la

layers_linear_la_SOURCES = layers/linear.c layers/matmul.h
layers_linear_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_linear_la_LIBADD = $(PLUGIN_LIBADD) -lm

layers_relu_la_SOURCES = layers/relu.c
layers_relu_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_relu_la_LIBADD = $(PLUGIN_LIBADD)

layers_softmax_xent_la_SOURCES = layers/softmax_xent.c
layers_softmax_xent_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_softmax_xent_la_LIBADD = $(PLUGIN_LIBADD) -lm

layers_embedding_la_SOURCES = layers/embedding.c
layers_embedding_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_embedding_la_LIBADD = $(PLUGIN_LIBADD)

layers_gelu_la_SOURCES = layers/gelu.c
layers_gelu_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_gelu_la_LIBADD = $(PLUGIN_LIBADD) -lm

layers_tanh_la_SOURCES = layers/tanh.c
layers_tanh_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_tanh_la_LIBADD = $(PLUGIN_LIBADD) -lm

layers_layernorm_la_SOURCES = layers/layernorm.c
layers_layernorm_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_layernorm_la_LIBADD = $(PLUGIN_LIBADD) -lm

layers_dropout_la_SOURCES = layers/dropout.c
layers_dropout_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_dropout_la_LIBADD = $(PLUGIN_LIBADD)

layers_mse_la_SOURCES = layers/mse.c
layers_mse_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_mse_la_LIBADD = $(PLUGIN_LIBADD)
