/* src/runtime_tasks.c - a rank's tasks on its stages: the slots the
 * memory plan gives each micro-batch, the forward and the backward of a
 * stage's layers over them, and the data a first or last stage reads.
 * The ranks' threads, their messages and steps are in runtime_run.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

static pp_status no_slot(rank_ctx *x, const stage_rt *st, int mb,
                         const slot *sl)
{
    return pp_error_set(&x->err, PP_ERR_RUNTIME,
        "stage %d's slot for micro-batch %d is held by micro-batch %d: the "
        "memory plan and the program disagree", st->s, mb, sl->mb);
}

/* The slot the memory plan gives (stage, mb), taken by mb now if it was
 * free; the rank's count of slot bytes held follows. */
pp_status pp_take_slot(rank_ctx *x, stage_rt *st, int mb, slot **out)
{
    pp_trainer *t = x->t;
    slot *sl = &st->slots[t->mem->slot[(size_t)st->s * t->mbs + mb]];
    if (sl->mb != mb) {
        if (sl->mb >= 0)
            return no_slot(x, st, mb, sl);
        rank_rt *rk = &t->rank[x->r];
        sl->mb = mb;
        rk->live += (double)st->slot_bytes;
        if (rk->live > rk->hwm)
            rk->hwm = rk->live;
    }
    *out = sl;
    return PP_OK;
}

/* The slot (stage, mb) holds, which it must have taken. */
pp_status pp_find_slot(rank_ctx *x, stage_rt *st, int mb, slot **out)
{
    pp_trainer *t = x->t;
    slot *sl = &st->slots[t->mem->slot[(size_t)st->s * t->mbs + mb]];
    if (sl->mb != mb)
        return no_slot(x, st, mb, sl);
    *out = sl;
    return PP_OK;
}

/* Its memory stays as it is until the next take: a send after the task
 * that releases it still reads from it. */
static void release_slot(rank_ctx *x, stage_rt *st, slot *sl)
{
    sl->mb = -1;
    x->t->rank[x->r].live -= (double)st->slot_bytes;
}

static uint64_t layer_seed(const pp_trainer *t, int64_t step, int layer)
{
    uint64_t x = (uint64_t)t->m->seed * 0x9e3779b97f4a7c15ull;
    return x ^ ((uint64_t)step << 24) ^ (uint64_t)layer;
}

int pp_batch_mb(const pp_trainer *t, const stage_rt *st, int mb)
{
    return st->replica * t->mbs + mb;
}

/* A layer's call on micro-batch mb of stage st, and its inputs' (and
 * their gradients') addresses in slot sl, into lr->xp and lr->dxp. */
static pp_layer_call make_call(const rank_ctx *x, const stage_rt *st,
                               layer_rt *lr, const slot *sl, int mb)
{
    const pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    for (int k = 0; k < lr->ml->nin; k++) {
        lr->xp[k] = pp_slot_at(sl, lr->x[k]);
        lr->dxp[k] = pp_slot_at(sl, lr->dx[k]);
    }
    pp_layer_call c = {
        .plan = &lr->ml->plan,
        .nin = lr->ml->nin,
        .in = lr->ml->in,
        .n = t->n,
        .param = (const float *const *)lr->param,
        .grad = lr->grad,
        .saved = pp_slot_at(sl, lr->saved),
        .workspace = rk->workspace,
        .state = lr->state,
        .target = pp_slot_at(sl, st->target),
        .loss_scale = t->loss_scale,
        .seed = layer_seed(t, x->step, lr->index),
        .sample0 = (int64_t)pp_batch_mb(t, st, mb) * t->n,
        .training = !t->o.eval,
        .stream = rk->dr.stream,
        .blas = rk->dr.blas,
        .dnn = rk->dr.dnn,
        .precision = t->m->precision,
        .param_bf16 = st->params_bf16 ? lr->param_bf16 : NULL,
    };
    return c;
}

static pp_status copies(rank_ctx *x, const copy_rt *list, int n,
                        const slot *sl)
{
    const rank_rt *rk = &x->t->rank[x->r];
    for (int k = 0; k < n; k++)
        if (rk->dev->copy_async(&rk->dr, pp_slot_at(sl, list[k].to),
                                pp_slot_at(sl, list[k].from), list[k].bytes,
                                PP_COPY_DEVICE_TO_DEVICE, &x->err))
            return x->err.code;
    return PP_OK;
}

/* Whether n bytes of dtype at p (host memory) hold a value that is not
 * finite. */
