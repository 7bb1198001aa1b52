# tests/emu/local.mk - the CUDA emulator (./configure
# --enable-cuda-emulator): the CUDA runtime, cuBLAS, cuBLASLt, cuDNN and
# NCCL as pipette calls them (cuda_emu.c, cuda_emu_stream.c, blas_emu.c,
# cublas_emu.c, cublaslt_emu.c, cudnn_emu.c, nccl_emu.c; NCCL only where
# configure found nccl.h) and the kernel emulator that runs the .cu
# files' kernels on the CPU (kernel_emu.cc, with kernel_emu.h, the
# prelude every .cu file is compiled with, and cu2cc.pl, which rewrites
# kernel launches into calls). Included last from Makefile.am: the rule
# below names every plugin and program.
#
# One shared library, not a convenience library linked into each plugin:
# the cuda plugin's allocations, the layers' cuBLAS calls and the tests'
# copies must see one table of device memory and one current device per
# thread. It is never installed: an emulated build is for tests, and its
# plugins, installed (tests/install.sh) or not, find the library in this
# build tree (its -rpath). What it emulates says so: its devices are named
# "pipette CUDA emulator".
if PP_CUDA_EMULATOR
noinst_LTLIBRARIES += tests/emu/libpipette-cuda-emulator.la
tests_emu_libpipette_cuda_emulator_la_SOURCES = tests/emu/cuda_emu.c \
	tests/emu/cuda_emu_stream.c tests/emu/blas_emu.c tests/emu/blas_emu.h \
	tests/emu/cublas_emu.c tests/emu/cublaslt_emu.c tests/emu/cudnn_emu.c \
	tests/emu/cudnn_emu.h tests/emu/cudnn_graph_emu.c \
	tests/emu/cuda_emu.h tests/emu/cuda_emu_errors.h \
	tests/emu/launch_check.h
if HAVE_NCCL
tests_emu_libpipette_cuda_emulator_la_SOURCES += tests/emu/nccl_emu.c
endif
tests_emu_libpipette_cuda_emulator_la_CPPFLAGS = $(CUDA_CPPFLAGS) \
	$(NCCL_CPPFLAGS)
tests_emu_libpipette_cuda_emulator_la_LDFLAGS = -avoid-version \
	-rpath $(abs_builddir)/tests/emu/.libs -no-undefined -Wl,--no-undefined
tests_emu_libpipette_cuda_emulator_la_LIBADD = tests/emu/kernel_emu.lo \
	$(PTHREAD_LIBS) -lstdc++ -lm

# C++ through libtool's C configuration, as nvcc is: configure asks for
# no C++ support from libtool (CXX is only looked for in this mode).
# -ffp-contract=off: a kernel's a * b + c rounds twice, as nvcc builds
# pipette's kernels (--fmad=false, Makefile.am) and as the CPU halves' C
# does, so the emulator computes what the GPU computes, bit for bit, but
# for the libraries' functions (expf, tanhf) and cuBLAS's order of sums.
PP_EMU_CXX = $(CXX) -std=c++17 -ffp-contract=off $(CUDA_CPPFLAGS) \
	$(CXXFLAGS)
AM_V_CUEMU = $(am__v_CUEMU_@AM_V@)
am__v_CUEMU_ = $(am__v_CUEMU_@AM_DEFAULT_V@)
am__v_CUEMU_0 = @echo "  CUEMU   " $@;
am__v_CUEMU_1 =

tests/emu/kernel_emu.lo: tests/emu/kernel_emu.cc tests/emu/kernel_emu.h
	$(AM_V_CUEMU)$(LIBTOOL) $(AM_V_lt) --tag=CC --mode=compile \
		$(PP_EMU_CXX) -c -o $@ $<

# The .cu.lo rule's command (Makefile.am): the .cu file filtered into
# DIR/NAME.emu.cc beside its object, compiled with the prelude, the
# launch checks (launch_check.h) and the .cu file's own directory on the
# include path, as nvcc would see it.
PP_CU_EMULATE = $(MKDIR_P) $(@D) && \
	$(PERL) $(top_srcdir)/tests/emu/cu2cc.pl $< <$< >$(@:.lo=.emu.cc) && \
	$(LIBTOOL) $(AM_V_lt) --tag=CC --mode=compile $(PP_EMU_CXX) -x c++ \
		-include $(top_srcdir)/tests/emu/kernel_emu.h \
		-include $(top_srcdir)/tests/emu/launch_check.h \
		-I"$$(dirname $<)" -I$(top_srcdir)/include -I$(top_builddir) \
		$(PP_CU_DEPS) -c -o $@ $(@:.lo=.emu.cc)
# Every object from a .cu file: the rewrite is part of how it is made.
PP_CU_OBJECTS = plugins/cuda_kernels.lo plugins/optim_cuda.lo \
	layers/linear.lo $(PP_LAYER_CU:%=layers/%.lo) \
	tests/plugins/bad_grad.lo
$(PP_CU_OBJECTS): tests/emu/cu2cc.pl
CLEANFILES += $(PP_CU_OBJECTS:.lo=.emu.cc)

