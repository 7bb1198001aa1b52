/* src/runtime.c - a trainer: plugins resolved, layers cut into stages,
 * every buffer allocated and parameters initialised, before step 1. The
 * ranks' threads are in runtime_run.c. */
#define _GNU_SOURCE /* clock_gettime's CLOCK_MONOTONIC with -std=c11 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_plan.h"
#include "runtime_impl.h"

double pp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A counter-based generator: the same (seed, counter) gives the same
 * number on every rank and under every partition. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double uniform01(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t h = mix(seed ^ mix(a ^ mix(b ^ mix(c))));
    return ((double)(h >> 11) + 0.5) * 0x1p-53;
}

static void init_param(float *x, const pp_param_decl *d, uint64_t seed,
                       int layer, int param)
{
    size_t n = (size_t)pp_shape_elements(&d->shape);
    for (size_t j = 0; j < n; j++) {
        switch (d->init) {
        case PP_INIT_ZEROS: x[j] = 0; break;
        case PP_INIT_ONES: x[j] = 1; break;
        case PP_INIT_UNIFORM:
            x[j] = (float)(d->scale *
                           (2 * uniform01(seed, (uint64_t)layer,
                                          (uint64_t)param, j) - 1));
            break;
        case PP_INIT_NORMAL: {
            double u1 = uniform01(seed, (uint64_t)layer, (uint64_t)param,
                                  2 * j);
            double u2 = uniform01(seed, (uint64_t)layer, (uint64_t)param,
                                  2 * j + 1);
            x[j] = (float)(d->scale * sqrt(-2 * log(u1)) *
                           cos(6.283185307179586 * u2));
            break;
        }
        }
    }
}

/* The most slots each stage of rank r holds at once, following the same
 * rules runtime_run.c allocates by: a slot is taken when the micro-batch's
 * input arrives (a receive, the previous stage's forward on this rank, or
 * the forward itself) and given back after its B, or its BW when the
 * backward is split. */
static void count_slots(const pp_trainer *t, int r, int *most)
{
    const pp_plan *plan = t->m->plan;
    int *held = calloc((size_t)t->S, sizeof *held);
    unsigned char *has = calloc((size_t)t->S * t->mbs, 1);
    if (!held || !has) {
        free(held);
        free(has);
        for (int s = 0; s < t->S; s++)
            most[s] = t->mbs; /* the safe bound */
        return;
    }
#define TAKE(mb, s)                                                         \
    do {                                                                    \
        if (!has[(size_t)(s) * t->mbs + (mb)]) {                            \
            has[(size_t)(s) * t->mbs + (mb)] = 1;                           \
            if (++held[s] > most[s])                                        \
                most[s] = held[s];                                          \
        }                                                                   \
    } while (0)
    const pp_program *prog = &plan->prog[r];
    for (int i = 0; i < prog->n; i++) {
        const pp_ins *in = &prog->ins[i];
        int mb = in->task.mb, s = in->task.stage;
        if (in->kind == PP_INS_RECV && in->msg == PP_MSG_ACT)
            TAKE(mb, s + 1);
        if (in->kind != PP_INS_COMPUTE)
            continue;
        if (in->task.op == PP_OP_F) {
            TAKE(mb, s);
            if (s + 1 < t->S && plan->rank_of_stage[s + 1] == r)
                TAKE(mb, s + 1);
        } else if (in->task.op == PP_OP_B || in->task.op == PP_OP_BW) {
            has[(size_t)s * t->mbs + mb] = 0;
            held[s]--;
        }
    }
#undef TAKE
    free(held);
    free(has);
}

/* Lays out one slot of stage st in `memory` (NULL: only measures) and
 * returns its size. full: every layer's activations, not only the input. */
