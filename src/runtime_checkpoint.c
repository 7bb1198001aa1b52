/* src/runtime_checkpoint.c - what a run keeps in a checkpoint and how it
 * starts from one. Each named parameter and its optimizer state are
 * written from where the run holds them and read back by name, so a run
 * may resume on another schedule, partition, rank count, device kind or
 * precision. The step is all the rest needs: the data (sample s * batch
 * on), dropout's random numbers (a function of seed, step and layer) and
 * the lr schedule follow from it. The files themselves are
 * checkpoint.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "runtime_impl.h"

/* The stage of the job whose copy of layer l's parameters is written:
 * replica (stage % D)'s, so the replicas share the writing. */
static const stage_rt *writer(const pp_trainer *t, int l)
{
    const pp_model *m = t->m;
    int ms = m->layers[l].stage;
    return &t->stage[ms % m->data * m->stages + ms];
}

static char *param_name(const pp_model *m, int l, int i, int state)
{
    const char *layer = m->layers[l].name;
    const char *param = m->layers[l].plan.params[i].name;
    size_t n = strlen(layer) + strlen(param) + 32;
    char *s = malloc(n);
    if (s && state < 0)
        snprintf(s, n, "%s.%s", layer, param);
    else if (s)
        snprintf(s, n, "%s.%s.state.%d", layer, param, state);
    return s;
}

/* Stage s's optimizer state on the host: its own buffer on cpu, else a
 * copy into *copy (malloc'd). */
static const float *host_state(const pp_trainer *t, int s, float **copy,
                               pp_error *err)
{
    const stage_rt *st = &t->stage[s];
    const rank_rt *rk = &t->rank[st->rank];
    size_t n = st->nparams * (size_t)t->opt_plan.state_per_param;
    *copy = NULL;
    if (!rk->cuda)
        return st->opt;
    if (!(*copy = malloc(n * sizeof(float) + 1))) {
        pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (rk->dev->copy(rk->dr.index, *copy, st->opt, n * sizeof(float),
                      PP_COPY_DEVICE_TO_HOST, err))
        return NULL;
    return *copy;
}

/* What one process says of its part of a checkpoint. */
typedef struct part {
    int32_t status, nfiles;
    uint64_t bytes[2];
    uint32_t crc[2];
    char msg[240];
} part;

static void free_tensors(pp_ckpt_tensor *x, int n)
{
    for (int i = 0; x && i < n; i++)
        free(x[i].name);
    free(x);
}

/* This process's part: the parameters (and their state) of the layers
 * whose written copy is on its ranks, in model order. */
static pp_status write_part(pp_trainer *t, const char *dir, int64_t step,
                            part *out, pp_error *err)
{
    const pp_model *m = t->m;
    int k = t->opt_plan.state_per_param;
    int cap = t->nrefs * (k + 1) + 1, nm = 0, no = 0;
    pp_ckpt_tensor *model = calloc((size_t)cap, sizeof *model);
    pp_ckpt_tensor *opt = calloc((size_t)cap, sizeof *opt);
    float **copy = calloc((size_t)t->S, sizeof *copy);
    const float **state = calloc((size_t)t->S, sizeof *state);
    unsigned char *fetched = calloc((size_t)t->S, 1);
    pp_status st = !model || !opt || !copy || !state || !fetched
                       ? pp_error_set(err, PP_ERR_NOMEM, "out of memory")
                       : PP_OK;
    for (int l = 0; !st && l < m->nlayers; l++) {
        const stage_rt *w = writer(t, l);
        if (!t->rank[w->rank].local)
            continue;
        for (int i = 0; !st && i < m->layers[l].plan.nparams; i++) {
            pp_param_ref o = m->layers[l].owner[i];
            if (o.layer != l)
                continue; /* shared: its owner's */
            const pp_param_home *h = pp_param_home_of(t, w->rank, o);
            int s = h->stage;
            if (!fetched[s]) {
                fetched[s] = 1;
                if (!pp_stage_host_params(t, s))
                    st = pp_error_set(err, PP_ERR_DEVICE, "stage %d's "
                                      "parameters could not be read", s);
                else if (k && !(state[s] = host_state(t, s, &copy[s], err)))
                    st = err->code;
                if (st)
                    break;
            }
            const stage_rt *hs = &t->stage[s];
            pp_shape shape = m->layers[l].plan.params[i].shape;
            model[nm] = (pp_ckpt_tensor){param_name(m, l, i, -1), shape,
                                         hs->host_params + h->off};
            if (!model[nm++].name)
                st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            for (int j = 0; !st && j < k; j++) {
                opt[no] = (pp_ckpt_tensor){param_name(m, l, i, j), shape,
                                           state[s] + j * hs->nparams +
                                               h->off};
                if (!opt[no++].name)
                    st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            }
        }
    }
    memset(out, 0, sizeof *out);
    char path[4096];
    for (int f = 0; !st && f < 2; f++) {
        int n = f ? no : nm;
        if (n == 0)
            continue;
        if (m->processes > 1)
            snprintf(path, sizeof path, "%s/%s-%05d.safetensors", dir,
                     f ? "optimizer" : "model", t->me);
        else
            snprintf(path, sizeof path, "%s/%s.safetensors", dir,
                     f ? "optimizer" : "model");
        st = pp_ckpt_write_file(path, f ? opt : model, n, step,
                                &out->bytes[f], &out->crc[f], err);
        out->nfiles |= 1 << f;
    }
    out->status = st;
    if (st)
        snprintf(out->msg, sizeof out->msg, "%.*s",
                 (int)sizeof out->msg - 1, err->msg);
    for (int s = 0; copy && s < t->S; s++)
        free(copy[s]);
    free(copy);
    free(state);
    free(fetched);
    free_tensors(model, nm);
    free_tensors(opt, no);
    return st;
}

/* The manifest's picture of the checkpoint. */
static pp_status describe(const pp_trainer *t, int64_t step, char *dir,
                          const part *parts, pp_ckpt *ck, pp_error *err)
{
    const pp_model *m = t->m;
    *ck = (pp_ckpt){.dir = dir, .step = step, .steps = t->steps,
                    .samples = pp_step_sample(t, step),
                    .skipped = t->first_skipped + t->skipped,
                    .seed = m->seed,
                    .optimizer = (char *)m->optimizer,
                    .state_per_param = t->opt_plan.state_per_param};
    if (pp_ckpt_model_config(m, &ck->config, &ck->nconfig, err))
        return err->code;
    ck->file = calloc((size_t)m->processes * 2 + 1, sizeof *ck->file);
    if (!ck->file)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int q = 0; q < m->processes; q++)
        for (int f = 0; f < 2; f++) {
            if (!(parts[q].nfiles & 1 << f))
                continue;
            char name[64];
            if (m->processes > 1)
                snprintf(name, sizeof name, "%s-%05d.safetensors",
                         f ? "optimizer" : "model", q);
            else
                snprintf(name, sizeof name, "%s.safetensors",
                         f ? "optimizer" : "model");
            pp_ckpt_file *cf = &ck->file[ck->nfiles++];
            *cf = (pp_ckpt_file){.name = strdup(name),
                                 .bytes = parts[q].bytes[f],
                                 .header_crc = parts[q].crc[f], .model = !f};
            if (!cf->name)
                return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        }
    return PP_OK;
}

