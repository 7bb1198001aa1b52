/* src/runtime_report.c - what a training run writes for people and
 * tools: the plan before step 1, and after the last step the measured
 * trace, the checkpoint and the log file. The runs themselves are in
 * runtime_run.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The parameters, in the model's layer order whatever the partition:
 * "PPCKPT01", a little-endian uint32 version (1), a uint64 count of
 * floats, then each layer's own parameters as declared (a shared one once,
 * with its owner), float32 little-endian (the host's order on every
 * machine pipette runs on). */
/* A temporary file beside path (path.XXXXXX), open for writing: the
 * checkpoint is written there, then renamed over path, so the old one
 * stands until the new one is whole. */
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

/* tmp, written, takes path's place for good: the mode a new file gets
 * (mkstemp's is 0600), its bytes on the disk, the rename, and the rename
 * in the directory (fsync of each). */
static int commit(FILE *f, const char *tmp, const char *path)
{
    mode_t mask = umask(0);
    umask(mask);
    int ok = fchmod(fileno(f), 0666 & ~mask) == 0 && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return 0;
    }
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1,
             slash ? path : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    ok = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static pp_status write_checkpoint(const pp_trainer *t, const char *path,
                                  pp_error *err)
{
    char tmp[PATH_MAX];
    FILE *f = beside(path, tmp, sizeof tmp);
    if (!f)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot write the "
                            "checkpoint: %s", path, strerror(errno));
    const pp_model *m = t->m;
    uint64_t total = 0; /* replica 0's: every replica has the same */
    for (int s = 0; s < m->stages; s++)
        total += t->stage[s].nparams - t->stage[s].shared;
    uint32_t version = 1;
    int ok = fwrite("PPCKPT01", 8, 1, f) == 1 &&
             fwrite(&version, sizeof version, 1, f) == 1 &&
             fwrite(&total, sizeof total, 1, f) == 1;
    for (int l = 0; ok && l < m->nlayers; l++)
        for (int i = 0; ok && i < m->layers[l].plan.nparams; i++) {
            if (m->layers[l].owner[i].layer != l)
                continue; /* shared: its owner's */
            size_t n;
            const float *p = pp_param_host(t, l, i, &n, 0);
            ok = p && fwrite(p, sizeof(float), n, f) == n;
        }
    if (!ok) {
        int saved = errno;
        fclose(f);
        unlink(tmp);
        errno = saved;
    }
    if (!ok || !commit(f, tmp, path))
        return pp_error_set(err, PP_ERR_IO, "%s: cannot write the "
                            "checkpoint: %s (the one there before, if any, "
                            "is untouched)", path, strerror(errno));
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

pp_status pp_check_outputs(const pp_trainer *t, pp_error *err)
{
    const pp_model *m = t->m;
    if (t->me != 0)
        return PP_OK; /* process 0 writes them */
    pp_section *train = pp_config_section(m->cfg, "train");
    struct {
        const char *path, *what, *key;
    } out[] = {
        {t->o.eval ? NULL : m->log, "log", "log"},
        {t->o.eval ? NULL : m->checkpoint, "checkpoint", "checkpoint"},
        {t->o.trace, "trace", t->o.trace == m->trace ? "trace" : NULL},
    };
    for (size_t i = 0; i < sizeof out / sizeof *out; i++) {
        pp_error why;
        pp_error_clear(&why);
        if (!out[i].path || !writable(out[i].path, out[i].what, &why))
            continue;
        /* Said where it was asked for: the file's key, or --trace. */
        if (out[i].key && train)
            return pp_section_error(train, out[i].key, err,
                                    "%s: nothing is trained", why.msg);
        return pp_error_set(err, PP_ERR_USAGE, "--trace: %s: nothing is "
                            "trained", why.msg);
    }
    return PP_OK;
}

