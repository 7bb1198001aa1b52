/* plugins/mpi-job.c - the `mpi-job` job plugin: a run's processes as the
 * processes of an MPI job (mpirun, srun, MPICH's hydra).
 *
 * It joins the job with MPI_THREAD_MULTIPLE, numbers the nodes by each
 * node's lowest process, and gathers bytes over MPI_COMM_WORLD, whose
 * errors it has returned rather than fatal. It moves no rank's messages:
 * that is the mpi transport's (mpi.c), over a communicator of its own.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pipette/pipette.h>

#include "mpi_check.h"

static int job_detect(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
           getenv("PMIX_RANK") ||
           (getenv("SLURM_STEP_ID") && getenv("SLURM_NTASKS"));
}

static const char *thread_level(int level)
{
    return level == MPI_THREAD_SINGLE       ? "MPI_THREAD_SINGLE"
         : level == MPI_THREAD_FUNNELED     ? "MPI_THREAD_FUNNELED"
         : level == MPI_THREAD_SERIALIZED   ? "MPI_THREAD_SERIALIZED"
         : level == MPI_THREAD_MULTIPLE     ? "MPI_THREAD_MULTIPLE"
                                            : "an unknown level";
}

/* place->node and nodes: a node is named by its lowest process (its
 * leader), and numbered by the order of the leaders. */
static pp_status number_node(pp_job_place *place, int leader, pp_error *err)
{
    int *leaders = malloc((size_t)place->processes * sizeof *leaders);
    if (!leaders)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (PP_MPI_CHECK(MPI_Allgather(&leader, 1, MPI_INT, leaders, 1, MPI_INT,
                                   MPI_COMM_WORLD), err)) {
        free(leaders);
        return err->code;
    }
    place->node = place->nodes = 0;
    for (int q = 0; q < place->processes; q++)
        if (leaders[q] == q) {
            place->node += q < leader;
            place->nodes++;
        }
    free(leaders);
    return PP_OK;
}

/* place->local, locals, node and nodes, from the processes that share
 * this one's memory. */
static pp_status place_on_node(pp_job_place *place, pp_error *err)
{
    MPI_Comm node;
    if (PP_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD,
                                         MPI_COMM_TYPE_SHARED, 0,
                                         MPI_INFO_NULL, &node), err))
        return err->code;
    int leader = place->process;
    pp_status st = PP_OK;
    if (PP_MPI_CHECK(MPI_Comm_rank(node, &place->local), err) ||
        PP_MPI_CHECK(MPI_Comm_size(node, &place->locals), err) ||
        PP_MPI_CHECK(MPI_Allreduce(&place->process, &leader, 1, MPI_INT,
                                   MPI_MIN, node), err))
        st = err->code;
    MPI_Comm_free(&node);
    return st ? st : number_node(place, leader, err);
}

static pp_status job_init(pp_job_place *place, pp_error *err)
{
    memset(place, 0, sizeof *place);
    int ready = 0, level = MPI_THREAD_SINGLE;
    if (PP_MPI_CHECK(MPI_Initialized(&ready), err))
        return err->code;
    if (ready ? PP_MPI_CHECK(MPI_Query_thread(&level), err)
              : PP_MPI_CHECK(MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE,
                                             &level), err))
        return err->code;
    if (PP_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD,
                                             MPI_ERRORS_RETURN), err))
        return err->code;
    if (level != MPI_THREAD_MULTIPLE)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi-job: this MPI library gives %s, and pipette needs "
            "MPI_THREAD_MULTIPLE (the ranks' threads send at once): use an "
            "MPI built with it (ompi_info or mpichversion says)",
            thread_level(level));
    if (PP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &place->process), err) ||
        PP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &place->processes), err) ||
        place_on_node(place, err))
        return err->code;
    char name[MPI_MAX_PROCESSOR_NAME + 1];
    int len = 0;
    if (MPI_Get_processor_name(name, &len) == MPI_SUCCESS && len > 0) {
        name[len] = '\0';
        snprintf(place->host, sizeof place->host, "%.*s",
                 (int)sizeof place->host - 1, name);
    } else if (gethostname(place->host, sizeof place->host - 1) != 0) {
        snprintf(place->host, sizeof place->host, "process %d",
                 place->process);
    }
    return PP_OK;
}

/* A non-blocking allgather, polled (pp_mpi_pause) until it is
 * done or timeout_ms has passed. */
static pp_status job_allgather(const void *mine, void *all, size_t bytes,
                               int timeout_ms, pp_error *err)
{
    if (bytes > INT_MAX)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi-job: cannot gather %zu bytes from each process: MPI counts "
            "are ints, at most %d", bytes, INT_MAX);
    int n = (int)bytes, done = 0;
    MPI_Request req;
    if (PP_MPI_CHECK(MPI_Iallgather(mine, n, MPI_BYTE, all, n, MPI_BYTE,
                                    MPI_COMM_WORLD, &req), err))
        return err->code;
    struct timespec start, now;
    long pause = 1;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (PP_MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE), err))
            return err->code;
        if (done)
            return PP_OK;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double ms = 1e3 * (double)(now.tv_sec - start.tv_sec) +
                    1e-6 * (double)(now.tv_nsec - start.tv_nsec);
        if (timeout_ms >= 0 && ms >= timeout_ms)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "mpi-job: waited %d ms for every process to reach the same "
                "point and some did not: one may have died or hung",
                timeout_ms);
        pp_mpi_pause((long)ms, &pause);
    }
}

static void job_abort(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
    _exit(code); /* MPI_Abort does not return; should it, still end */
}

static void job_finalize(void)
{
    int done = 0;
    if (MPI_Finalized(&done) == MPI_SUCCESS && !done)
        MPI_Finalize();
}

static const pp_job_ops ops = {
    .detect = job_detect,
    .init = job_init,
    .allgather = job_allgather,
    .abort = job_abort,
    .finalize = job_finalize,
};

PP_PLUGIN(PP_KIND_JOB, "mpi-job",
          "processes started by mpirun or srun, joined through MPI", NULL,
          &ops);
