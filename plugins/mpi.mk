# plugins/mpi.mk - the MPI plugins (included from plugins/local.mk): the
# mpi-job job plugin and the mpi transport.
#
# Built only where configure found MPI, and only they link it: libpipette
# never does. Shipped by every `make dist`, with or without MPI.
if HAVE_MPI
plugin_LTLIBRARIES += plugins/mpi-job.la plugins/mpi.la
plugins_mpi_job_la_SOURCES = plugins/mpi-job.c plugins/mpi_check.h
plugins_mpi_job_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(MPI_CFLAGS)
plugins_mpi_job_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_mpi_job_la_LIBADD = $(PLUGIN_LIBADD) $(MPI_LIBS)
plugins_mpi_la_SOURCES = plugins/mpi.c plugins/mpi_check.h
plugins_mpi_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(MPI_CFLAGS)
plugins_mpi_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_mpi_la_LIBADD = $(PLUGIN_LIBADD) $(MPI_LIBS) $(PTHREAD_LIBS)
endif
EXTRA_DIST += plugins/mpi-job.c plugins/mpi.c plugins/mpi_check.h
