# Deliberately broken plugins: each is wrong in one way the loader must
# refuse. Built only for make check, never installed. Each links against
# libpipette like a real plugin; `unresolved` alone skips --no-undefined so
# that its missing symbol surfaces at dlopen.
TEST_PLUGIN_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
EXTRA_DIST += tests/plugins/broken.h

check_LTLIBRARIES += tests/plugins/good_layer.la
tests_plugins_good_layer_la_SOURCES = tests/plugins/good_layer.c
tests_plugins_good_layer_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_good_layer_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/no_descriptor.la
tests_plugins_no_descriptor_la_SOURCES = tests/plugins/no_descriptor.c
tests_plugins_no_descriptor_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_no_descriptor_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/bad_magic.la
tests_plugins_bad_magic_la_SOURCES = tests/plugins/bad_magic.c
tests_plugins_bad_magic_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_bad_magic_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/abi_major.la
tests_plugins_abi_major_la_SOURCES = tests/plugins/abi_major.c
tests_plugins_abi_major_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_abi_major_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/abi_minor.la
tests_plugins_abi_minor_la_SOURCES = tests/plugins/abi_minor.c
tests_plugins_abi_minor_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_abi_minor_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/bad_size.la
tests_plugins_bad_size_la_SOURCES = tests/plugins/bad_size.c
tests_plugins_bad_size_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_bad_size_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/bad_kind.la
tests_plugins_bad_kind_la_SOURCES = tests/plugins/bad_kind.c
tests_plugins_bad_kind_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_bad_kind_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/empty_name.la
tests_plugins_empty_name_la_SOURCES = tests/plugins/empty_name.c
tests_plugins_empty_name_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_empty_name_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/misnamed.la
tests_plugins_misnamed_la_SOURCES = tests/plugins/misnamed.c
tests_plugins_misnamed_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_misnamed_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/no_ops.la
tests_plugins_no_ops_la_SOURCES = tests/plugins/no_ops.c
tests_plugins_no_ops_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_no_ops_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/a_schedule.la
tests_plugins_a_schedule_la_SOURCES = tests/plugins/a_schedule.c
tests_plugins_a_schedule_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_a_schedule_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/unresolved.la
tests_plugins_unresolved_la_SOURCES = tests/plugins/unresolved.c
tests_plugins_unresolved_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_unresolved_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/wild_ids.la
tests_plugins_wild_ids_la_SOURCES = tests/plugins/wild_ids.c
tests_plugins_wild_ids_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_wild_ids_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/plugins/no_create_job.la
tests_plugins_no_create_job_la_SOURCES = tests/plugins/no_create_job.c
tests_plugins_no_create_job_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_no_create_job_la_LIBADD = src/libpipette.la

# The local transport with a check that fails, named local.so in a
# directory of its own (a plugin's file is its name).
check_LTLIBRARIES += tests/plugins/checkfail/local.la
tests_plugins_checkfail_local_la_SOURCES = tests/plugins/forward_local.c
tests_plugins_checkfail_local_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DREAL_LOCAL='"$(abs_top_builddir)/plugins/.libs/local.so"'
tests_plugins_checkfail_local_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_checkfail_local_la_LIBADD = src/libpipette.la

# A data source with float targets, for training mse (test_train_cuda),
# in a directory of its own: the plugins above are counted.
check_LTLIBRARIES += tests/plugins/data/id_rows.la
tests_plugins_data_id_rows_la_SOURCES = tests/plugins/id_rows.c
tests_plugins_data_id_rows_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_data_id_rows_la_LIBADD = src/libpipette.la -lm

check_LTLIBRARIES += tests/plugins/data/spiky.la
tests_plugins_data_spiky_la_SOURCES = tests/plugins/spiky.c
tests_plugins_data_spiky_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_data_spiky_la_LIBADD = src/libpipette.la -lm

# Transports pipette was not written for, built against the installed
# headers alone, in a directory of their own: courier, cheaper than
# local (auto takes it where the directory is on the path), and faraway,
# the same connecting only ranks of different processes.
check_LTLIBRARIES += tests/plugins/transports/courier.la \
	tests/plugins/transports/faraway.la
tests_plugins_transports_courier_la_SOURCES = tests/plugins/courier.c
tests_plugins_transports_courier_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) \
	-DCOURIER_NAME='"courier"' -DCOURIER_REACH=PP_REACH_THREADS
