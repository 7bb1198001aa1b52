/* src/runtime_report.c - what a training run writes for people and
 * tools: the plan before step 1, and after the last step the measured
 * trace, the checkpoint and the log file. The runs themselves are in
 * runtime_run.c. */
#define _GNU_SOURCE /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preflight.h"
#include "runtime_impl.h"
#include "timeline.h"

static double mib(double bytes)
{
    return bytes / (1024.0 * 1024.0);
}

/* "cpu" or "cuda:N": what rank r computes on. */
static const char *device_of(const pp_trainer *t, int r, char *buf,
                             size_t size)
{
    return pp_device_text(&t->m->devices[r], buf, size);
}

/* With replicas or processes, where every rank is: its process and
 * host, its device, its replica and stages. */
static void print_layout(const pp_trainer *t, FILE *out)
{
    const pp_model *m = t->m;
    if (m->data == 1 && m->processes == 1)
        return;
    char dev[96];
    if (m->data > 1)
        fprintf(out, "  layout: rank r of replica k's pipeline is rank r x "
                     "%d + k; each stage's gradients are summed over its "
                     "replicas after its last backward, in buckets of at "
                     "most %.4g MiB\n", m->data, mib((double)m->bucket_bytes));
    if (m->processes > 1)
        fprintf(out, "  %d processes of %d rank%s each, on %d node%s\n",
                m->processes, m->ranks_per_process,
                m->ranks_per_process == 1 ? "" : "s",
                t->o.job->place.nodes, t->o.job->place.nodes == 1 ? "" : "s");
    int hw = 4, dw = 6;
    for (int r = 0; r < t->p; r++) {
        const char *host = t->o.job->host[m->process_of[r]];
        hw = (int)strlen(host) > hw ? (int)strlen(host) : hw;
        if ((int)strlen(device_of(t, r, dev, sizeof dev)) > dw)
            dw = (int)strlen(dev);
    }
    fprintf(out, "    rank  process  %-*s  %-*s  replica  stages\n", hw,
            "host", dw, "device");
    for (int r = 0; r < t->p; r++) {
        fprintf(out, "    %4d  %7d  %-*s  %-*s  %7d  ", r, m->process_of[r],
                hw, t->o.job->host[m->process_of[r]], dw,
                device_of(t, r, dev, sizeof dev), r % m->data);
        for (int s = 0, n = 0; s < t->S; s++)
            if (t->stage[s].rank == r)
                fprintf(out, "%s%d", n++ ? "," : "", t->stage[s].ms);
        fputc('\n', out);
    }
}

