lib_LTLIBRARIES += src/libpipette.la
src_libpipette_la_SOURCES = \
	src/error.c \
	src/version.c \
	src/shape.c \
	src/plugin_plan.h src/plugin_plan.c \
	src/config_file.h src/config_file.c \
	src/input_file.h src/input_file.c \
	src/config_keys.c src/repeat.c \
	src/did_you_mean.c \
	src/registry.h src/registry.c src/plugin_file.c src/plugin_tables.c \
	src/model.h src/model.c src/graph.c src/pipeline.c src/job.h src/job.c \
	src/device_cpu.c \
	src/plan.h src/plan.c src/plan_file.c src/plan_load.c \
	src/verify.c src/lower.c src/simulate.c src/memplan.h src/memplan.c \
	src/timeline.h src/timeline_grid.c src/timeline_chrome.c \
	src/timeline_svg.c src/timeline_json.c \
	src/partition.c src/preflight.h src/preflight.c src/runtime.h src/runtime_impl.h src/runtime.c \
	src/runtime_run.c src/runtime_report.c src/runtime_transport.c \
	src/runtime_layout.c src/runtime_params.c src/runtime_tasks.c \
	src/runtime_memory.c src/routes.h src/routes.c src/data_ring.h \
	src/data_ring.c src/crc32c.h src/crc32c.c src/safetensors.h \
	src/safetensors.c src/checkpoint.h src/checkpoint.c \
	src/runtime_checkpoint.c
src_libpipette_la_CPPFLAGS = $(AM_CPPFLAGS) $(INIH_CFLAGS) \
	-DPP_PKGLIBDIR='"$(pkglibdir)"' -DPP_BUILDDIR='"$(abs_top_builddir)"'
src_libpipette_la_LIBADD = $(INIH_LIBS) $(PTHREAD_LIBS) -lm
src_libpipette_la_LDFLAGS = -version-info 3:0:2 -no-undefined -Wl,--no-undefined

pkginclude_HEADERS += \
	include/pipette/pipette.h \
	include/pipette/error.h \
	include/pipette/config.h \
	include/pipette/plugin.h \
	include/pipette/device.h \
	include/pipette/tensor.h \
	include/pipette/bf16.h \
	include/pipette/layer.h \
	include/pipette/schedule.h \
	include/pipette/optimizer.h \
	include/pipette/data.h \
	include/pipette/transport.h \
	include/pipette/job.h \
	include/pipette/cuda.h

bin_PROGRAMS += src/pipette
src_pipette_SOURCES = \
	src/main.c src/cmd.h \
	src/cmd_plugins.c \
	src/cmd_check.c \
	src/cmd_devices.c \
	src/cmd_schedule.c \
	src/cmd_train.c \
	src/cmd_eval.c \
	src/cmd_gradcheck.c src/gradcheck.h src/gradcheck.c \
	src/cmd_checkpoint.c
src_pipette_CPPFLAGS = $(AM_CPPFLAGS) -DPP_PKGLIBDIR='"$(pkglibdir)"'
src_pipette_LDADD = src/libpipette.la -lm
# Find the installed libpipette even where $(libdir) is on the loader's
# path but its cache has not been refreshed (ldconfig) since make install.
src_pipette_LDFLAGS = -Wl,-rpath,$(libdir)
