/* pipette/job.h - the table a job plugin fills: the processes of one run,
 * as a launcher (mpirun, srun) started them.
 *
 * A run is one process, whose ranks are threads, unless a job plugin
 * says this process was started by its launcher (detect). Then every
 * process joins the job (init), learns where it sits (pp_job_place), and
 * the processes exchange what they must agree on through allgather: the
 * ranks' placement, a transport's bootstrap (an ncclUniqueId). A transport
 * that reaches other processes gets the job through pp_transport_job
 * (pipette/transport.h).
 *
 * The calls, in order: detect; init once, from the main thread;
 * allgather any number of times, one at a time, every process making the
 * same calls in the same order; finalize once after the run, in every
 * process, from the thread that called init. abort may come from any
 * thread at any time after init, and ends every process of the job (a
 * failed rank in one process must not leave the others waiting). After a
 * failed init the caller ends the job with abort.
 *
 * The shipped one: mpi-job (MPI, built where configure found it).
 *
 * Required: detect, init, allgather, abort, finalize.
 */
#ifndef PIPETTE_JOB_H
#define PIPETTE_JOB_H

#include <stddef.h>

#include <pipette/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where this process sits in the job. */
typedef struct pp_job_place {
    int process, processes; /* this process's number, and how many */
    int node, nodes;        /* its node, numbered 0.. in the order of each
                               node's lowest process */
    int local, locals;      /* its number among its node's processes, and
                               how many (MPI_COMM_TYPE_SHARED) */
    char host[256];         /* its host name */
} pp_job_place;

typedef struct pp_job_ops {
    /* 1 when this process was started by this plugin's launcher (its
     * environment says so, e.g. OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK,
     * or SLURM_STEP_ID with SLURM_NTASKS), else 0. Nothing else is called
     * when it says 0. Must not initialise anything. */
    int (*detect)(void);
    /* Joins the job: MPI_Init_thread asking MPI_THREAD_MULTIPLE (the
     * ranks' threads send at once); a library that gives less is refused
     * with the level it gave. Fills *place. */
    pp_status (*init)(pp_job_place *place, pp_error *err);
    /* Collective: every process gives `bytes` bytes, and
     * all[q * bytes ...] gets process q's. Waits at most timeout_ms for
     * the others (< 0: forever), so that a process that hangs cannot hang
     * the rest: PP_ERR_RUNTIME when it passes. */
    pp_status (*allgather)(const void *mine, void *all, size_t bytes,
                           int timeout_ms, pp_error *err);
    /* Ends every process of the job now with `code` (MPI_Abort). Does not
     * return. */
    void (*abort)(int code);
    /* Leaves the job after a run (MPI_Finalize). Collective. */
    void (*finalize)(void);
} pp_job_ops;

#ifdef __cplusplus
}
#endif

#endif