void pp_trainer_print_plan(const pp_trainer *t, FILE *out)
{
    const pp_model *m = t->m;
    /* Ranks sharing the host's memory are said once: "on cpu". */
    char dev[96], one[96];
    int all_cpu = pp_device_memory(&m->devices[0]) == PP_MEMORY_HOST;
    device_of(t, 0, one, sizeof one);
    for (int r = 1; r < t->p; r++)
        all_cpu &= strcmp(device_of(t, r, dev, sizeof dev), one) == 0;
    fprintf(out, "plan: %s, %d rank%s on ", m->name ? m->name : m->cfg->path,
            t->p, t->p == 1 ? "" : "s");
    for (int r = 0; r < (all_cpu ? 1 : t->p); r++)
        fprintf(out, "%s%s", r ? "," : "", device_of(t, r, dev, sizeof dev));
    if (m->data > 1)
        fprintf(out, ", %d replicas of %d stage%s, schedule %s, each "
                     "replica %d micro-batches of %d samples (batch %lld)\n",
                m->data, m->stages, m->stages == 1 ? "" : "s", m->schedule,
                t->mbs, t->n, (long long)m->batch);
    else
        fprintf(out, ", %d stage%s, schedule %s, %d micro-batches of %d "
                     "samples (batch %lld)\n",
                t->S, t->S == 1 ? "" : "s", m->schedule, t->mbs, t->n,
                (long long)m->batch);
    if (t->resumed)
        fprintf(out, "  resumed from %s: %lld steps made, the data at sample "
                     "%lld\n", t->resumed, (long long)t->first_step,
                (long long)t->first_sample);
    fprintf(out, "  simulated bubble %.1f%% (default costs); partition %s\n",
            100.0 * t->planned->bubble, pp_partition_name(m->partition));
    if (m->warmup || m->cosine) {
        char lr[96];
        fprintf(out, "  lr %s\n", pp_model_lr_text(m, lr, sizeof lr));
    }
    if (m->grad_clip)
        fprintf(out, "  gradients clipped to global norm %g%s\n",
                m->grad_clip, m->pipeline_ranks > 1
                                  ? ", the norm summed over a pipeline's ranks"
                                  : "");
    if (m->skip_nonfinite)
        fprintf(out, "  a step whose loss or gradients are not finite is "
                     "skipped (on_nonfinite = skip)\n");
    fprintf(out, "  precision %s: %s\n", pp_precision_name(m->precision),
            m->precision == PP_PRECISION_BF16
                ? "bf16 activations, gradients and messages; FP32 master "
                  "weights, gradients and optimizer, a bf16 copy of the "
                  "weights for the GEMMs"
            : m->precision == PP_PRECISION_TF32
                ? "FP32 storage; GEMMs on TF32 tensor cores"
                : "FP32 throughout");
    double flops = 0;
    for (int l = 0; l < m->nlayers; l++)
        flops += pp_layer_step_flops(m, l);
    print_layout(t, out);
    /* Replica 0's stages: every replica's are the same. */
    for (int s = 0, l = 0; s < m->stages; s++) {
        const stage_rt *st = &t->stage[s];
        fprintf(out, "  stage %d on rank%s %d", s, m->data > 1 ? "s" : "",
                st->rank);
        for (int k = 1; k < m->data; k++)
            fprintf(out, ",%d", t->stage[k * m->stages + s].rank);
        fprintf(out, ": %zu parameters", st->nparams - st->shared);
        /* A copy of another rank's parameter is counted with its owner. */
        if (st->shared)
            fprintf(out, " (and a copy of %zu shared)", st->shared);
        double mine = 0;
        for (int k = 0; k < st->nl; k++, l++)
            mine += pp_layer_step_flops(m, l);
        fprintf(out, ", %.1f%% of the FLOPs:", flops > 0 ? 100 * mine / flops
                                                         : 0.0);
        /* A long stage (a GPT's blocks) by its ends. */
        for (int k = 0; k < st->nl; k++) {
            if (st->nl > 8 && k == 3)
                fprintf(out, " ... (%d layers) ...", st->nl - 6);
            if (st->nl <= 8 || k < 3 || k >= st->nl - 3)
                fprintf(out, " %s", st->layer[k].ml->name);
        }
        fprintf(out, "\n");
    }
    pp_routes_print(m, out);
    for (int r = 0; r < t->p; r++) {
        pp_memory mem;
        pp_trainer_memory(t, r, &mem);
        fprintf(out, "  rank %d (%s) memory: parameters %.2f MiB",
                r, device_of(t, r, dev, sizeof dev), mib(mem.params));
        if (mem.copies > 0)
            fprintf(out, " + bf16 copy %.2f MiB", mib(mem.copies));
        fprintf(out, ", gradients %.2f MiB, optimizer %.2f MiB, "
                     "activations ", mib(mem.grads), mib(mem.optimizer));
        /* slots x bytes, stage by stage: a rank's stages differ in size */
        int first = 1, recompute = 0;
        const rank_rt *rk = &t->rank[r];
        for (int s = 0; s < t->S; s++) {
            const stage_rt *st = &t->stage[s];
            if (st->rank != r)
                continue;
            fprintf(out, "%s%d x %.2f", first ? "" : " + ", st->nslots,
                    mib((double)st->slot_bytes));
            recompute |= st->recompute;
            first = 0;
        }
        if (rk->scratch_bytes)
            fprintf(out, " + %.2f", mib((double)rk->scratch_bytes));
        if (rk->workspace_bytes)
            fprintf(out, " + %.2f workspace", mib((double)rk->workspace_bytes));
        fprintf(out, " = %.2f MiB%s", mib(mem.activations),
                recompute ? " (recompute: stage inputs only, and a scratch "
                            "to rebuild them in)" : "");
        if (mem.transfers > 0)
            fprintf(out, ", transfer buffers up to %.2f MiB",
                    mib(mem.transfers));
        if (mem.sums > 0)
            fprintf(out, ", gradient sums %.2f MiB", mib(mem.sums));
        fputc('\n', out);
    }
}