pp_status pp_read_checkpoint(pp_trainer *t, const char *path, pp_error *err)
{
    const pp_model *m = t->m;
    if (!(t->from_at = calloc((size_t)t->nrefs + 1, sizeof *t->from_at)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    uint64_t want = 0;
    for (int l = 0; l < m->nlayers; l++)
        for (int i = 0; i < m->layers[l].plan.nparams; i++)
            if (m->layers[l].owner[i].layer == l) {
                t->from_at[t->ref_base[l] + i] = (size_t)want;
                want += (uint64_t)pp_shape_elements(
                    &m->layers[l].plan.params[i].shape);
            }
    FILE *f = fopen(path, "rb");
    if (!f)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot read the "
                            "checkpoint: %s", path, strerror(errno));
    char magic[8];
    uint32_t version = 0;
    uint64_t count = 0;
    pp_status st = PP_OK;
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, "PPCKPT01", 8) != 0)
        st = pp_error_set(err, PP_ERR_IO, "%s: not a pipette checkpoint (it "
                          "does not begin with PPCKPT01)", path);
    else if (fread(&version, sizeof version, 1, f) != 1 ||
             fread(&count, sizeof count, 1, f) != 1)
        st = pp_error_set(err, PP_ERR_IO, "%s: the checkpoint's header is "
                          "cut short", path);
    else if (version != 1)
        st = pp_error_set(err, PP_ERR_IO, "%s: checkpoint version %u, this "
                          "pipette reads version 1", path, version);
    else if (count != want)
        st = pp_error_set(err, PP_ERR_IO, "%s: the checkpoint holds %llu "
                          "parameters and %s has %llu: it is another "
                          "model's", path, (unsigned long long)count,
                          m->cfg->path, (unsigned long long)want);
    else if (!(t->from = malloc((size_t)want * sizeof(float) + 1)))
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    else if (fread(t->from, sizeof(float), (size_t)want, f) != want)
        st = pp_error_set(err, PP_ERR_IO, "%s: the checkpoint is cut short: "
                          "%llu parameters expected", path,
                          (unsigned long long)want);
    else if (fgetc(f) != EOF)
        st = pp_error_set(err, PP_ERR_IO, "%s: the checkpoint goes on past "
                          "its %llu parameters", path,
                          (unsigned long long)want);
    fclose(f);
    return st;
}

/* Replica 0's parameters on the host of process 0, its own stages
 * fetched from their devices and the others' gathered from their
 * processes (into host copies of their own). */
static pp_status gather_params(pp_trainer *t, pp_error *err)
{
    const pp_model *m = t->m;
    size_t mine = 0;
    for (int s = 0; s < m->stages; s++)
        if (t->rank[t->stage[s].rank].local) {
            if (!pp_stage_host_params(t, s))
                return pp_error_set(err, PP_ERR_DEVICE, "stage %d's "
                                    "parameters could not be read", s);
            mine += t->stage[s].nparams;
        }
    if (m->processes == 1)
        return PP_OK;
    float *pack = malloc(mine * sizeof *pack + 1);
    if (!pack)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int s = 0, at = 0; s < m->stages; s++)
        if (t->rank[t->stage[s].rank].local) {
            memcpy(pack + at, t->stage[s].host_params,
                   t->stage[s].nparams * sizeof *pack);
            at += (int)t->stage[s].nparams;
        }
    unsigned char *all;
    size_t stride;
    uint64_t *size;
    pp_status st = pp_job_gather(t->o.job, pack, mine * sizeof *pack,
                                 t->o.recv_timeout_ms, &all, &stride, &size,
                                 err);
    free(pack);
    if (st || t->me != 0) {
        if (!st) {
            free(all);
            free(size);
        }
        return st;
    }
    size_t *at = calloc((size_t)m->processes, sizeof *at);
    for (int s = 0; at && s < m->stages; s++) {
        stage_rt *sg = &t->stage[s];
        int q = m->process_of[sg->rank];
        if (t->rank[sg->rank].local)
            continue;
        if (!(sg->host_params = malloc(sg->nparams * sizeof(float) + 1)))
            break;
        memcpy(sg->host_params, all + (size_t)q * stride + at[q],
               sg->nparams * sizeof(float));
        at[q] += sg->nparams * sizeof(float);
    }
    int ok = at != NULL;
    for (int s = 0; ok && s < m->stages; s++)
        ok = t->stage[s].host_params != NULL;
    free(at);
    free(all);
    free(size);
    return ok ? PP_OK : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
}

pp_status pp_trainer_run(pp_trainer *t, pp_error *err)
{
    /* An evaluation writes neither the training's log nor a checkpoint;
     * across processes, process 0 writes them. The log goes out line by
     * line, so a run stopped midway keeps every line it printed. */
    if (t->m->log && !t->o.eval && t->me == 0 &&
        !(t->log = fopen(t->m->log, "w")))
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
    if (st)
        return st;
    /* The checkpoint first: the trained parameters matter most. A failure
     * of one still lets the other be written; the first is the run's. */
    pp_error second;
    pp_error_clear(&second);
    if (t->m->checkpoint && !t->o.eval)
        st = gather_params(t, err);
    if (!st && t->m->checkpoint && !t->o.eval && t->me == 0)
        st = write_checkpoint(t, t->m->checkpoint, err);
    if (t->trace && write_trace(t, st ? &second : err) && !st)
        st = err->code;
    return st;
}