static size_t layout_slot(const pp_trainer *t, const stage_rt *st, slot *sl,
                          unsigned char *memory, int full, int last)
{
    size_t at = 0;
#define TAKE_BYTES(ptr, bytes)                                              \
    do {                                                                    \
        if (memory)                                                         \
            (ptr) = (void *)(memory + at);                                  \
        at += ((bytes) + 63) & ~(size_t)63;                                 \
    } while (0)
    size_t n = (size_t)t->n;
    for (int k = 0; k <= st->nl; k++) {
        size_t bytes = k == 0 ? st->layer[0].in_bytes
                              : st->layer[k - 1].out_bytes;
        int kept = k == 0 || full;
        if (kept)
            TAKE_BYTES(sl->act[k], n * bytes);
        int float_input = k > 0 || st->layer[0].ml->in.dtype == PP_F32;
        if ((full || k == st->nl) && float_input)
            TAKE_BYTES(sl->grad[k], n * bytes);
    }
    for (int l = 0; full && l < st->nl; l++)
        TAKE_BYTES(sl->saved[l], n * st->layer[l].ml->plan.saved_bytes);
    if (last)
        TAKE_BYTES(sl->target, n * pp_tensor_bytes(&t->data_info.target));
#undef TAKE_BYTES
    return at;
}

/* Everything about stage s that memory planning needs, before any of its
 * memory is allocated. */
static pp_status describe_stage(pp_trainer *t, int s, int slots,
                                pp_error *err)
{
    stage_rt *st = &t->stage[s];
    const pp_model *m = t->m;
    st->s = s;
    st->rank = m->plan->rank_of_stage[s];
    st->nl = t->first[s + 1] - t->first[s];
    st->layer = calloc((size_t)st->nl, sizeof *st->layer);
    if (!st->layer)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int l = 0; l < st->nl; l++) {
        layer_rt *lr = &st->layer[l];
        lr->index = t->first[s] + l;
        lr->ml = &m->layers[lr->index];
        const pp_layer_ops *ops = lr->ml->plugin->desc->ops;
        int cuda = t->rank[st->rank].cuda;
        lr->k = cuda ? ops->cuda : ops->cpu;
        if (!lr->k || !lr->k->forward)
            return pp_section_error(lr->ml->section, "type", err,
                "layer plugin '%s' has no %s kernels: it cannot run on a %s "
                "rank", lr->ml->plugin->desc->name, cuda ? "CUDA" : "CPU",
                cuda ? "cuda" : "cpu");
        lr->in_bytes = pp_tensor_bytes(&lr->ml->in);
        lr->out_bytes = pp_tensor_bytes(&lr->ml->plan.out);
        int np = lr->ml->plan.nparams;
        lr->param = calloc((size_t)np + 1, sizeof *lr->param);
        lr->grad = calloc((size_t)np + 1, sizeof *lr->grad);
        if (!lr->param || !lr->grad)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        st->nparams += (size_t)pp_layer_plan_params(&lr->ml->plan);
    }
    int last = s == t->S - 1;
    slot probe = {0};
    st->nslots = slots;
    st->full_slot_bytes = layout_slot(t, st, &probe, NULL, 1, last);
    st->lean_slot_bytes = layout_slot(t, st, &probe, NULL, 0, last);
    st->slot_bytes = t->o.recompute ? st->lean_slot_bytes
                                    : st->full_slot_bytes;
    st->scratch_bytes = t->o.recompute ? st->full_slot_bytes : 0;
    return PP_OK;
}

/* Device memory of `bytes`, zeroed. */
static pp_status device_zeroed(const rank_rt *rk, size_t bytes, void **ptr,
                               pp_error *err)
{
    pp_status st = rk->dev->alloc(rk->dr.index, bytes ? bytes : 1, ptr, err);
    if (!st)
        st = rk->dev->zero_async(&rk->dr, *ptr, bytes, err);
    if (!st)
        st = rk->dev->sync(&rk->dr, err);
    return st;
}