/* Every rank's spans, rank by rank: this process's, and across
 * processes everyone's, gathered (each process's ranks are consecutive,
 * so process order is rank order). *n of them, malloc'd. */
static pp_status all_spans(const pp_trainer *t, pp_span **out, int *n,
                           pp_error *err)
{
    int total = 0;
    for (int r = 0; r < t->p; r++)
        total += t->trace[r].n;
    pp_span *mine = malloc((size_t)total * sizeof *mine + 1);
    if (!mine)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int r = 0, at = 0; r < t->p; r++) {
        if (t->trace[r].n == 0)
            continue; /* another process's rank: no spans, span NULL */
        memcpy(mine + at, t->trace[r].span,
               (size_t)t->trace[r].n * sizeof *mine);
        at += t->trace[r].n;
    }
    *out = mine;
    *n = total;
    if (t->m->processes == 1)
        return PP_OK;
    unsigned char *all;
    size_t stride;
    uint64_t *size;
    pp_status st = pp_job_gather(t->o.job, mine, (size_t)total * sizeof *mine,
                                 t->o.recv_timeout_ms, &all, &stride, &size,
                                 err);
    free(mine);
    *out = NULL;
    if (st)
        return st;
    uint64_t bytes = 0;
    for (int q = 0; q < t->m->processes; q++)
        bytes += size[q];
    if ((*out = malloc(bytes + 1)))
        for (int q = 0, at = 0; q < t->m->processes; q++) {
            memcpy((unsigned char *)*out + at, all + (size_t)q * stride,
                   size[q]);
            at += (int)size[q];
        }
    *n = (int)(bytes / sizeof **out);
    free(all);
    free(size);
    return *out ? PP_OK : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
}

/* Writes the measured timeline in the simulator's Chrome format: process
 * 0 does, from every process's spans. */
static pp_status write_trace(const pp_trainer *t, pp_error *err)
{
    pp_sim sim = {.p = t->p};
    if (all_spans(t, &sim.spans, &sim.nspans, err))
        return err->code;
    if (t->me != 0) {
        free(sim.spans);
        return PP_OK;
    }
    FILE *f = fopen(t->o.trace, "w");
    if (!f) {
        free(sim.spans);
        return pp_error_set(err, PP_ERR_IO, "%s: cannot write the trace: %s",
                            t->o.trace, strerror(errno));
    }
    pp_plan shown = *t->m->plan;
    char name[sizeof shown.name + 32];
    snprintf(name, sizeof name, "%s, measured by pipette train",
             t->m->plan->name);
    memcpy(shown.name, name, sizeof shown.name - 1);
    shown.name[sizeof shown.name - 1] = '\0';
    pp_timeline_chrome(&shown, &sim, f);
    free(sim.spans);
    if (fclose(f) != 0)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot write the trace: %s",
                            t->o.trace, strerror(errno));
    return PP_OK;
}

