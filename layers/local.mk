layer_LTLIBRARIES += layers/linear.la layers/relu.la layers/softmax_xent.la

layers_linear_la_SOURCES = layers/linear.c
layers_linear_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_linear_la_LIBADD = $(PLUGIN_LIBADD) -lm

layers_relu_la_SOURCES = layers/relu.c
layers_relu_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_relu_la_LIBADD = $(PLUGIN_LIBADD)

layers_softmax_xent_la_SOURCES = layers/softmax_xent.c
layers_softmax_xent_la_LDFLAGS = $(PLUGIN_LDFLAGS)
layers_softmax_xent_la_LIBADD = $(PLUGIN_LIBADD)