static int nonfinite(const unsigned char *p, size_t n, pp_dtype dtype)
{
    for (size_t i = 0; dtype == PP_BF16 && i + 2 <= n; i += 2) {
        pp_bf16 v;
        memcpy(&v, p + i, sizeof v);
        if ((v & 0x7f80) == 0x7f80) /* the exponent all ones */
            return 1;
    }
    for (size_t i = 0; dtype == PP_F32 && i + 4 <= n; i += 4) {
        float v;
        memcpy(&v, p + i, sizeof v);
        if (!isfinite(v))
            return 1;
    }
    return 0;
}

/* The most bytes of device memory checked at once. */
#define CHECK_BYTES ((size_t)1 << 24)

/* Diagnosing a step (x->checking): whether `bytes` of dtype at p, in
 * the rank's device memory, hold a value that is not finite; if so,
 * where (layer, or -1 for the model's input; its output or gradients)
 * is kept when it is the earliest this rank has found. A GPU's are
 * copied out piece by piece, the device waited for: this runs once,
 * after a failure. */
static pp_status check(rank_ctx *x, const stage_rt *st, const pp_task *task,
                       int layer, int grad, const void *p, size_t bytes,
                       pp_dtype dtype)
{
    const pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    if (!p || !bytes || dtype == PP_I32)
        return PP_OK;
    int bad = 0;
    if (!rk->cuda) {
        bad = nonfinite(p, bytes, dtype);
    } else {
        unsigned char *copy = malloc(bytes < CHECK_BYTES ? bytes
                                                         : CHECK_BYTES);
        if (!copy)
            return pp_error_set(&x->err, PP_ERR_NOMEM, "out of memory");
        for (size_t at = 0; at < bytes && !bad; at += CHECK_BYTES) {
            size_t n = bytes - at < CHECK_BYTES ? bytes - at : CHECK_BYTES;
            if (rk->dev->copy_async(&rk->dr, copy,
                                    (const unsigned char *)p + at, n,
                                    PP_COPY_DEVICE_TO_HOST, &x->err) ||
                rk->dev->sync(&rk->dr, &x->err)) {
                free(copy);
                return x->err.code;
            }
            bad = nonfinite(copy, n, dtype);
        }
        free(copy);
    }
    /* The outputs in forward order (the input first), then the gradients
     * in backward order; each by micro-batch. */
    int64_t L = t->m->nlayers, mbs = (int64_t)t->m->data * t->mbs;
    int64_t key = (grad ? 2 * L - layer : layer + 1) * mbs +
                  pp_batch_mb(t, st, task->mb);
    if (bad && key < x->found.key)
        x->found = (pp_finding){key, layer, grad, x->r, *task};
    return PP_OK;
}

/* Diagnosing: a layer's input gradients (after backward_input) or its
 * parameters' (after backward_weight). */
static pp_status check_grads(rank_ctx *x, const stage_rt *st,
                             const pp_task *task, const layer_rt *lr,
                             int params)
{
    const pp_layer_plan *plan = &lr->ml->plan;
    size_t n = (size_t)x->t->n;
    for (int k = 0; !params && k < lr->ml->nin; k++)
        if (check(x, st, task, lr->index, 1, lr->dxp[k],
                  pp_tensor_bytes(&lr->ml->in[k]) * n,
                  lr->ml->in[k].dtype))
            return x->err.code;
    for (int q = 0; params && q < plan->nparams; q++)
        if (check(x, st, task, lr->index, 1, lr->grad[q],
                  (size_t)pp_shape_elements(&plan->params[q].shape) *
                      sizeof(float), PP_F32))
            return x->err.code;
    return PP_OK;
}

/* Forward of every layer of the stage into slot sl (its work part is the
 * scratch when the stage recomputes), then the tensors passing through
 * into the outgoing cut. The last stage's loss is kept on the device,
 * read once the step is over: reading it here would make the host wait
 * for every micro-batch. Diagnosing, each output is checked (not in a
 * backward's recompute: checked already). */
