# Tests: Check suites (tests/test_*.c), shell integration tests
# (tests/*.sh) and the deliberately broken plugins they load.

# tests/NAME.sh logs to tests/NAME.log, through one suffix rule, so that a
# rule below can add prerequisites to one test's log.
TEST_EXTENSIONS = .sh
include tests/plugins/local.mk
include tests/schedules/local.mk
include tests/config.mk
include tests/device.mk
include tests/timeline.mk
include tests/optimdata.mk
include tests/layers.mk
include tests/cudalayers.mk
include tests/cudalinear.mk
include tests/nccl.mk
include tests/mpi.mk

if HAVE_CUDA
PP_TEST_HAVE_CUDA = yes
else
PP_TEST_HAVE_CUDA = no
endif
if PP_CUDA_EMULATOR
PP_TEST_EMULATED = yes
else
PP_TEST_EMULATED = no
endif

# Tests see only the plugins they ask for: a user's PIPETTE_PLUGIN_PATH
# or PIPETTE_ALLOW_MODEL_PLUGINS must not change their outcome.
# PIPETTE_REQUIRE_GPU and PIPETTE_REQUIRE_MPI pass through.
AM_TESTS_ENVIRONMENT = \
	unset PIPETTE_PLUGIN_PATH PIPETTE_ALLOW_MODEL_PLUGINS; \
	PIPETTE='$(abs_top_builddir)/src/pipette'; export PIPETTE; \
	TEST_PLUGIN_DIR='$(abs_top_builddir)/tests/plugins/.libs'; \
	TEST_SCHEDULE_DIR='$(abs_top_builddir)/tests/schedules/.libs'; \
	TEST_TRANSPORT_DIR='$(abs_top_builddir)/tests/plugins/transports/.libs'; \
	export TEST_PLUGIN_DIR TEST_SCHEDULE_DIR TEST_TRANSPORT_DIR; \
	PP_BUILDDIR='$(abs_top_builddir)'; export PP_BUILDDIR; \
	PP_PKGLIBDIR='$(pkglibdir)'; export PP_PKGLIBDIR; \
	PP_HAVE_CUDA='$(PP_TEST_HAVE_CUDA)'; export PP_HAVE_CUDA; \
	PP_EMULATED='$(PP_TEST_EMULATED)'; export PP_EMULATED; \
	PP_HAVE_MPI='$(PP_TEST_HAVE_MPI)'; export PP_HAVE_MPI; \
	top_srcdir='$(top_srcdir)'; export top_srcdir; \
	MAKE='$(MAKE)'; export MAKE; \
	PP_BINDIR='$(bindir)' PP_LIBDIR='$(libdir)' \
	PP_INCLUDEDIR='$(includedir)' PP_PKGCONFIGDIR='$(pkgconfigdir)' \
	PP_MANDIR='$(mandir)' PP_EXAMPLEDIR='$(exampledir)' \
	PP_PKGDATADIR='$(pkgdatadir)'; \
	export PP_BINDIR PP_LIBDIR PP_INCLUDEDIR PP_PKGCONFIGDIR PP_MANDIR \
	PP_EXAMPLEDIR PP_PKGDATADIR;

if PP_SANITIZED
# configure --enable-sanitizers: a sanitizer's report ends a program with
# status 86, which no test expects (pipette's are 0, 1 and 2), so a report
# fails its test even where the test expects pipette to fail; Check's
# timeouts are stretched for the slower build. Leaks are checked
# everywhere but in the processes mpirun starts (tests/lib.sh says why).
# The user's own ASAN_OPTIONS, UBSAN_OPTIONS and TSAN_OPTIONS come after
# ours and win.
AM_TESTS_ENVIRONMENT += \
	ASAN_OPTIONS="exitcode=86:detect_leaks=1:strict_string_checks=1$${ASAN_OPTIONS:+:$$ASAN_OPTIONS}"; \
	UBSAN_OPTIONS="exitcode=86:print_stacktrace=1:halt_on_error=1$${UBSAN_OPTIONS:+:$$UBSAN_OPTIONS}"; \
	TSAN_OPTIONS="exitcode=86:halt_on_error=1$${TSAN_OPTIONS:+:$$TSAN_OPTIONS}"; \
	export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS; \
	CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-4}; \
	export CK_TIMEOUT_MULTIPLIER;
endif

TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TEST_LIBS = src/libpipette.la $(CHECK_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/test_registry
TESTS += tests/test_registry
tests_test_registry_SOURCES = tests/test_registry.c
tests_test_registry_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) \
	-DTEST_PLUGIN_DIR='"$(abs_top_builddir)/tests/plugins/.libs"'