# The emulator's own tests: the runtime and cuBLAS on hand-worked cases
# (C), cuDNN's graph API likewise (C), NCCL on cases NCCL defines (C, where nccl.h is), and the kernel
# emulator on kernels of its own, the optimizers' and planted bugs
# (planted_bugs.cu) that its checks must catch (C++, compiled like
# kernel_emu.cc). That one gives the kernels host memory, which
# launch_check.h refuses, so it gets its own objects of those .cu files,
# compiled without it; its own cudaGetLastError takes precedence over the
# library's. The layers' kernels are tested through their plugins
# (tests/test_layers_cuda.c).
check_PROGRAMS += tests/emu/test_cuda_emu tests/emu/test_cudnn_emu \
	tests/emu/test_kernel_emu
TESTS += tests/emu/test_cuda_emu tests/emu/test_cudnn_emu \
	tests/emu/test_kernel_emu
tests_emu_test_cuda_emu_SOURCES = tests/emu/test_cuda_emu.c
tests_emu_test_cuda_emu_CPPFLAGS = $(CUDA_CPPFLAGS)
tests_emu_test_cuda_emu_LDADD = tests/emu/libpipette-cuda-emulator.la -lm
tests_emu_test_cudnn_emu_SOURCES = tests/emu/test_cudnn_emu.c
tests_emu_test_cudnn_emu_CPPFLAGS = $(CUDA_CPPFLAGS)
tests_emu_test_cudnn_emu_LDADD = tests/emu/libpipette-cuda-emulator.la -lm
PP_EMU_TEST_OBJECTS = tests/emu/test_kernel_emu.$(OBJEXT) \
	tests/emu/test_optim_kernels.$(OBJEXT) \
	tests/emu/test_planted_bugs.$(OBJEXT)
tests_emu_test_kernel_emu_SOURCES =
tests_emu_test_kernel_emu_LDADD = $(PP_EMU_TEST_OBJECTS) \
	tests/emu/libpipette-cuda-emulator.la $(PTHREAD_LIBS) -lstdc++ -lm
tests/emu/test_kernel_emu.$(OBJEXT): tests/emu/test_kernel_emu.cc \
	tests/emu/kernel_emu.h plugins/optim_cuda.h tests/emu/planted_bugs.h
	$(AM_V_CUEMU)$(PP_EMU_CXX) -c -o $@ $<
tests/emu/test_optim_kernels.$(OBJEXT): plugins/optim_cuda.cu \
	plugins/optim_cuda.h tests/emu/kernel_emu.h tests/emu/cu2cc.pl
	$(AM_V_CUEMU)$(PERL) $(top_srcdir)/tests/emu/cu2cc.pl $< <$< | \
	$(PP_EMU_CXX) -x c++ -include $(top_srcdir)/tests/emu/kernel_emu.h \
		-I$(top_srcdir)/plugins -I$(top_srcdir)/include -c -o $@ -
tests/emu/test_planted_bugs.$(OBJEXT): tests/emu/planted_bugs.cu \
	tests/emu/planted_bugs.h tests/emu/kernel_emu.h tests/emu/cu2cc.pl
	$(AM_V_CUEMU)$(PERL) $(top_srcdir)/tests/emu/cu2cc.pl $< <$< | \
	$(PP_EMU_CXX) -x c++ -include $(top_srcdir)/tests/emu/kernel_emu.h \
		-I$(top_srcdir)/tests/emu -c -o $@ -
CLEANFILES += $(PP_EMU_TEST_OBJECTS)
if HAVE_NCCL
check_PROGRAMS += tests/emu/test_nccl_emu
TESTS += tests/emu/test_nccl_emu
tests_emu_test_nccl_emu_SOURCES = tests/emu/test_nccl_emu.c
tests_emu_test_nccl_emu_CPPFLAGS = $(CUDA_CPPFLAGS) $(NCCL_CPPFLAGS)
tests_emu_test_nccl_emu_LDADD = tests/emu/libpipette-cuda-emulator.la \
	$(PTHREAD_LIBS)
endif

# test_train_cuda counts the all-reduces made (pp_emu_nccl_sums).
if HAVE_CHECK
if HAVE_CUDA
if HAVE_NCCL
tests_test_train_cuda_LDADD += tests/emu/libpipette-cuda-emulator.la
endif
endif
endif

# CUDA_LIBS names the library through a configure substitution, which
# automake cannot see: everything that links it waits for it.
$(plugin_LTLIBRARIES) $(layer_LTLIBRARIES) $(check_PROGRAMS) \
	$(noinst_PROGRAMS): tests/emu/libpipette-cuda-emulator.la
endif

# Shipped by every `make dist`, whatever it was configured with.
EXTRA_DIST += tests/emu/cuda_emu.c tests/emu/cuda_emu_stream.c \
	tests/emu/blas_emu.c tests/emu/blas_emu.h tests/emu/cublas_emu.c \
	tests/emu/cublaslt_emu.c tests/emu/nccl_emu.c \
	tests/emu/cudnn_emu.c tests/emu/cudnn_emu.h tests/emu/cudnn_graph_emu.c \
	tests/emu/cuda_emu.h tests/emu/cuda_emu_errors.h tests/emu/kernel_emu.cc tests/emu/kernel_emu.h tests/emu/cu2cc.pl \
	tests/emu/launch_check.h tests/emu/test_cuda_emu.c \
	tests/emu/test_cudnn_emu.c tests/emu/test_nccl_emu.c tests/emu/test_kernel_emu.cc \
	tests/emu/planted_bugs.cu tests/emu/planted_bugs.h
