# plugins/nccl.mk - the nccl transport (included from plugins/local.mk).
#
# Built only where configure found both CUDA and NCCL (HAVE_NCCL implies
# HAVE_CUDA; both are named so the rule says what it needs), but shipped
# by every `make dist`, with or without them.
if HAVE_CUDA
if HAVE_NCCL
plugin_LTLIBRARIES += plugins/nccl.la
plugins_nccl_la_SOURCES = plugins/nccl.c plugins/nccl_watch.c \
	plugins/nccl_route.h plugins/deadline.h
plugins_nccl_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(CUDA_CPPFLAGS) $(NCCL_CPPFLAGS)
plugins_nccl_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_nccl_la_LIBADD = $(PLUGIN_LIBADD) $(CUDA_LIBS) $(NCCL_LIBS) \
	$(PTHREAD_LIBS)
endif
endif
EXTRA_DIST += plugins/nccl.c plugins/nccl_watch.c plugins/nccl_route.h
