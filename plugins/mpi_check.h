/* plugins/mpi_check.h - the one check of MPI's return codes, shared by
 * the MPI plugins (mpi-job.c, mpi.c): the call, MPI's own words for the
 * failure, and where.
 *
 *   if (PP_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm), err))
 *       return err->code;
 *
 * MPI reports errors this way only on a communicator whose error handler
 * is MPI_ERRORS_RETURN; the default ends the job instead.
 */
#ifndef PP_PLUGINS_MPI_CHECK_H
#define PP_PLUGINS_MPI_CHECK_H

#include <mpi.h>
#include <sched.h>
#include <time.h>

#include <pipette/error.h>

static inline pp_status pp_mpi_result(int rc, const char *call,
                                      const char *file, int line,
                                      pp_error *err)
{
    if (rc == MPI_SUCCESS)
        return PP_OK;
    char text[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len] = '\0';
    return pp_error_set(err, PP_ERR_RUNTIME, "%s: %s (MPI error %d) [%s:%d]",
                        call, len ? text : "no text from MPI", rc, file,
                        line);
}
#define PP_MPI_CHECK(call, err)                                             \
    pp_mpi_result((call), #call, __FILE__, __LINE__, (err))

/* Between two polls of a wait that has lasted waited_ms: for the first
 * PP_MPI_SPIN_MS only a yield of the core (a message arrives within
 * microseconds, and a rank's core has nothing else to do), then sleeps
 * that double from 1 us to 1 ms (*pause_us), so a long wait costs no
 * core. */
#define PP_MPI_SPIN_MS 20
static inline void pp_mpi_pause(long waited_ms, long *pause_us)
{
    if (waited_ms < PP_MPI_SPIN_MS) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, *pause_us * 1000L};
    nanosleep(&ts, NULL);
    *pause_us = *pause_us * 2 < 1000 ? *pause_us * 2 : 1000;
}

#endif
