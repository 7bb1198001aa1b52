lib_LTLIBRARIES += core/libpipette.la
core_libpipette_la_SOURCES = \
	core/error.c \
	core/version.c \
	core/shape.c \
	core/config_file.h core/config_file.c \
	core/config_keys.c \
	core/did_you_mean.c \
	core/registry.h core/registry.c \
	core/model.h core/model.c \
	core/device_cpu.c
core_libpipette_la_CPPFLAGS = $(AM_CPPFLAGS) $(INIH_CFLAGS) \
	-DPP_PKGLIBDIR='"$(pkglibdir)"' -DPP_BUILDDIR='"$(abs_top_builddir)"'
core_libpipette_la_LIBADD = $(INIH_LIBS) $(PTHREAD_LIBS)
core_libpipette_la_LDFLAGS = -version-info 0:0:0 -no-undefined

pkginclude_HEADERS += \
	include/pipette/pipette.h \
	include/pipette/error.h \
	include/pipette/config.h \
	include/pipette/plugin.h \
	include/pipette/device.h \
	include/pipette/layer.h

bin_PROGRAMS += core/pipette
core_pipette_SOURCES = \
	core/main.c core/cmd.h \
	core/cmd_plugins.c \
	core/cmd_check.c \
	core/cmd_devices.c
core_pipette_CPPFLAGS = $(AM_CPPFLAGS) -DPP_PKGLIBDIR='"$(pkglibdir)"'
core_pipette_LDADD = core/libpipette.la
