/* src/runtime.c - a trainer: plugins resolved, layers cut into stages,
 * every buffer allocated and parameters initialised, before step 1. The
 * ranks' threads are in runtime_run.c. */
#define _GNU_SOURCE /* clock_gettime's CLOCK_MONOTONIC with -std=c11 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_plan.h"
#include "preflight.h"
#include "runtime_impl.h"

double pp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Stage s's layers, their kernels and state, and whether it recomputes:
 * all that placing its parameters and laying out its slots needs. */
static pp_status describe_stage(pp_trainer *t, int s, pp_error *err)
{
    stage_rt *st = &t->stage[s];
    const pp_model *m = t->m;
    rank_rt *rk = &t->rank[m->plan->rank_of_stage[s]];
    st->s = s;
    st->ms = s % m->stages;
    st->replica = s / m->stages;
    st->last = st->ms == m->stages - 1;
    st->rank = m->plan->rank_of_stage[s];
    st->recompute = t->o.recompute || m->recompute[st->ms];
    st->nl = m->first[st->ms + 1] - m->first[st->ms];
    st->layer = calloc((size_t)st->nl, sizeof *st->layer);
    if (!st->layer)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int l = 0; l < st->nl; l++) {
        layer_rt *lr = &st->layer[l];
        lr->index = m->first[st->ms] + l;
        lr->ml = &m->layers[lr->index];
        const pp_layer_ops *ops = lr->ml->plugin->ops;
        lr->k = rk->cuda ? ops->cuda : ops->cpu; /* pp_preflight_check */
        int np = lr->ml->plan.nparams;
        lr->param = calloc((size_t)np + 1, sizeof *lr->param);
        lr->grad = calloc((size_t)np + 1, sizeof *lr->grad);
        lr->param_bf16 = calloc((size_t)np + 1, sizeof *lr->param_bf16);
        if (!lr->param || !lr->grad || !lr->param_bf16)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        size_t work = (size_t)t->n * lr->ml->plan.workspace_bytes;
        if (work > rk->workspace_bytes)
            rk->workspace_bytes = work;
    }
    return PP_OK;
}

/* Each layer's state, made by its kernels' init from a call without
 * buffers, on its rank's device. */
static pp_status init_layers(pp_trainer *t, int s, pp_error *err)
{
    stage_rt *st = &t->stage[s];
    const rank_rt *rk = &t->rank[st->rank];
    if (!rk->local)
        return PP_OK;
    if (rk->dev->use(rk->dr.index, err))
        return err->code;
    for (int l = 0; l < st->nl; l++) {
        layer_rt *lr = &st->layer[l];
        if (!lr->k->init)
            continue;
        pp_layer_call c = {.plan = &lr->ml->plan, .nin = lr->ml->nin,
                           .in = lr->ml->in, .n = t->n,
                           .loss_scale = t->loss_scale, .training = 1,
                           .stream = rk->dr.stream, .blas = rk->dr.blas,
                           .dnn = rk->dr.dnn, .precision = t->m->precision};
        if (lr->k->init(&c, &lr->state, err)) {
            /* Located, but the device's failure: its code. */
            pp_error why = *err;
            pp_error_clear(err);
            pp_section_error(lr->ml->section, NULL, err,
                "%s could not make its state: %s",
                lr->ml->plugin->desc->name, why.msg);
            return err->code = why.code;
        }
    }
    return PP_OK;
}

/* Slots by the memory pass: a stage that recomputes keeps only its kept
 * part per slot, and its work part lives in the rank's scratch. */