static pp_status allocate_stage(pp_trainer *t, int s, pp_error *err)
{
    stage_rt *st = &t->stage[s];
    const rank_rt *rk = &t->rank[st->rank];
    size_t state = st->nparams * (size_t)t->opt_plan.state_per_param;
    void *params, *grads, *opt;
    pp_status rc = device_zeroed(rk, st->nparams * sizeof(float), &params,
                                 err);
    st->params = params;
    if (!rc)
        rc = device_zeroed(rk, st->nparams * sizeof(float), &grads, err);
    st->grads = rc ? NULL : grads;
    if (!rc)
        rc = device_zeroed(rk, state * sizeof(float), &opt, err);
    st->opt = rc ? NULL : opt;
    if (rc)
        return pp_error_prefix(err, "stage %d's %zu parameters", s,
                               st->nparams);
    /* Parameters are made on the host (the same numbers whatever the
     * device) and copied over once. */
    st->host_params = rk->cuda ? malloc(st->nparams * sizeof(float) + 1)
                               : st->params;
    if (!st->host_params)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    /* The parameters that take weight decay first, then the others, so
     * the optimizer serves both groups in one pass. */
    size_t at = 0;
    for (int nodecay = 0; nodecay < 2; nodecay++) {
        if (nodecay)
            st->ndecay = at;
        for (int l = 0; l < st->nl; l++) {
            layer_rt *lr = &st->layer[l];
            for (int i = 0; i < lr->ml->plan.nparams; i++) {
                const pp_param_decl *d = &lr->ml->plan.params[i];
                if (!(d->flags & PP_PARAM_NO_DECAY) != !nodecay)
                    continue;
                lr->param[i] = st->params + at;
                lr->grad[i] = st->grads + at;
                init_param(st->host_params + at, d, (uint64_t)t->m->seed,
                           lr->index, i);
                at += (size_t)pp_shape_elements(&d->shape);
            }
        }
    }
    if (rk->cuda && rk->dev->copy(rk->dr.index, st->params, st->host_params,
                                  st->nparams * sizeof(float),
                                  PP_COPY_HOST_TO_DEVICE, err))
        return err->code;

    int last = s == t->S - 1, full = !t->o.recompute, slots = st->nslots;
    st->slots = calloc((size_t)slots, sizeof *st->slots);
    if (!st->slots)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    void *memory;
    if (rk->dev->alloc(rk->dr.index,
                       st->slot_bytes * (size_t)slots + st->scratch_bytes +
                           64,
                       &memory, err))
        return pp_error_prefix(err, "stage %d's %d activation slots of %zu "
                               "bytes", s, slots, st->slot_bytes);
    st->memory = memory;
    slot *all[2] = {st->slots, &st->scratch};
    for (int k = 0; k < slots + !full; k++) {
        slot *sl = k < slots ? &all[0][k] : all[1];
        sl->mb = -1;
        sl->act = calloc((size_t)st->nl + 1, sizeof *sl->act);
        sl->grad = calloc((size_t)st->nl + 1, sizeof *sl->grad);
        sl->saved = calloc((size_t)st->nl + 1, sizeof *sl->saved);
        if (!sl->act || !sl->grad || !sl->saved)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        int is_scratch = k == slots;
        layout_slot(t, st, sl, st->memory + st->slot_bytes * (size_t)k,
                    full || is_scratch, last);
    }
    return PP_OK;
}

/* What each rank needs besides its stages: the timing events of its
 * program; on a GPU, the page-locked ring the data goes through, the
 * per-micro-batch losses, and host staging for the messages of a host
 * transport. */
