# tests/mpi.mk - the MPI plugins under mpirun (included from
# tests/local.mk). tests/mpi.sh runs tests/mpi_probe, which links
# libpipette alone, as pipette does: only the plugins link MPI. Without
# MPI the probe is not built and mpi.sh skips (77).
if HAVE_MPI
check_PROGRAMS += tests/mpi_probe
tests_mpi_probe_SOURCES = tests/mpi_probe.c
tests_mpi_probe_LDADD = src/libpipette.la $(PTHREAD_LIBS)
PP_TEST_HAVE_MPI = yes
else
PP_TEST_HAVE_MPI = no
endif
TESTS += tests/mpi.sh tests/mpi-train.sh
EXTRA_DIST += tests/mpi.sh tests/mpi_probe.c tests/mpi-train.sh