pp_status pp_checkpoint_save(pp_trainer *t, int64_t step, char **where,
                             uint64_t *bytes, pp_error *err)
{
    *where = NULL;
    *bytes = 0;
    const pp_model *m = t->m;
    int P = m->processes;
    char *dir = NULL, *final = NULL;
    part *parts = calloc((size_t)P + 1, sizeof *parts);
    pp_status st = parts ? pp_ckpt_begin(m->checkpoint, step, t->me == 0,
                                         &dir, &final, err)
                         : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    /* Nobody writes before process 0 has made the directory. */
    int32_t ok = st == PP_OK, all_ok = ok;
    if (P > 1 && parts) {
        int32_t *oks = calloc((size_t)P, sizeof *oks);
        if (!oks || pp_job_allgather(t->o.job, &ok, oks, sizeof ok,
                                     t->o.recv_timeout_ms, err)) {
            st = oks ? err->code
                     : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            all_ok = 0;
        }
        for (int q = 0; oks && q < P; q++)
            all_ok &= oks[q];
        if (!st && !all_ok)
            st = pp_error_set(err, PP_ERR_IO, "process 0 could not begin "
                              "the checkpoint of step %lld",
                              (long long)step);
        free(oks);
    }
    part mine;
    memset(&mine, 0, sizeof mine);
    if (!st)
        st = write_part(t, dir, step, &mine, err);
    mine.status = st;
    if (all_ok && P > 1) {
        pp_error why;
        if (pp_job_allgather(t->o.job, &mine, parts, sizeof mine,
                             t->o.recv_timeout_ms, st ? &why : err) && !st)
            st = err->code;
    } else if (parts) {
        parts[0] = mine;
    }
    for (int q = 0; !st && q < P; q++) {
        if (parts[q].status)
            st = pp_error_set(err, (pp_status)parts[q].status, "process %d: "
                              "%s", q, parts[q].msg);
        *bytes += parts[q].bytes[0] + parts[q].bytes[1];
    }
    if (!st && t->me == 0) {
        pp_ckpt ck;
        st = describe(t, step, dir, parts, &ck, err);
        if (!st)
            st = pp_ckpt_commit(&ck, m->checkpoint, final, m->keep, err);
        ck.dir = NULL;
        ck.optimizer = NULL;
        pp_ckpt_close(&ck);
    }
    free(dir);
    if (!st)
        *where = final;
    else
        free(final);
    free(parts);
    return st;
}

