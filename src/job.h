/* src/job.h - the processes of a run. A run is one process whose ranks
 * are threads, unless a job plugin (pipette/job.h) says a launcher
 * (mpirun, srun) started it: then this process joins the job and learns
 * every process's node and host, so that the model can place its ranks
 * on them (pp_model_place) and the trainer run this process's alone. */
#ifndef PP_SRC_JOB_H
#define PP_SRC_JOB_H

#include <stdint.h>

#include <pipette/job.h>

typedef struct pp_registry pp_registry;

typedef struct pp_job {
    const pp_job_ops *ops;    /* NULL: one process */
    const char *name;         /* the job plugin's */
    pp_job_place place;       /* process 0 of 1 without a launcher */
    int *node;                /* [processes]: each process's node */
    char (*host)[64];         /* [processes]: each process's host name */
    pp_registry *registry;    /* keeps the plugin loaded */
} pp_job;

/* Joins the job that started this process, if a job plugin found on the
 * plugin path says one did; else a job of this one process. On failure
 * after a plugin's init, the caller ends the job with pp_job_abort. */
pp_status pp_job_join(pp_job *job, pp_error *err);

/* A job of this one process: what pp_job_join gives without a
 * launcher. */
pp_status pp_job_single(pp_job *job, pp_error *err);

/* Every process's `bytes` at mine, into all (processes x bytes), waiting
 * at most timeout_ms for the others; one process: a copy. */
pp_status pp_job_allgather(const pp_job *job, const void *mine, void *all,
                           size_t bytes, int timeout_ms, pp_error *err);

/* Every process's bytes, of a size each: *all (malloc'd) holds process
 * q's at q * *stride, and (*size)[q] says how many. */
pp_status pp_job_gather(const pp_job *job, const void *mine, size_t bytes,
                        int timeout_ms, unsigned char **all, size_t *stride,
                        uint64_t **size, pp_error *err);

/* Ends every process of the job with `code` (one process: returns). */
void pp_job_abort(const pp_job *job, int code);

/* Leaves the job after a run that every process ended, and frees it. */
void pp_job_leave(pp_job *job);

#endif