tests_test_registry_CFLAGS = $(TEST_CFLAGS)
tests_test_registry_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/test_safetensors
TESTS += tests/test_safetensors
tests_test_safetensors_SOURCES = tests/test_safetensors.c
tests_test_safetensors_CFLAGS = $(TEST_CFLAGS)
tests_test_safetensors_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/test_train
TESTS += tests/test_train
tests_test_train_SOURCES = tests/test_train.c tests/train_models.h
tests_test_train_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_DATA_DIR='"$(abs_top_builddir)/tests/plugins/data/.libs"'
tests_test_train_CFLAGS = $(TEST_CFLAGS)
tests_test_train_LDADD = $(TEST_LIBS) -lm

if HAVE_CUDA
check_PROGRAMS += tests/test_train_cuda
TESTS += tests/test_train_cuda
tests_test_train_cuda_SOURCES = tests/test_train_cuda.c tests/train_models.h
tests_test_train_cuda_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_DATA_DIR='"$(abs_top_builddir)/tests/plugins/data/.libs"'
tests_test_train_cuda_CFLAGS = $(TEST_CFLAGS)
tests_test_train_cuda_LDADD = $(TEST_LIBS) -lm
endif

check_PROGRAMS += tests/test_runtime
TESTS += tests/test_runtime
tests_test_runtime_SOURCES = tests/test_runtime.c
tests_test_runtime_CFLAGS = $(TEST_CFLAGS)
tests_test_runtime_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/test_schedules
TESTS += tests/test_schedules
tests_test_schedules_SOURCES = tests/test_schedules.c
tests_test_schedules_CFLAGS = $(TEST_CFLAGS)
tests_test_schedules_LDADD = $(TEST_LIBS)
else
# Without Check the suites cannot be built: say so rather than pass.
TESTS += tests/no-check.sh
endif

TESTS += tests/cli.sh tests/check-corpus.sh tests/install.sh \
	tests/schedule-cli.sh tests/schedule-refusals.sh tests/train-cli.sh \
	tests/bench-gpu.sh tests/gradcheck.sh tests/random-tokens.sh \
	tests/gpt-reference.sh tests/checkpoint.sh
EXTRA_DIST += tests/gpu_skip.h tests/cli.sh tests/check-corpus.sh tests/install.sh \
	tests/schedule-cli.sh tests/schedule-refusals.sh tests/train-cli.sh \
	tests/no-check.sh tests/lib.sh tests/bench-gpu.sh tests/gradcheck.sh \
	tests/random-tokens.sh tests/gpt-reference.sh tests/gpt_reference.py \
	tests/checkpoint.sh \
	tests/gradcheck/layers.ini tests/gradcheck/mse.ini \
	tests/gradcheck/attention.ini $(CHECK_CORPUS) \
	tests/repeat/tied-residual-by-hand.ini

# pipette check on model files with mistakes: each .ini beside the
# .expected stderr it must produce.
CHECK_CORPUS = tests/check/good.ini tests/check/short.txt \
	$(CHECK_CASES:%=tests/check/%.ini) $(CHECK_CASES:%=tests/check/%.expected)
CHECK_CASES = int_input layer_keys loss_not_last manual_partition \
	missing_model no_loss pipeline stage_conflict syntax too_many_stages \
	layers_per_stage layers_per_stage_conflict layers_per_stage_syntax \
	unknown_plugins unknown_type wrong_kind inputs_unknown inputs_later \
	inputs_cycle unused two_losses add_shape share recompute_stages \
	inputs_syntax recompute_both no_backward schedule_key schedule_keys \
	devices_syntax lr_decay_typo lr_min_above lr_min_constant \
	precision_fp16 precision_layer precision_typo grad_clip_negative \
	repeat_count repeat_no_layers repeat_nested repeat_unknown_ref \
	repeat_outside_ref repeat_names repeat_copies repeat_share_input \
	data_batch data_range plugin_names plugin_name_transport \
	plugin_path_ignored
# Counts and sizes that would overflow, and lists with holes (issue 18).
CHECK_CASES += layers_per_stage_overflow recompute_stages_range \
	devices_empty steps_overflow shape_overflow size_input size_output \
	size_params size_microbatch size_sum
# What train refuses before step 1 and check once missed.
CHECK_CASES += train_momentum train_beta1 train_nesterov train_data_keys \
	train_data_missing train_data_short train_data_shape train_data_vocab \
	train_data_classes train_data_targets train_no_train train_no_data \
	train_log_dir train_several walk_stop walk_stop_type

# install.sh runs `make install`, and libtool relinks the plugins in place
# while installing them: every other test, which loads those plugins, must
# be done by then.
tests/install.log: $(TEST_LOGS:tests/install.log=)