static pp_status forward_layers(rank_ctx *x, stage_rt *st, slot *sl, int mb,
                                int keep_loss, int checked)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    pp_task task = {PP_OP_F, mb, st->s};
    const pp_tensor_desc *input = &t->m->tensors[0].desc;
    if (checked && st->ms == 0 &&
        check(x, st, &task, -1, 0, pp_slot_at(sl, st->in), st->in_bytes,
              input->dtype))
        return x->err.code;
    for (int l = 0; l < st->nl; l++) {
        layer_rt *lr = &st->layer[l];
        pp_layer_call c = make_call(x, st, lr, sl, mb);
        void *y = pp_slot_at(sl, lr->y);
        if (lr->k->forward(&c, lr->xp, y, &x->err))
            return pp_error_prefix(&x->err, "layer %s", lr->ml->name);
        /* A loss's output is one float for the micro-batch. */
        const pp_layer_plan *plan = &lr->ml->plan;
        if (checked &&
            check(x, st, &task, lr->index, 0, y,
                  plan->is_loss ? sizeof(float)
                                : pp_tensor_bytes(&plan->out) *
                                      (size_t)t->n,
                  plan->is_loss ? PP_F32 : plan->out.dtype))
            return x->err.code;
    }
    if (copies(x, st->pass, st->npass, sl))
        return x->err.code;
    if (keep_loss)
        return rk->dev->copy_async(&rk->dr, rk->loss + mb,
                                   pp_slot_at(sl, st->loss), sizeof(float),
                                   PP_COPY_DEVICE_TO_DEVICE, &x->err);
    return PP_OK;
}

/* The input gradients down the stage (and the weights' too, for a whole
 * B): each layer after every later one that adds to its output's
 * gradient, each gradient zeroed just before the first layer adds to it
 * (kernels add), then the gradients of tensors passing through copied
 * into those sent back. */
static pp_status backward_layers(rank_ctx *x, stage_rt *st, slot *sl,
                                 const pp_task *task, int weights)
{
    int mb = task->mb;
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    if (st->recompute &&
        rk->dev->copy_async(&rk->dr, pp_slot_at(sl, st->gwork),
                            pp_slot_at(sl, st->gout), st->gout_bytes,
                            PP_COPY_DEVICE_TO_DEVICE, &x->err))
        return x->err.code;
    for (int l = st->nl - 1; l >= 0; l--) {
        layer_rt *lr = &st->layer[l];
        for (int k = 0; k < lr->nzero; k++)
            if (lr->zero[k].bytes &&
                rk->dev->zero_async(&rk->dr, pp_slot_at(sl, lr->zero[k].at),
                                    lr->zero[k].bytes, &x->err))
                return x->err.code;
        int wb = weights && lr->k->backward_weight;
        int wi = lr->wants_dx && lr->k->backward_input;
        if (!wb && !wi)
            continue;
        pp_layer_call c = make_call(x, st, lr, sl, mb);
        const void *y = pp_slot_at(sl, lr->y), *dy = pp_slot_at(sl, lr->dy);
        if ((wi && lr->k->backward_input(&c, lr->xp, y, dy, lr->dxp,
                                         &x->err)) ||
            (wb && lr->k->backward_weight(&c, lr->xp, y, dy, &x->err)))
            return pp_error_prefix(&x->err, "layer %s", lr->ml->name);
        if (x->checking && ((wi && check_grads(x, st, task, lr, 0)) ||
                            (wb && check_grads(x, st, task, lr, 1))))
            return x->err.code;
    }
    return copies(x, st->gpass, st->ngpass, sl);
}

static pp_status weights_only(rank_ctx *x, stage_rt *st, slot *sl,
                              const pp_task *task)
{
    for (int l = st->nl - 1; l >= 0; l--) {
        layer_rt *lr = &st->layer[l];
        if (!lr->k->backward_weight)
            continue;
        pp_layer_call c = make_call(x, st, lr, sl, task->mb);
        if (lr->k->backward_weight(&c, lr->xp, pp_slot_at(sl, lr->y),
                                   pp_slot_at(sl, lr->dy), &x->err))
            return pp_error_prefix(&x->err, "layer %s", lr->ml->name);
        if (x->checking && check_grads(x, st, task, lr, 1))
            return x->err.code;
    }
    return PP_OK;
}

/* A micro-batch's inputs or targets, made on the host: a cpu rank's slot
 * takes them directly; a GPU's go through its data ring. */
static pp_status read_data(rank_ctx *x, int64_t first, void *input,
                           void *target, size_t bytes)
{
    pp_trainer *t = x->t;
    rank_rt *rk = &t->rank[x->r];
    if (!rk->cuda && input && rk->inputs) {
        if (t->data->read(t->data_state, first, t->n, rk->inputs, NULL,
                          &x->err))
            return x->err.code;
        pp_row_store(input, PP_BF16, rk->inputs,
                     (int64_t)(bytes / sizeof(pp_bf16)));
        return PP_OK;
    }
    if (!rk->cuda)
        return t->data->read(t->data_state, first, t->n, input, target,
                             &x->err);
    return pp_data_ring_read(&rk->ring, first,
                             input ? PP_RING_INPUT : PP_RING_TARGET,
                             input ? input : target, bytes, &x->err);
}