static pp_status allocate_rank_buffers(pp_trainer *t, pp_error *err)
{
    size_t data = (size_t)t->n * (pp_tensor_bytes(&t->data_info.input) >
                                          pp_tensor_bytes(&t->data_info.target)
                                      ? pp_tensor_bytes(&t->data_info.input)
                                      : pp_tensor_bytes(&t->data_info.target));
    for (int s = 0; s < t->S; s++) {
        const stage_rt *st = &t->stage[s];
        rank_rt *rk = &t->rank[st->rank];
        size_t in = (size_t)t->n * st->layer[0].in_bytes;
        size_t out = (size_t)t->n * st->layer[st->nl - 1].out_bytes;
        size_t need = in > out ? in : out;
        if (need > rk->staging_bytes)
            rk->staging_bytes = need;
        if (s == 0 || s == t->S - 1)
            rk->ring_bytes = data;
    }
    for (int r = 0; r < t->p; r++) {
        rank_rt *rk = &t->rank[r];
        const pp_device_ops *dev = rk->dev;
        int host_link = 0;
        for (int q = 0; q < t->p; q++)
            host_link |= t->route[r * t->p + q] == PP_VIA_LOCAL ||
                         t->route[q * t->p + r] == PP_VIA_LOCAL;
        /* Page-locked, so that the copy out of it is queued like any
         * other and the host waits for it only when it refills the buffer
         * (pageable memory gives no such promise: the CUDA runtime may or
         * may not have read it when cudaMemcpyAsync returns). */
        if (rk->cuda && host_link &&
            (dev->host_alloc(rk->staging_bytes, (void **)&rk->staging,
                             err) ||
             dev->event_create(&rk->dr, 0, &rk->staged, err)))
            return pp_error_prefix(err, "rank %d: message staging", r);
        if (rk->cuda && rk->ring_bytes &&
            pp_data_ring_open(&rk->ring, dev, &rk->dr, t->data,
                              t->data_state, t->n, rk->ring_bytes, err))
            return pp_error_prefix(err, "rank %d", r);
        if (dev->alloc(rk->dr.index, (size_t)t->mbs * sizeof(float),
                       (void **)&rk->loss, err) ||
            dev->host_alloc((size_t)t->mbs * sizeof(float),
                            (void **)&rk->loss_host, err))
            return pp_error_prefix(err, "rank %d", r);
        /* The micro-batch whose data the program reads first: the one
         * to prefetch for the next step. */
        const pp_program *prog = &t->m->plan->prog[r];
        rk->prefetch_mb[PP_RING_INPUT] = rk->prefetch_mb[PP_RING_TARGET] = -1;
        for (int i = prog->n - 1; i >= 0; i--) {
            const pp_task *task = &prog->ins[i].task;
            if (prog->ins[i].kind != PP_INS_COMPUTE || task->op != PP_OP_F)
                continue;
            if (task->stage == 0)
                rk->prefetch_mb[PP_RING_INPUT] = task->mb;
            if (task->stage == t->S - 1)
                rk->prefetch_mb[PP_RING_TARGET] = task->mb;
        }
        int marks = prog->n + 2;
        if (!(rk->mark = calloc((size_t)marks, sizeof *rk->mark)))
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        for (; rk->nmarks < marks; rk->nmarks++)
            if (dev->event_create(&rk->dr, 1, &rk->mark[rk->nmarks], err))
                return pp_error_prefix(err, "rank %d", r);
    }
    return PP_OK;
}

/* Each rank's device, its stream and handles. A GPU that does not answer
 * is an error at the devices key: the file names hardware this machine
 * does not have. */
static pp_status open_devices(pp_trainer *t, pp_section *pipe, pp_error *err)
{
    const pp_model *m = t->m;
    const pp_device_ops *cuda = NULL;
    int gpus = 0;
    char why[512] = "";
    for (int r = 0; r < t->p; r++) {
        rank_rt *rk = &t->rank[r];
        const pp_device_spec *d = &m->devices[r];
        if (d->kind == PP_DEV_CPU) {
            rk->dev = pp_device_cpu();
        } else {
            if (!cuda) {
                const pp_plugin *plugin;
                if (pp_registry_find(m->registry, PP_KIND_DEVICE, "cuda",
                                     &plugin, err))
                    return err->code;
                cuda = plugin->desc->ops;
                if (cuda->count(&gpus, why, sizeof why, err))
                    return err->code;
            }
            if (d->index >= gpus)
                return pp_section_error(pipe, "devices", err,
                    "cuda:%d: %s", d->index,
                    gpus == 0 ? (why[0] ? why : "no GPU answers")
                              : "there is no GPU with that index");
            if (!t->opt->step_cuda)
                return pp_error_set(err, PP_ERR_PLUGIN,
                    "optimizer '%s' has no CUDA update: it cannot run on "
                    "cuda ranks", m->optimizer);
            rk->dev = cuda;
            rk->cuda = 1;
        }
        int index = d->kind == PP_DEV_CPU ? 0 : d->index;
        if (rk->dev->rank_open(index, &rk->dr, err))
            return pp_error_prefix(err, "rank %d", r);
        rk->opened = 1;
    }
    return PP_OK;
}

static pp_status resolve_plugins(pp_trainer *t, pp_error *err)
{
    pp_model *m = t->m;
    pp_section *train = pp_config_section(m->cfg, "train");
    pp_section *data = pp_config_section(m->cfg, "data");
    pp_section *pipe = pp_config_section(m->cfg, "pipeline");
    if (!train || !data)
        return pp_error_set(err, PP_ERR_CONFIG,
            "%s: training needs a [train] section and a [data] section",
            m->cfg->path);
    const pp_plugin *plugin;
    pp_status st = pp_registry_find(m->registry, PP_KIND_OPTIMIZER,
                                    m->optimizer, &plugin, err);
    if (st)
        return st;
    t->opt = plugin->desc->ops;
    if ((st = t->opt->plan(train, &t->opt_plan, err)))
        return st;
    if ((st = pp_registry_find(m->registry, PP_KIND_DATA, m->source, &plugin,
                               err)))
        return st;
    t->data = plugin->desc->ops;
    if ((st = t->data->open(data, (uint64_t)m->seed, &t->data_state,
                            &t->data_info, err)))
        return st;
    if ((st = open_devices(t, pipe, err)))
        return st;
    return pp_transports_plan(t, pipe, err);
}

