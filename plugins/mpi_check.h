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

#endif