/* Where each owner's parameter starts in t->from (its layer's, in model
 * order; a shared one at its owner's); the total. */
static uint64_t layout_from(pp_trainer *t)
{
    const pp_model *m = t->m;
    uint64_t total = 0;
    for (int l = 0; l < m->nlayers; l++)
        for (int i = 0; i < m->layers[l].plan.nparams; i++)
            if (m->layers[l].owner[i].layer == l) {
                t->from_at[t->ref_base[l] + i] = (size_t)total;
                total += (uint64_t)pp_shape_elements(
                    &m->layers[l].plan.params[i].shape);
            }
    return total;
}

/* Tensor `name` into buf, checking that it is there, FP32 and of shape. */
static pp_status read_tensor(const pp_ckpt *ck, int model, const char *name,
                             const pp_shape *shape, float *buf, pp_error *err)
{
    int file;
    const pp_st_tensor *x = pp_ckpt_find(ck, model, name, &file);
    if (!x)
        return pp_error_set(err, PP_ERR_IO, "%s has no tensor '%s'",
                            ck->dir, name);
    int same = strcmp(x->dtype, "F32") == 0 && x->ndim == shape->ndim;
    for (int d = 0; same && d < shape->ndim; d++)
        same = x->shape[d] == shape->dim[d];
    if (!same) {
        char want[96], got[160] = "";
        size_t at = 0;
        for (int d = 0; d < x->ndim && at < sizeof got - 24; d++)
            at += (size_t)snprintf(got + at, sizeof got - at, "%s%lld",
                                   d ? "," : "", (long long)x->shape[d]);
        return pp_error_set(err, PP_ERR_IO, "%s/%s: tensor '%s' is %s "
                            "[%s]; this model's is F32 %s", ck->dir,
                            ck->file[file].name, name, x->dtype, got,
                            pp_shape_format(shape, want, sizeof want));
    }
    return pp_ckpt_read(ck, file, x, buf, err);
}

/* Every tensor of the checkpoint is one the model has: nm parameters and
 * nm * k states. */
static pp_status check_count(const pp_ckpt *ck, int nm, int k, int resume,
                             pp_error *err)
{
    int have[2] = {0, 0};
    for (int i = 0; i < ck->nfiles; i++)
        have[ck->file[i].model] += ck->file[i].h.ntensors;
    if (have[1] != nm)
        return pp_error_set(err, PP_ERR_IO, "%s holds %d parameter "
                            "tensors; this model has %d", ck->dir, have[1],
                            nm);
    if (resume && have[0] != nm * k)
        return pp_error_set(err, PP_ERR_IO, "%s holds %d optimizer "
                            "tensors; this model's optimizer has %d", ck->dir,
                            have[0], nm * k);
    return PP_OK;
}

static pp_status load(pp_trainer *t, pp_ckpt *ck, int resume, pp_error *err)
{
    const pp_model *m = t->m;
    int k = t->opt_plan.state_per_param;
    if (pp_ckpt_check_config(ck, m, err))
        return err->code;
    if (resume && (strcmp(ck->optimizer, m->optimizer) != 0 ||
                   ck->state_per_param != k))
        return pp_error_set(err, PP_ERR_IO, "%s holds the state of "
                            "optimizer %s (%d per parameter); this model "
                            "trains with %s (%d)", ck->dir, ck->optimizer,
                            ck->state_per_param, m->optimizer, k);
    if (resume && ck->seed != m->seed)
        return pp_error_set(err, PP_ERR_IO, "%s was trained with seed "
                            "%lld and this model has seed %lld: a resumed run "
                            "keeps its seed, which orders its data and "
                            "dropout", ck->dir, (long long)ck->seed,
                            (long long)m->seed);
    if (pp_ckpt_open_files(ck, err))
        return err->code;
    uint64_t total = layout_from(t);
    size_t states = resume ? (size_t)total * (size_t)k : 0;
    if (!(t->from = malloc((size_t)total * sizeof(float) + 1)) ||
        (states && !(t->from_state = malloc(states * sizeof(float)))))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    int nm = 0;
    for (int l = 0; l < m->nlayers; l++)
        for (int i = 0; i < m->layers[l].plan.nparams; i++) {
            if (m->layers[l].owner[i].layer != l)
                continue;
            nm++;
            const pp_shape *shape = &m->layers[l].plan.params[i].shape;
            size_t at = t->from_at[t->ref_base[l] + i];
            for (int j = -1; j < (resume ? k : 0); j++) {
                char *name = param_name(m, l, i, j);
                pp_status st = name ? read_tensor(ck, j < 0, name, shape,
                                                  j < 0 ? t->from + at
                                                        : t->from_state +
                                                              (size_t)j *
                                                                  total +
                                                              at,
                                                  err)
                                    : pp_error_set(err, PP_ERR_NOMEM,
                                                   "out of memory");
                free(name);
                if (st)
                    return st;
            }
        }
    if (check_count(ck, nm, k, resume, err))
        return err->code;
    t->from_total = (size_t)total;
    if (resume) {
        t->first_step = ck->step;
        t->first_sample = ck->samples;
        t->first_skipped = ck->skipped;
    }
    return PP_OK;
}