/* A GPU rank makes the next step's first data while its device finishes
 * this step, instead of after it. */
pp_status pp_prefetch(rank_ctx *x)
{
    pp_trainer *t = x->t;
    rank_rt *rk = &t->rank[x->r];
    if (!rk->cuda || x->step + 1 >= t->steps)
        return PP_OK;
    for (int what = PP_RING_INPUT; what <= PP_RING_TARGET; what++) {
        int mb = rk->prefetch_mb[what];
        if (mb >= 0 &&
            pp_data_ring_prefetch(&rk->ring,
                                  pp_step_sample(t, x->step + 1) +
                                      (int64_t)mb * t->n,
                                  what, &x->err))
            return x->err.code;
    }
    return PP_OK;
}

pp_status pp_forward(rank_ctx *x, stage_rt *st, int mb, const void **out)
{
    pp_trainer *t = x->t;
    int s = st->s, last = st->last;
    slot *sl;
    if (pp_take_slot(x, st, mb, &sl))
        return x->err.code;
    int64_t first = pp_step_sample(t, x->step) +
                    (int64_t)pp_batch_mb(t, st, mb) * t->n;
    const rank_rt *rk = &t->rank[x->r];
    pp_status rc = PP_OK;
    if (st->ms == 0)
        rc = read_data(x, first, pp_slot_at(sl, st->in), NULL, st->in_bytes);
    if (!rc && last)
        rc = read_data(x, first, NULL, pp_slot_at(sl, st->target),
                       (size_t)t->n * pp_tensor_bytes(&t->data_info.target));
    if (!rc)
        rc = forward_layers(x, st, sl, mb, last, x->checking);
    if (rc)
        return rc;
    *out = pp_slot_at(sl, st->out);
    /* The next stage on this rank takes the outgoing cut over at once. */
    if (!last && t->stage[s + 1].rank == x->r) {
        stage_rt *next = &t->stage[s + 1];
        slot *ns;
        if (pp_take_slot(x, next, mb, &ns))
            return x->err.code;
        return rk->dev->copy_async(&rk->dr, pp_slot_at(ns, next->in), *out,
                                   st->out_bytes, PP_COPY_DEVICE_TO_DEVICE,
                                   &x->err);
    }
    return PP_OK;
}

pp_status pp_pass_backward(rank_ctx *x, stage_rt *st, const pp_task *task)
{
    slot *sl;
    if (pp_find_slot(x, st, task->mb, &sl))
        return x->err.code;
    if (task->op != PP_OP_BI)
        release_slot(x, st, sl);
    return PP_OK;
}

pp_status pp_backward(rank_ctx *x, stage_rt *st, const pp_task *task,
                      const void **out)
{
    pp_trainer *t = x->t;
    int s = st->s, mb = task->mb;
    slot *sl;
    if (pp_find_slot(x, st, mb, &sl))
        return x->err.code;
    /* A stage that recomputes rebuilds its forward first. */
    pp_status rc = st->recompute ? forward_layers(x, st, sl, mb, 0, 0)
                                 : PP_OK;
    if (!rc && task->op == PP_OP_BW) {
        /* With recompute the layers' output gradients are gone too:
         * rebuild the input-gradient chain before the weights. */
        if (st->recompute)
            rc = backward_layers(x, st, sl, task, 0);
        if (!rc)
            rc = weights_only(x, st, sl, task);
        release_slot(x, st, sl);
        return rc;
    }
    if (!rc)
        rc = backward_layers(x, st, sl, task, task->op == PP_OP_B);
    if (rc)
        return rc;
    *out = pp_slot_at(sl, st->gin);
    if (st->ms > 0 && t->stage[s - 1].rank == x->r) {
        stage_rt *prev = &t->stage[s - 1];
        slot *ps;
        if (pp_find_slot(x, prev, mb, &ps))
            return x->err.code;
        const rank_rt *rk = &t->rank[x->r];
        if (rk->dev->copy_async(&rk->dr, pp_slot_at(ps, prev->gout), *out,
                                st->gin_bytes, PP_COPY_DEVICE_TO_DEVICE,
                                &x->err))
            return x->err.code;
    }
    if (task->op == PP_OP_B)
        release_slot(x, st, sl);
    return PP_OK;
}