static pp_status plan_memory(pp_trainer *t, pp_error *err)
{
    double *bytes = calloc((size_t)t->S, sizeof *bytes);
    if (!bytes)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int s = 0; s < t->S; s++) {
        stage_rt *st = &t->stage[s];
        rank_rt *rk = &t->rank[st->rank];
        st->slot_bytes = st->keep_bytes + (st->recompute ? 0 : st->work_bytes);
        bytes[s] = (double)st->slot_bytes;
        if (st->recompute && st->work_bytes > rk->scratch_bytes)
            rk->scratch_bytes = st->work_bytes;
    }
    pp_status rc = pp_memplan_build(t->m->plan, bytes, &t->mem, err);
    free(bytes);
    if (!rc)
        rc = pp_memplan_verify(t->m->plan, t->mem, err);
    for (int s = 0; !rc && s < t->S; s++)
        t->stage[s].nslots = t->mem->nslots[s];
    return rc;
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
    rank_rt *rk = &t->rank[st->rank];
    if (!rk->local)
        return PP_OK;
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
    void *copy = NULL;
    if (!rc && t->m->precision == PP_PRECISION_BF16)
        rc = device_zeroed(rk, st->nparams * sizeof(pp_bf16), &copy, err);
    st->params_bf16 = copy;
    if (rc)
        return pp_error_prefix(err, "stage %d's %zu parameters", s,
                               st->nparams);
    /* Parameters are made on the host (the same numbers whatever the
     * device) and copied over once. */
    st->host_params = rk->cuda ? malloc(st->nparams * sizeof(float) + 1)
                               : st->params;
    if (!st->host_params)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (pp_init_params(t, s, err) || pp_init_state(t, s, err))
        return err->code;

    st->slots = calloc((size_t)st->nslots, sizeof *st->slots);
    if (!st->slots)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    void *memory;
    if (rk->dev->alloc(rk->dr.index, st->slot_bytes * (size_t)st->nslots + 64,
                       &memory, err))
        return pp_error_prefix(err, "stage %d's %d activation slots of %zu "
                               "bytes", s, st->nslots, st->slot_bytes);
    st->memory = memory;
    return PP_OK;
}

/* The slots point into their stage's memory, or (the work part of a stage
 * that recomputes) into the rank's scratch. */