/* The file pipette 1.2 and before wrote (parameters only), which eval
 * still reads: "PPCKPT01", a uint32 version (1), a uint64 count of
 * floats, then each layer's own parameters in model order, FP32, all
 * little-endian. */
static pp_status read_ppckpt01(pp_trainer *t, const char *path,
                               pp_error *err)
{
    uint64_t want = layout_from(t);
    FILE *f = fopen(path, "rb");
    if (!f)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot read the "
                            "checkpoint: %s", path, strerror(errno));
    char magic[8];
    uint32_t version = 0;
    uint64_t count = 0;
    pp_status st = PP_OK;
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, "PPCKPT01", 8) != 0)
        st = pp_error_set(err, PP_ERR_IO, "%s: not a pipette checkpoint "
                          "(a directory, or a file that begins with "
                          "PPCKPT01)", path);
    else if (fread(&version, sizeof version, 1, f) != 1 ||
             fread(&count, sizeof count, 1, f) != 1 || version != 1 ||
             count != want)
        st = pp_error_set(err, PP_ERR_IO, "%s: a PPCKPT01 checkpoint of "
                          "another model or version", path);
    else if (!(t->from = malloc((size_t)want * sizeof(float) + 1)))
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    else if (fread(t->from, sizeof(float), (size_t)want, f) != want ||
             fgetc(f) != EOF)
        st = pp_error_set(err, PP_ERR_IO, "%s: the checkpoint is not %llu "
                          "parameters long", path, (unsigned long long)want);
    fclose(f);
    t->from_total = (size_t)want;
    return st;
}

pp_status pp_checkpoint_load(pp_trainer *t, const char *path, int resume,
                             pp_error *err)
{
    if (!(t->from_at = calloc((size_t)t->nrefs + 1, sizeof *t->from_at)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (!resume && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        return read_ppckpt01(t, path, err);
    pp_ckpt ck;
    int none;
    pp_status st = pp_ckpt_open(path, &ck, &none, err);
    if (!st)
        st = load(t, &ck, resume, err);
    if (!st && !(t->resumed = strdup(ck.dir)))
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_ckpt_close(&ck);
    return st;
}

pp_status pp_init_state(pp_trainer *t, int s, pp_error *err)
{
    stage_rt *st = &t->stage[s];
    const rank_rt *rk = &t->rank[st->rank];
    int k = t->opt_plan.state_per_param;
    if (!t->from_state || !k || !st->nparams)
        return PP_OK;
    float *state = rk->cuda ? calloc(st->nparams * (size_t)k, sizeof *state)
                            : st->opt;
    if (!state)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int l = 0; l < st->nl; l++) {
        const pp_model_layer *ml = st->layer[l].ml;
        for (int p = 0; p < ml->plan.nparams; p++) {
            pp_param_ref o = ml->owner[p];
            const pp_param_home *h = pp_param_home_of(t, st->rank, o);
            if (h->stage != s)
                continue;
            size_t n = (size_t)pp_shape_elements(
                &t->m->layers[o.layer].plan.params[o.param].shape);
            size_t from = t->from_at[t->ref_base[o.layer] + o.param];
            for (int j = 0; j < k; j++)
                memcpy(state + (size_t)j * st->nparams + h->off,
                       t->from_state + (size_t)j * t->from_total + from,
                       n * sizeof(float));
        }
    }
    pp_status rc = PP_OK;
    if (rk->cuda) {
        rc = rk->dev->copy(rk->dr.index, st->opt, state,
                           st->nparams * (size_t)k * sizeof(float),
                           PP_COPY_HOST_TO_DEVICE, err);
        free(state);
    }
    return rc;
}

int64_t pp_step_sample(const pp_trainer *t, int64_t step)
{
    return t->first_sample + (step - t->first_step) * t->m->batch;
}