/* A temporary file beside path (path.XXXXXX), open for writing. */
static FILE *beside(const char *path, char *tmp, size_t size)
{
    if ((size_t)snprintf(tmp, size, "%s.XXXXXX", path) >= size) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && !f) {
        close(fd);
        unlink(tmp);
    }
    return f;
}

/* Whether the checkpoints' directory can take them: one that exists, or
 * can be made (made and removed). */
static pp_status writable_dir(const char *path, pp_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return pp_error_set(err, PP_ERR_IO, "%s is a file: checkpoints are "
                            "directories, and [train] checkpoint names the "
                            "one that holds them", path);
    int made = mkdir(path, 0777) == 0;
    int ok = made || errno == EEXIST;
    char tmp[PATH_MAX];
    if (ok && (size_t)snprintf(tmp, sizeof tmp, "%s/.pipette-XXXXXX",
                               path) >= sizeof tmp) {
        ok = 0;
        errno = ENAMETOOLONG;
    }
    int fd = ok ? mkstemp(tmp) : -1;
    int saved = errno;
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (made)
        rmdir(path);
    if (fd < 0)
        return pp_error_set(err, PP_ERR_IO, "cannot write checkpoints to "
                            "%s: %s", path, strerror(saved));
    return PP_OK;
}

/* Whether path can be written: not a directory; an existing file that
 * may be written, or a new one in a directory that takes files (a
 * temporary one is made there and removed). what names it in the
 * error. */
static pp_status writable(const char *path, const char *what, pp_error *err)
{
    struct stat sb;
    char tmp[PATH_MAX];
    if (strcmp(what, "checkpoint") == 0)
        return writable_dir(path, err);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return pp_error_set(err, PP_ERR_IO, "%s is a directory: the %s "
                            "needs a file name", path, what);
    if (stat(path, &sb) == 0 && access(path, W_OK) != 0)
        return pp_error_set(err, PP_ERR_IO, "cannot write the %s to %s: "
                            "%s", what, path, strerror(errno));
    FILE *f = beside(path, tmp, sizeof tmp);
    if (!f)
        return pp_error_set(err, PP_ERR_IO, "cannot write the %s to %s: "
                            "%s", what, path, strerror(errno));
    fclose(f);
    unlink(tmp);
    return PP_OK;
}

/* Whether paths a and b name one file: by device and inode where both
 * exist; where neither does yet, by the real path of the directory and
 * the name. (Where one exists and the other not, they are two.) */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    int ha = stat(a, &sa) == 0, hb = stat(b, &sb) == 0;
    if (ha || hb)
        return ha && hb && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char full[2][2 * PATH_MAX];
    const char *path[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        char dir[PATH_MAX], real[PATH_MAX];
        const char *slash = strrchr(path[k], '/');
        const char *name = slash ? slash + 1 : path[k];
        int len = slash && slash > path[k] ? (int)(slash - path[k]) : 1;
        snprintf(dir, sizeof dir, "%.*s", len, slash ? path[k] : ".");
        if (!realpath(dir, real))
            return strcmp(a, b) == 0;
        snprintf(full[k], sizeof full[k], "%s/%s", real, name);
    }
    return strcmp(full[0], full[1]) == 0;
}

/* The files the run reads, for the outputs to keep clear of: the model
 * file, a schedule file, and what the data source's string keys name
 * (its files: a relative path taken from the model file's directory). */
typedef struct input {
    char path[PATH_MAX];
    char what[96];
} input;