static void point_slots(pp_trainer *t)
{
    for (int s = 0; s < t->S; s++) {
        stage_rt *st = &t->stage[s];
        for (int k = 0; t->rank[st->rank].local && k < st->nslots; k++) {
            slot *sl = &st->slots[k];
            sl->mb = -1;
            sl->keep = st->memory + st->slot_bytes * (size_t)k;
            sl->work = st->recompute ? t->rank[st->rank].scratch
                                     : sl->keep + st->keep_bytes;
        }
    }
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
    /* Float samples, made in FP32, enter a bf16 model rounded. */
    size_t bf16_inputs =
        t->m->tensors[0].desc.dtype == PP_BF16
            ? (size_t)t->n * (size_t)pp_shape_elements(&t->m->input.shape)
            : 0;
    for (int s = 0; s < t->S; s++) {
        const stage_rt *st = &t->stage[s];
        rank_rt *rk = &t->rank[st->rank];
        size_t need = st->in_bytes > st->out_bytes ? st->in_bytes
                                                   : st->out_bytes;
        need = need > rk->sum_bytes ? need : rk->sum_bytes;
        size_t norm = (PP_NORM_PARTS + (size_t)t->mbs) * sizeof(float);
        if (t->m->grad_norm && need < norm)
            need = norm;
        if (need > rk->staging_bytes)
            rk->staging_bytes = need;
        if (st->ms == 0 || st->last)
            rk->ring_bytes = data;
    }
    for (int r = 0; r < t->p; r++) {
        rank_rt *rk = &t->rank[r];
        const pp_device_ops *dev = rk->dev;
        if (!rk->local)
            continue;
        int host_link = 0;
        for (int q = 0; q < t->p; q++)
            host_link |= pp_route_on_host(t, r, q) ||
                         pp_route_on_host(t, q, r);
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
                              t->data_state, t->n, rk->ring_bytes,
                              bf16_inputs, err))
            return pp_error_prefix(err, "rank %d", r);
        int first = 0;
        for (int s = 0; s < t->S; s++)
            first |= t->stage[s].rank == r && t->stage[s].ms == 0;
        if (!rk->cuda && bf16_inputs && first &&
            !(rk->inputs = malloc(bf16_inputs * sizeof(float))))
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        size_t norm = PP_NORM_PARTS + (size_t)t->mbs;
        size_t losses = (size_t)t->mbs + (t->m->grad_norm ? 3 * norm : 0);
        if (dev->alloc(rk->dr.index, losses * sizeof(float),
                       (void **)&rk->loss, err) ||
            dev->host_alloc(losses * sizeof(float), (void **)&rk->loss_host,
                            err))
            return pp_error_prefix(err, "rank %d", r);
        rk->norm = t->m->grad_norm ? rk->loss + t->mbs : NULL;
        rk->norm_a = t->m->grad_norm ? rk->norm + norm : NULL;
        rk->norm_b = t->m->grad_norm ? rk->norm_a + norm : NULL;
        void *scratch = NULL, *work = NULL, *sa = NULL, *sb = NULL;
        if ((rk->scratch_bytes &&
             dev->alloc(rk->dr.index, rk->scratch_bytes, &scratch, err)) ||
            (rk->workspace_bytes &&
             dev->alloc(rk->dr.index, rk->workspace_bytes, &work, err)) ||
            (rk->sum_bytes &&
             (dev->alloc(rk->dr.index, rk->sum_bytes, &sa, err) ||
              dev->alloc(rk->dr.index, rk->sum_bytes, &sb, err))))
            return pp_error_prefix(err, "rank %d", r);
        rk->scratch = scratch;
        rk->workspace = work;
        rk->sum_a = sa;
        rk->sum_b = sb;
        /* The micro-batch whose data the program reads first: the one
         * to prefetch for the next step. */
        const pp_program *prog = &t->m->plan->prog[r];
        rk->prefetch_mb[PP_RING_INPUT] = rk->prefetch_mb[PP_RING_TARGET] = -1;
        for (int i = prog->n - 1; i >= 0; i--) {
            const pp_task *task = &prog->ins[i].task;
            if (prog->ins[i].kind != PP_INS_COMPUTE || task->op != PP_OP_F)
                continue;
            const stage_rt *st = &t->stage[task->stage];
            if (st->ms == 0)
                rk->prefetch_mb[PP_RING_INPUT] = pp_batch_mb(t, st, task->mb);
            if (st->last)
                rk->prefetch_mb[PP_RING_TARGET] = pp_batch_mb(t, st,
                                                              task->mb);
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

/* Each rank's device, its stream and handles. A device that does not
 * answer is said at the devices key, but it is this machine's failure,
 * not the file's (pipette check accepts the file): a device error. */
static pp_status open_devices(pp_trainer *t, pp_section *pipe, pp_error *err)
{
    const pp_model *m = t->m;
    for (int r = 0; r < t->p; r++) {
        rank_rt *rk = &t->rank[r];
        const pp_device_spec *d = &m->devices[r];
        int n = 0;
        char why[512] = "", text[96];
        rk->dev = d->plugin->ops;
        rk->cuda = rk->dev->memory == PP_MEMORY_CUDA;
        if (!rk->local)
            continue; /* another process opens it */
        if (rk->dev->count(&n, why, sizeof why, err))
            return err->code;
        pp_device_text(d, text, sizeof text);
        /* Across processes, the host whose devices these are. */
        char on[96] = "";
        if (m->processes > 1)
            snprintf(on, sizeof on, " on %s (rank %d)",
                     t->o.job->host[t->me], r);
        if (n == 0) {
            pp_section_error(pipe, "devices", err, "%s%s: %s", text, on,
                             why[0] ? why : "no device answers");
            return err->code = PP_ERR_DEVICE;
        }
        if (d->index >= n) {
            pp_section_error(pipe, "devices", err,
                "%s%s: there is no device with that index (the %s plugin "
                "counts %d)", text, on, d->name, n);
            return err->code = PP_ERR_DEVICE;
        }
        if (rk->cuda && m->precision != PP_PRECISION_FP32) {
            pp_device_info info;
            if (rk->dev->info(d->index, &info, err))
                return err->code;
            if (info.cc_major < 8) {
                pp_section_error(pp_config_section(m->cfg, "train"),
                    "precision", err,
                    "%s (%s) has compute capability %d.%d: %s needs tensor "
                    "cores that have it, from 8.0 (Ampere) on; use fp32",
                    text, info.name, info.cc_major, info.cc_minor,
                    pp_precision_name(m->precision));
                return err->code = PP_ERR_DEVICE;
            }
        }
        if (rk->dev->rank_open(d->index, &rk->dr, err))
            return pp_error_prefix(err, "rank %d", r);
        rk->opened = 1;
    }
    return PP_OK;
}

/* The optimizer and the data source as pp_preflight_check planned and
 * opened them (the trainer frees them), then the devices and transports.
 * Process 0 writes the outputs: it asks whether they can be. */
static pp_status resolve_plugins(pp_trainer *t, pp_error *err)
{
    pp_preflight pre;
    pp_outputs out = {t->o.trace, t->o.eval};
    pp_status st = pp_preflight_check(t->m, t->me == 0 ? &out : NULL, &pre,
                                      err);
    if (st)
        return st;
    t->opt = pre.opt;
    t->opt_plan = pre.opt_plan;
    t->data = pre.data;
    t->data_state = pre.data_state;
    t->data_info = pre.data_info;
    if ((st = open_devices(t, pp_config_section(t->m->cfg, "pipeline"),
                           err)))
        return st;
    return pp_transports_plan(t, err);
}

pp_status pp_trainer_create(pp_model *m, const pp_train_opts *opts,
                            pp_trainer **out, pp_error *err)
{
    *out = NULL;
    pp_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    t->m = m;
    t->o = *opts;
    pp_status st = PP_OK;
    if (!opts->job && (st = pp_job_single(&t->alone, err))) {
        free(t);
        return st;
    }
    if (!opts->job)
        t->o.job = &t->alone;
    t->me = t->o.job->place.process;
    if (m->processes != t->o.job->place.processes) {
        st = pp_error_set(err, PP_ERR_RUNTIME,
            "the model's ranks are placed on %d processes, but %d run it",
            m->processes, t->o.job->place.processes);
        pp_job_leave(&t->alone);
        free(t);
        return st;
    }
    t->p = m->nranks;
    t->mbs = m->microbatches;
    t->S = m->plan->S;
    t->n = (int)(m->batch / ((int64_t)m->microbatches * m->data));
    t->steps = opts->steps > 0 ? opts->steps : m->steps;
    t->log_every = opts->log_every > 0 ? opts->log_every : m->log_every;
    pthread_mutex_init(&t->fail_lock, NULL);
    t->rank = calloc((size_t)t->p, sizeof *t->rank);
    for (int r = 0; t->rank && r < t->p; r++) {
        t->rank[r].local = m->process_of[r] == t->me;
        t->nlocal += t->rank[r].local;
    }
    st = t->rank ? resolve_plugins(t, err)
                 : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    int64_t targets = m->batch *
        pp_shape_elements(&m->layers[m->nlayers - 1].plan.target.shape);
    t->loss_scale = 1.0 / (double)targets;
    t->stage = calloc((size_t)t->S, sizeof *t->stage);
    t->busy = calloc((size_t)t->p * 2, sizeof *t->busy);
    t->replica_loss = calloc((size_t)m->data, sizeof *t->replica_loss);
    if (!st && (!t->stage || !t->busy || !t->replica_loss))
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int s = 0; !st && s < t->S; s++)
        st = describe_stage(t, s, err);
    if (!st)
        st = pp_place_params(t, err);
    if (!st)
        st = pp_plan_sums(t, err);
    if (!st && opts->init)
        st = pp_checkpoint_load(t, opts->init, opts->resume, err);
    for (int s = 0; !st && s < t->S; s++)
        st = pp_layout_stage(t, &t->stage[s], err);
    if (!st)
        st = plan_memory(t, err);
    if (!st)
        st = pp_check_memory(t, err);
    for (int s = 0; !st && s < t->S; s++)
        st = allocate_stage(t, s, err);
    if (!st)
        st = allocate_rank_buffers(t, err);
    if (!st)
        point_slots(t);
    for (int s = 0; !st && s < t->S; s++)
        st = init_layers(t, s, err);
    pp_costs costs = pp_costs_default();
    if (!st)
        st = pp_simulate(m->plan, &costs, t->mem, &t->planned, err);
    if (!st && opts->trace) {
        t->trace = calloc((size_t)t->p, sizeof *t->trace);
        if (!t->trace)
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        /* Its first steps, as many as trace_bytes of spans hold. */
        size_t per_step = 1;
        for (int r = 0; r < t->p; r++)
            per_step += (size_t)m->plan->prog[r].n * sizeof(pp_span);
        size_t most = opts->trace_bytes ? opts->trace_bytes : PP_TRACE_BYTES;
        t->trace_until = t->first_step + (int64_t)(most / per_step);
    }
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
        free(st->slots);
        free(st->own);
        free(st->pass);
        free(st->gpass);
        for (int l = 0; st->layer && l < st->nl; l++) {
            layer_rt *lr = &st->layer[l];
            if (lr->state && lr->k->destroy)
                lr->k->destroy(lr->state);
            free(lr->param);
            free(lr->grad);
            free(lr->param_bf16);
            free(lr->x);
            free(lr->dx);
            free(lr->xp);
            free(lr->dxp);
            free(lr->zero);
        }
        free(st->layer);
        const rank_rt *rk = t->rank ? &t->rank[st->rank] : NULL;
        if (rk && !rk->local)
            free(st->host_params); /* gathered from another process */
        if (rk && rk->opened) {
            if (rk->cuda)
                free(st->host_params);
            rk->dev->release(rk->dr.index, st->memory);
            rk->dev->release(rk->dr.index, st->params);
            rk->dev->release(rk->dr.index, st->grads);
            rk->dev->release(rk->dr.index, st->opt);
            if (st->params_bf16)
                rk->dev->release(rk->dr.index, st->params_bf16);
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
        free(rk->inputs);
        if (rk->staged)
            dev->event_destroy(&rk->dr, rk->staged);
        if (rk->staging)
            dev->host_release(rk->staging);
        if (rk->scratch)
            dev->release(rk->dr.index, rk->scratch);
        if (rk->workspace)
            dev->release(rk->dr.index, rk->workspace);
        if (rk->sum_a)
            dev->release(rk->dr.index, rk->sum_a);
        if (rk->sum_b)
            dev->release(rk->dr.index, rk->sum_b);
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
    pp_memplan_free(t->mem);
    pp_optimizer_plan_release(&t->opt_plan);
    pthread_mutex_destroy(&t->fail_lock);
    free(t->stage);
    free(t->ref_base);
    free(t->home);
    free(t->from);
    free(t->from_state);
    free(t->from_at);
    free(t->resumed);
    free(t->sum);
    free(t->replica_loss);
    free(t->busy);
    pp_job_leave(&t->alone);
    free(t);
}

int64_t pp_trainer_steps_done(const pp_trainer *t)
{
    return t->done;
}

double pp_trainer_loss(const pp_trainer *t, int64_t step)
{
    return step >= t->first_step && step < t->done &&
                   step >= t->done - PP_LOSSES_KEPT
               ? t->loss[step % PP_LOSSES_KEPT] : NAN;
}

double pp_trainer_mean_loss(const pp_trainer *t)
{
    return t->done > t->first_step
               ? t->loss_sum / (double)(t->done - t->first_step) : NAN;
}

int64_t pp_trainer_first_step(const pp_trainer *t)
{
    return t->first_step;
}

int64_t pp_trainer_traced_steps(const pp_trainer *t)
{
    if (!t->trace)
        return 0;
    return (t->done < t->trace_until ? t->done : t->trace_until) -
           t->first_step;
}