/* The data source and the model must agree on what a sample is. */
static pp_status check_data(const pp_trainer *t, pp_error *err)
{
    const pp_model *m = t->m;
    char a[64], b[64];
    const pp_tensor_desc *in = &t->data_info.input;
    if (in->dtype != m->input.dtype ||
        pp_shape_elements(&in->shape) != pp_shape_elements(&m->input.shape))
        return pp_section_error(pp_config_section(m->cfg, "model"), "input",
            err, "the data source gives %s samples of shape %s, the model "
            "takes %s of shape %s: make input (and input_type) match",
            in->dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&in->shape, a, sizeof a),
            m->input.dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&m->input.shape, b, sizeof b));
    const pp_layer_plan *first = &m->layers[0].plan;
    if (first->in_ids && t->data_info.input_ids > first->in_ids)
        return pp_section_error(m->layers[0].section, NULL, err,
            "the data source's ids go up to %lld, this layer takes ids "
            "below %lld: a larger vocabulary would take them all",
            (long long)t->data_info.input_ids - 1,
            (long long)first->in_ids);
    const pp_layer_plan *loss = &m->layers[m->nlayers - 1].plan;
    if (loss->target_ids && t->data_info.target_ids > loss->target_ids)
        return pp_section_error(m->layers[m->nlayers - 1].section, NULL, err,
            "the data source's targets go up to %lld, this loss takes "
            "classes below %lld: the layer before it needs %lld outputs",
            (long long)t->data_info.target_ids - 1,
            (long long)loss->target_ids,
            (long long)t->data_info.target_ids);
    const pp_tensor_desc *tg = &t->data_info.target;
    if (tg->dtype != loss->target.dtype ||
        pp_shape_elements(&tg->shape) != pp_shape_elements(&loss->target.shape))
        return pp_section_error(m->layers[m->nlayers - 1].section, "type",
            err, "the data source's targets are %s of shape %s, the loss "
            "takes %s of shape %s",
            tg->dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&tg->shape, a, sizeof a),
            loss->target.dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&loss->target.shape, b, sizeof b));
    return PP_OK;
}

pp_status pp_trainer_create(pp_model *m, const pp_train_opts *opts,
                            pp_trainer **out, pp_error *err)
{
    *out = NULL;
    if (!m->has_train || !m->has_data)
        return pp_error_set(err, PP_ERR_CONFIG,
            "%s: training needs a [train] section and a [data] section",
            m->cfg->path);
    pp_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    t->m = m;
    t->o = *opts;
    t->p = m->nranks;
    t->mbs = m->microbatches;
    t->S = m->plan->S;
    t->n = (int)(m->batch / m->microbatches);
    t->steps = opts->steps > 0 ? opts->steps : m->steps;
    t->log_every = opts->log_every > 0 ? opts->log_every : m->log_every;
    pthread_mutex_init(&t->fail_lock, NULL);
    t->rank = calloc((size_t)t->p, sizeof *t->rank);
    pp_status st = t->rank ? resolve_plugins(t, err)
                           : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!st)
        st = check_data(t, err);
    int64_t targets = m->batch *
        pp_shape_elements(&m->layers[m->nlayers - 1].plan.target.shape);
    t->loss_scale = 1.0 / (double)targets;
    t->first = calloc((size_t)t->S + 1, sizeof *t->first);
    t->stage = calloc((size_t)t->S, sizeof *t->stage);
    t->loss = calloc((size_t)t->steps, sizeof *t->loss);
    t->busy = calloc((size_t)t->p * 2, sizeof *t->busy);
    int *slots = calloc((size_t)t->S, sizeof *slots);
    if (!st && (!t->first || !t->stage || !t->loss || !t->busy || !slots))
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!st)
        st = pp_partition_layers(m, t->S, t->first, err);
    for (int r = 0; !st && r < t->p; r++)
        count_slots(t, r, slots);
    for (int s = 0; !st && s < t->S; s++)
        st = describe_stage(t, s, slots[s] > 0 ? slots[s] : 1, err);
    if (!st)
        st = pp_check_memory(t, err);
    for (int s = 0; !st && s < t->S; s++)
        st = allocate_stage(t, s, err);
    if (!st)
        st = allocate_rank_buffers(t, err);
    pp_costs costs = pp_costs_default();
    if (!st)
        st = pp_simulate(m->plan, &costs, &t->planned, err);
    if (!st && opts->trace) {
        t->trace = calloc((size_t)t->p, sizeof *t->trace);
        if (!t->trace)
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    free(slots);
    if (st) {
        pp_trainer_free(t);
        return st;
    }
    *out = t;
    return PP_OK;
}

