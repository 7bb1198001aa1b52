/* src/job.c - joining the job that started this process (job.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "registry.h"

pp_status pp_job_single(pp_job *job, pp_error *err)
{
    job->place = (pp_job_place){0, 1, 0, 1, 0, 1, ""};
    if (gethostname(job->place.host, sizeof job->place.host) != 0)
        snprintf(job->place.host, sizeof job->place.host, "localhost");
    job->place.host[sizeof job->place.host - 1] = '\0';
    job->node = calloc(1, sizeof *job->node);
    job->host = calloc(1, sizeof *job->host);
    if (!job->node || !job->host)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    snprintf(job->host[0], sizeof job->host[0], "%.63s", job->place.host);
    return PP_OK;
}

/* Each process's node and host, from all of them. */
static pp_status gather_places(pp_job *job, pp_error *err)
{
    int n = job->place.processes;
    pp_job_place *all = malloc((size_t)n * sizeof *all);
    job->node = malloc((size_t)n * sizeof *job->node);
    job->host = malloc((size_t)n * sizeof *job->host);
    pp_status st = all && job->node && job->host
                       ? job->ops->allgather(&job->place, all, sizeof *all,
                                             60000, err)
                       : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int q = 0; !st && q < n; q++) {
        job->node[q] = all[q].node;
        snprintf(job->host[q], sizeof job->host[q], "%.63s", all[q].host);
    }
    free(all);
    return st;
}

pp_status pp_job_join(pp_job *job, pp_error *err)
{
    memset(job, 0, sizeof *job);
    const pp_plugin **kinds;
    size_t n;
    pp_status st = pp_registry_create(NULL, &job->registry, err);
    if (!st)
        st = pp_registry_all(job->registry, PP_KIND_JOB, &kinds, &n, err);
    if (st)
        return st;
    for (size_t i = 0; i < n && !job->ops; i++) {
        const pp_job_ops *ops = kinds[i]->ops;
        if (ops->detect()) {
            job->ops = ops;
            job->name = kinds[i]->desc->name;
        }
    }
    free(kinds);
    if (!job->ops)
        return pp_job_single(job, err);
    if (job->ops->init(&job->place, err))
        return pp_error_prefix(err, "job plugin %s", job->name);
    return gather_places(job, err);
}

pp_status pp_job_allgather(const pp_job *job, const void *mine, void *all,
                           size_t bytes, int timeout_ms, pp_error *err)
{
    if (!job->ops) {
        memcpy(all, mine, bytes);
        return PP_OK;
    }
    return job->ops->allgather(mine, all, bytes, timeout_ms, err);
}

pp_status pp_job_gather(const pp_job *job, const void *mine, size_t bytes,
                        int timeout_ms, unsigned char **all, size_t *stride,
                        uint64_t **size, pp_error *err)
{
    int n = job->place.processes;
    uint64_t have = bytes, most = 0;
    *all = NULL;
    *size = malloc((size_t)n * sizeof **size);
    if (!*size)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_status st = pp_job_allgather(job, &have, *size, sizeof have,
                                    timeout_ms, err);
    for (int q = 0; !st && q < n; q++)
        most = (*size)[q] > most ? (*size)[q] : most;
    unsigned char *padded = st ? NULL : calloc(most + 1, 1);
    if (!st && padded)
        *all = malloc((size_t)n * most + 1);
    if (!st && (!padded || !*all))
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!st) {
        memcpy(padded, mine, bytes);
        *stride = most;
        st = pp_job_allgather(job, padded, *all, most, timeout_ms, err);
    }
    free(padded);
    if (st) {
        free(*all);
        free(*size);
        *all = NULL;
        *size = NULL;
    }
    return st;
}

void pp_job_abort(const pp_job *job, int code)
{
    if (job->ops)
        job->ops->abort(code);
}

void pp_job_leave(pp_job *job)
{
    if (job->ops)
        job->ops->finalize();
    free(job->node);
    free(job->host);
    pp_registry_free(job->registry);
    memset(job, 0, sizeof *job);
}