static int run_inputs(const pp_model *m, input *in, int most)
{
    snprintf(in[0].path, sizeof in[0].path, "%s", m->cfg->path);
    snprintf(in[0].what, sizeof in[0].what, "the model file");
    int n = 1;
    pp_section *pipe = pp_config_section(m->cfg, "pipeline");
    if (pipe && strncmp(m->schedule, "file:", 5) == 0) {
        pp_section_resolve(pipe, m->schedule + 5, in[n].path,
                           sizeof in[n].path);
        snprintf(in[n].what, sizeof in[n].what, "the schedule file");
        n++;
    }
    pp_section *data = pp_config_section(m->cfg, "data");
    for (size_t i = 0; data && i < data->nentries && n < most; i++) {
        const pp_entry *e = &data->entries[i];
        for (const pp_key *k = data->tables[1]; k && k->name; k++)
            if (strcmp(k->name, e->key) == 0 && k->type == PP_KEY_STRING) {
                pp_section_resolve(data, e->value, in[n].path,
                                   sizeof in[n].path);
                snprintf(in[n].what, sizeof in[n].what,
                         "the data file of [data] %s", e->key);
                n++;
                break;
            }
    }
    return n;
}

pp_status pp_check_outputs(const pp_model *m, const pp_outputs *o,
                           pp_error *err)
{
    pp_section *train = pp_config_section(m->cfg, "train");
    struct {
        const char *path, *what, *key;
    } out[] = {
        {o->eval ? NULL : m->log, "log", "log"},
        {o->eval ? NULL : m->checkpoint, "checkpoint", "checkpoint"},
        {o->trace, "trace", o->trace == m->trace ? "trace" : NULL},
    };
    input *in = malloc(16 * sizeof *in);
    int nin = in ? run_inputs(m, in, 16) : 0;
    if (!in)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sizeof out / sizeof *out; i++) {
        pp_error why;
        pp_error_clear(&why);
        if (!out[i].path)
            continue;
        /* Not what the run reads, nor another of its outputs. */
        for (int k = 0; k < nin && !why.code; k++)
            if (same_file(out[i].path, in[k].path))
                pp_error_set(&why, PP_ERR_CONFIG, "%s is %s, which the run "
                             "reads", out[i].path, in[k].what);
        for (size_t k = 0; k < i && !why.code; k++)
            if (out[k].path && same_file(out[i].path, out[k].path))
                pp_error_set(&why, PP_ERR_CONFIG, "%s is also where the %s "
                             "goes", out[i].path, out[k].what);
        if (!why.code && !writable(out[i].path, out[i].what, &why))
            continue;
        free(in);
        /* Said where it was asked for: the file's key, or --trace. */
        if (out[i].key && train)
            return pp_section_error(train, out[i].key, err,
                                    "%s: nothing is trained", why.msg);
        return pp_error_add(err, PP_ERR_USAGE, "--trace: %s: nothing is "
                            "trained", why.msg);
    }
    free(in);
    return PP_OK;
}

pp_status pp_trainer_run(pp_trainer *t, pp_error *err)
{
    /* An evaluation writes neither the training's log nor a checkpoint;
     * across processes, process 0 writes them. The log goes out line by
     * line, so a run stopped midway keeps every line it printed. */
    if (t->m->log && !t->o.eval && t->me == 0 &&
        !(t->log = fopen(t->m->log, t->resumed ? "a" : "w")))
        return pp_error_set(err, PP_ERR_IO, "%s: cannot write the log: %s",
                            t->m->log, strerror(errno));
    if (t->log)
        setvbuf(t->log, NULL, _IOLBF, 0);
    pp_status st = pp_run_ranks(t, err);
    if (t->log && (fflush(t->log) != 0 || fsync(fileno(t->log)) != 0) &&
        !st)
        st = pp_error_set(err, PP_ERR_IO, "%s: cannot write the log: %s",
                          t->m->log, strerror(errno));
    if (t->log && fclose(t->log) != 0 && !st)
        st = pp_error_set(err, PP_ERR_IO, "%s: cannot write the log: %s",
                          t->m->log, strerror(errno));
    t->log = NULL;
    /* The checkpoints were written at the steps' ends, the last one
     * before the trace: a failure to write it still lets the trace be. */
    if (st && !t->saving_failed)
        return st;
    pp_error second;
    pp_error_clear(&second);
    if (t->trace && write_trace(t, st ? &second : err) && !st)
        st = err->code;
    return st;
}