void pp_trainer_free(pp_trainer *t)
{
    if (!t)
        return;
    for (int s = 0; t->stage && s < t->S; s++) {
        stage_rt *st = &t->stage[s];
        for (int k = 0; st->slots && k <= st->nslots; k++) {
            slot *sl = k < st->nslots ? &st->slots[k] : &st->scratch;
            free(sl->act);
            free(sl->grad);
            free(sl->saved);
        }
        free(st->slots);
        for (int l = 0; st->layer && l < st->nl; l++) {
            free(st->layer[l].param);
            free(st->layer[l].grad);
        }
        free(st->layer);
        const rank_rt *rk = t->rank ? &t->rank[st->rank] : NULL;
        if (rk && rk->dev) {
            if (rk->cuda)
                free(st->host_params);
            rk->dev->release(rk->dr.index, st->memory);
            rk->dev->release(rk->dr.index, st->params);
            rk->dev->release(rk->dr.index, st->grads);
            rk->dev->release(rk->dr.index, st->opt);
        }
    }
    for (int r = 0; t->rank && r < t->p; r++) {
        rank_rt *rk = &t->rank[r];
        if (!rk->opened)
            continue;
        const pp_device_ops *dev = rk->dev;
        if (rk->ring.dev)
            pp_data_ring_close(&rk->ring);
        for (int i = 0; i < rk->nmarks; i++)
            dev->event_destroy(&rk->dr, rk->mark[i]);
        free(rk->mark);
        if (rk->loss)
            dev->release(rk->dr.index, rk->loss);
        if (rk->loss_host)
            dev->host_release(rk->loss_host);
        if (rk->staged)
            dev->event_destroy(&rk->dr, rk->staged);
        if (rk->staging)
            dev->host_release(rk->staging);
        dev->rank_close(&rk->dr);
    }
    pp_transports_free(t);
    free(t->rank);
    if (t->data && t->data_state)
        t->data->close(t->data_state);
    for (int r = 0; t->trace && r < t->p; r++)
        free(t->trace[r].span);
    free(t->trace);
    pp_sim_free(t->planned);
    pp_optimizer_plan_release(&t->opt_plan);
    pthread_mutex_destroy(&t->fail_lock);
    free(t->stage);
    free(t->first);
    free(t->loss);
    free(t->busy);
    free(t);
}

double pp_trainer_loss(const pp_trainer *t, int64_t step)
{
    return step >= 0 && step < t->steps ? t->loss[step] : NAN;
}

const float *pp_trainer_param(const pp_trainer *t, int layer, int param,
                              size_t *n)
{
    for (int s = 0; s < t->S; s++) {
        const stage_rt *st = &t->stage[s];
        for (int l = 0; l < st->nl; l++) {
            const layer_rt *lr = &st->layer[l];
            if (lr->index != layer || param >= lr->ml->plan.nparams)
                continue;
            *n = (size_t)pp_shape_elements(&lr->ml->plan.params[param].shape);
            const rank_rt *rk = &t->rank[st->rank];
            pp_error ignore;
            if (rk->cuda &&
                rk->dev->copy(rk->dr.index, st->host_params, st->params,
                              st->nparams * sizeof(float),
                              PP_COPY_DEVICE_TO_HOST, &ignore))
                return NULL;
            return st->host_params + (lr->param[param] - st->params);
        }
    }
    *n = 0;
    return NULL;
}