tests_plugins_transports_courier_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_transports_courier_la_LIBADD = src/libpipette.la $(PTHREAD_LIBS)
tests_plugins_transports_faraway_la_SOURCES = tests/plugins/courier.c
tests_plugins_transports_faraway_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) \
	-DCOURIER_NAME='"faraway"' -DCOURIER_REACH=PP_REACH_PROCESSES
tests_plugins_transports_faraway_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_transports_faraway_la_LIBADD = src/libpipette.la $(PTHREAD_LIBS)

# A layer plugin built for ABI 1.3, before the graph: refused.
check_LTLIBRARIES += tests/plugins/abi1_layer.la
tests_plugins_abi1_layer_la_SOURCES = tests/plugins/abi1_layer.c
tests_plugins_abi1_layer_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_abi1_layer_la_LIBADD = src/libpipette.la

# A layer that keeps state across calls and uses a workspace.
check_LTLIBRARIES += tests/plugins/stateful.la
tests_plugins_stateful_la_SOURCES = tests/plugins/stateful.c
tests_plugins_stateful_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_stateful_la_LIBADD = src/libpipette.la

# A layer without backward_input: refused where its input has a gradient.
check_LTLIBRARIES += tests/plugins/no_backward.la
tests_plugins_no_backward_la_SOURCES = tests/plugins/no_backward.c
tests_plugins_no_backward_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_no_backward_la_LIBADD = src/libpipette.la

# A layer whose bf16 path alone may be wrong, for gradcheck.sh.
check_LTLIBRARIES += tests/plugins/bad_bf16.la
tests_plugins_bad_bf16_la_SOURCES = tests/plugins/bad_bf16.c
tests_plugins_bad_bf16_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_bad_bf16_la_LIBADD = src/libpipette.la

# A layer with a planted mistake for `pipette gradcheck` (gradcheck.sh).
check_LTLIBRARIES += tests/plugins/bad_grad.la
tests_plugins_bad_grad_la_SOURCES = tests/plugins/bad_grad.c \
	tests/plugins/bad_grad.h
tests_plugins_bad_grad_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(CUDA_CPPFLAGS)
tests_plugins_bad_grad_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_bad_grad_la_LIBADD = src/libpipette.la $(CUDA_LIBS)
if HAVE_CUDA
tests_plugins_bad_grad_la_SOURCES += tests/plugins/bad_grad.cu
endif
@am__include@ @am__quote@tests/plugins/$(DEPDIR)/bad_grad.Pcu@am__quote@ # am--include-marker
PP_CU_DEPFILES += tests/plugins/$(DEPDIR)/bad_grad.Pcu
EXTRA_DIST += tests/plugins/bad_grad.cu

check_LTLIBRARIES += tests/plugins/olddev.la
tests_plugins_olddev_la_SOURCES = tests/plugins/olddev.c
tests_plugins_olddev_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_olddev_la_LIBADD = src/libpipette.la

# Plugins that say they were opened (marker.c), each in a directory of
# its own, never on a test's path unless it asks: evil, which a name
# that is a path must not reach, and a linear that a model folder
# brings.
check_LTLIBRARIES += tests/plugins/evil/evil.la tests/plugins/model/linear.la
tests_plugins_evil_evil_la_SOURCES = tests/plugins/marker.c
tests_plugins_evil_evil_la_CPPFLAGS = $(AM_CPPFLAGS) -DMARKER_NAME='"evil"'
tests_plugins_evil_evil_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_evil_evil_la_LIBADD = src/libpipette.la
tests_plugins_model_linear_la_SOURCES = tests/plugins/marker.c
tests_plugins_model_linear_la_CPPFLAGS = $(AM_CPPFLAGS) -DMARKER_NAME='"linear"'
tests_plugins_model_linear_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_model_linear_la_LIBADD = src/libpipette.la

# A GPU that is never there (nogpu.c), in a directory of its own: the
# plugins above are counted.
check_LTLIBRARIES += tests/plugins/devices/nogpu.la
tests_plugins_devices_nogpu_la_SOURCES = tests/plugins/nogpu.c
tests_plugins_devices_nogpu_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_plugins_devices_nogpu_la_LIBADD = src/libpipette.la
