/* src/runtime_run.c - the ranks at work: one thread per rank runs its
 * lowered program once per step (its compute tasks are runtime_tasks.c's;
 * its messages and sums are here), then all meet at a barrier where the
 * step's loss is logged. The first failure anywhere aborts the transport
 * and breaks the barrier, so every other rank stops too, and the first
 * error (with its rank, step and task) is the run's.
 */
#define _GNU_SOURCE /* pthread_setaffinity_np */
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_impl.h"

static void barrier_init(pp_barrier *b, int count)
{
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->count = count;
    b->waiting = b->generation = b->broken = 0;
}

static void barrier_destroy(pp_barrier *b)
{
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
}

/* 1 for the last to arrive, 0 for the others, -1 when broken. */
static int barrier_wait(pp_barrier *b)
{
    pthread_mutex_lock(&b->lock);
    int gen = b->generation, last = 0;
    if (++b->waiting == b->count) {
        b->waiting = 0;
        b->generation++;
        last = 1;
        pthread_cond_broadcast(&b->cond);
    } else {
        while (gen == b->generation && !b->broken)
            pthread_cond_wait(&b->cond, &b->lock);
    }
    int rc = b->broken ? -1 : last;
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static void barrier_break(pp_barrier *b)
{
    pthread_mutex_lock(&b->lock);
    b->broken = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Records the first failure and stops everyone. */
static void fail(pp_trainer *t, int rank, int64_t step, const pp_task *task,
                 const pp_error *why)
{
    pthread_mutex_lock(&t->fail_lock);
    if (!t->failed) {
        t->failed = 1;
        char name[32] = "", who[160] = "";
        if (task)
            pp_task_format(task, name, sizeof name);
        /* The rank (none: the process's own work, its checkpoint) and,
         * across processes, which process and where. */
        int at = rank >= 0 ? snprintf(who, sizeof who, "rank %d", rank) : 0;
        if (t->m->processes > 1)
            at += snprintf(who + at, sizeof who - (size_t)at,
                           rank >= 0 ? " (process %d on %s)"
                                     : "process %d on %s",
                           t->me, t->o.job->host[t->me]);
        pp_error_set(&t->failure, why->code, "%s%sstep %lld%s%s: %s", who,
                     at ? ", " : "", (long long)step + 1, task ? ", " : "",
                     name, why->msg);
        pp_transports_abort(t);
        barrier_break(&t->barrier);
    }
    pthread_mutex_unlock(&t->fail_lock);
}

/* A message's tag: which step, and within it which micro-batch,
 * producing stage and direction (activation or gradient), or which sum
 * (its first message: a sum in buckets numbers them on). */
static uint64_t tag_of(const pp_trainer *t, int64_t step, const pp_ins *in)
{
    uint64_t messages = 2 * (uint64_t)t->mbs * (uint64_t)t->S;
    uint64_t per_step = messages + t->sum_tags;
    uint64_t which =
        in->kind == PP_INS_REDUCE
            ? messages + t->sum[in->peer].tag
            : ((uint64_t)in->task.mb * (uint64_t)t->S +
               (uint64_t)in->task.stage) * 2 + (in->msg == PP_MSG_GRAD);
    return (uint64_t)step * per_step + which;
}


static void record(rank_ctx *x, pp_ins_kind kind, const pp_task *task,
                   double start, double end)
{
    pp_trainer *t = x->t;
    span_log *log = &t->trace[x->r];
    if (log->n == log->cap) {
        int cap = log->cap ? 2 * log->cap : 1024;
        pp_span *grown = realloc(log->span, (size_t)cap * sizeof *grown);
        if (!grown)
            return; /* a shorter trace rather than a failed run */
        log->span = grown;
        log->cap = cap;
    }
    log->span[log->n++] = (pp_span){x->r, kind, *task, start, end};
}

/* Busy time and trace spans of the step just run, from the events marked
 * around each instruction: the device's times, not the host's, which on
 * a GPU runs ahead. They are dated from the step's first mark, recorded
 * on an idle stream as the host read its clock (begin_ms), so every
 * rank's spans share the host's time line; the host's own time at the
 * step's end would not do, since a GPU rank prepares the next step's
 * data then, after its device may have finished. Elapsed times within a
 * step stay exact in single precision however long the run. Trace times
 * are milliseconds: one cost unit in the simulator's Chrome output is one
 * millisecond. */
static pp_status account(rank_ctx *x, const pp_program *prog, double *busy)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    void *begin = rk->mark[prog->n + 1];
    *busy = 0;
    for (int i = 0; i < prog->n; i++) {
        const pp_ins *in = &prog->ins[i];
        if (in->kind == PP_INS_STEP ||
            (in->kind != PP_INS_COMPUTE && !t->trace))
            continue;
        double from, to;
        if (rk->dev->event_elapsed(begin, rk->mark[i], &from, &x->err) ||
            rk->dev->event_elapsed(begin, rk->mark[i + 1], &to, &x->err))
            return x->err.code;
        if (in->kind == PP_INS_COMPUTE)
            *busy += 1e-3 * (to - from);
        /* A sum's span carries its group as its task's micro-batch. */
        pp_task task = in->kind == PP_INS_REDUCE
                           ? (pp_task){PP_OP_F, in->peer, 0} : in->task;
        if (t->trace && x->step < t->trace_until)
            record(x, in->kind, &task, x->begin_ms + from, x->begin_ms + to);
    }
    return PP_OK;
}

/* The replica's part of the step's loss, from the micro-batches' losses
 * on the device of its last stage. Where nothing checked it before the
 * step (evaluating, or a device without the norm), the first that is
 * not finite fails the step, naming its forward. */
static pp_status step_loss(rank_ctx *x, const stage_rt *tail, double *loss)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    *loss = 0;
    for (int mb = 0; mb < t->mbs; mb++) {
        double l = rk->loss_host[mb];
        if (!isfinite(l) && (t->o.eval || !t->m->grad_norm)) {
            x->diverged = (pp_task){PP_OP_F, mb, tail->s};
            return pp_error_set(&x->err, PP_ERR_RUNTIME,
                "the loss is %g: training diverged (try a smaller lr)", l);
        }
        *loss += l;
    }
    return PP_OK;
}

/* The rank's last stage of a pipeline, which has its losses, or NULL. */
static const stage_rt *tail_of(const pp_trainer *t, int r)
{
    const stage_rt *tail = NULL;
    for (int s = 0; s < t->S; s++)
        if (t->stage[s].last && t->stage[s].rank == r)
            tail = &t->stage[s];
    return tail;
}

/* The rank's part of the step's losses beside its norm: its
 * micro-batches' where it has a last stage, else zeros. */
static pp_status loss_part(rank_ctx *x)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    size_t bytes = (size_t)t->mbs * sizeof(float);
    return tail_of(t, x->r)
               ? rk->dev->copy_async(&rk->dr, rk->norm + PP_NORM_LOSS,
                                     rk->loss, bytes,
                                     PP_COPY_DEVICE_TO_DEVICE, &x->err)
               : rk->dev->zero_async(&rk->dr, rk->norm + PP_NORM_LOSS, bytes,
                                     &x->err);
}

/* The rank's parts of the squared gradient norm: its own parameters'
 * gradients (a shared one's copies are counted at its owner), once their
 * sums are done; and its part of the losses, unless a sum over the
 * replicas has put all of them there already. */
static pp_status norm_parts(rank_ctx *x)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    if (rk->dev->zero_async(&rk->dr, rk->norm, PP_NORM_PARTS * sizeof(float),
                            &x->err))
        return x->err.code;
    for (int s = 0; s < t->S; s++) {
        const stage_rt *st = &t->stage[s];
        for (int k = 0; st->rank == x->r && k < st->nown; k++)
            if (rk->dev->sumsq_async(&rk->dr, rk->norm, PP_NORM_PARTS,
                                     st->grads + st->own[k][0],
                                     st->own[k][1], &x->err))
                return x->err.code;
    }
    if (t->m->data > 1 && tail_of(t, x->r))
        return PP_OK;
    return loss_part(x);
}

/* The step's gradient norm and loss as the rank reads them, from its
 * norm on the host: every rank of every replica has the same bits, so
 * all agree whether the step is applied. The first replica's norm is
 * logged. */
static void judge(rank_ctx *x, const float *norm)
{
    pp_trainer *t = x->t;
    double sum = 0, loss = 0;
    for (int i = 0; i < PP_NORM_PARTS; i++)
        sum += norm[i];
    for (int mb = 0; mb < t->mbs; mb++)
        loss += norm[PP_NORM_LOSS + mb];
    x->norm2 = sum;
    x->loss = loss;
    x->judged = 1;
    x->nonfinite = !isfinite(sum) || !isfinite(loss);
    const stage_rt *tail = tail_of(t, x->r);
    if (tail && tail->replica == 0)
        t->norm[x->step & 1] = isnan(sum) ? NAN : sqrt(sum);
}

/* Reads the norm before the update: a GPU rank waits for its stream. */
static pp_status judge_now(rank_ctx *x)
{
    pp_trainer *t = x->t;
    rank_rt *rk = &t->rank[x->r];
    if (!rk->cuda) {
        judge(x, rk->norm);
        return PP_OK;
    }
    float *host = rk->loss_host + t->mbs;
    if (rk->dev->copy_async(&rk->dr, host, rk->norm,
                            (PP_NORM_PARTS + (size_t)t->mbs) * sizeof(float),
                            PP_COPY_DEVICE_TO_HOST, &x->err))
        return x->err.code;
    pp_status synced = rk->dev->sync(&rk->dr, &x->err);
    if (pp_transports_check(t, &x->err) || synced)
        return x->err.code;
    judge(x, host);
    return PP_OK;
}

/* The flush: clip the gradients by the global norm, where [train] says,
 * then step each stage's parameters; none when the norm or the loss is
 * not finite. The norm's parts were summed over the replica's ranks by
 * its last sum (one rank: here). A rank without parameters reads the
 * norm after the step instead: it has nothing to wait for. Skipped steps
 * are not counted in the optimizer's: its state has not seen them. */
static pp_status optimizer_step(rank_ctx *x)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    if (t->m->grad_norm && t->m->pipeline_ranks == 1 && norm_parts(x))
        return x->err.code;
    int params = 0;
    for (int s = 0; s < t->S; s++)
        params |= t->stage[s].rank == x->r && t->stage[s].nparams > 0;
    if (t->m->grad_norm && params && judge_now(x))
        return x->err.code;
    for (int s = 0; s < t->S && !x->nonfinite; s++) {
        stage_rt *st = &t->stage[s];
        if (st->rank != x->r || st->nparams == 0)
            continue;
        if (t->m->grad_clip &&
            rk->dev->clip_async(&rk->dr, st->grads, st->nparams, rk->norm,
                                PP_NORM_PARTS, (float)t->m->grad_clip,
                                &x->err))
            return x->err.code;
        pp_optimizer_call c = {&t->opt_plan, st->params, st->grads, st->opt,
                               st->nparams, st->ndecay,
                               x->step + 1 - x->skipped,
                               pp_model_lr(t->m, x->step, t->steps),
                               rk->dr.stream, st->params_bf16};
        if ((rk->cuda ? t->opt->step_cuda : t->opt->step_cpu)(&c, &x->err))
            return x->err.code;
    }
    return PP_OK;
}

/* bytes at buf to rank `to`. A host transport's message from device
 * memory goes through the rank's staging buffer, and the host waits for
 * the copy, through the staging event (no event made per message): the
 * stream has then also run any copy out of staging still queued (see
 * recv_bytes). */
static pp_status send_bytes(rank_ctx *x, int to, const void *buf,
                            size_t bytes, uint64_t tag)
{
    pp_trainer *t = x->t;
    rank_rt *rk = &t->rank[x->r];
    if (bytes == 0)
        return PP_OK; /* a cut without gradients: nothing to say */
    const transport_rt *via = pp_route(t, x->r, to);
    if (via->async)
        return via->ops->send_async(via->state, x->r, to, tag, buf, bytes,
                                    &x->err);
    if (rk->cuda) {
        if (rk->dev->copy_async(&rk->dr, rk->staging, buf, bytes,
                                PP_COPY_DEVICE_TO_HOST, &x->err) ||
            rk->dev->event_record(&rk->dr, rk->staged, &x->err) ||
            rk->dev->event_sync(rk->staged, &x->err))
            return x->err.code;
        rk->staged_pending = 0;
        buf = rk->staging;
    }
    return via->ops->send(via->state, x->r, to, tag, buf, bytes, &x->err);
}

/* bytes from rank `from` into buf. */
static pp_status recv_bytes(rank_ctx *x, int from, void *buf, size_t bytes,
                            uint64_t tag)
{
    pp_trainer *t = x->t;
    rank_rt *rk = &t->rank[x->r];
    if (bytes == 0)
        return PP_OK;
    int timeout = t->o.recv_timeout_ms;
    const transport_rt *via = pp_route(t, from, x->r);
    if (via->async)
        return via->ops->recv_async(via->state, x->r, from, tag, buf, bytes,
                                    timeout, &x->err);
    if (!rk->cuda)
        return via->ops->recv(via->state, x->r, from, tag, buf, bytes,
                              timeout, &x->err);
    /* The last message's copy out of staging may still be queued: the
     * host refills the buffer only once the device has read it. (A send
     * through staging waits for its own copy, and so for this one.) */
    if (rk->staged_pending &&
        rk->dev->event_sync(rk->staged, &x->err))
        return x->err.code;
    rk->staged_pending = 0;
    if (via->ops->recv(via->state, x->r, from, tag, rk->staging, bytes,
                       timeout, &x->err) ||
        rk->dev->copy_async(&rk->dr, buf, rk->staging, bytes,
                            PP_COPY_HOST_TO_DEVICE, &x->err) ||
        rk->dev->event_record(&rk->dr, rk->staged, &x->err))
        return x->err.code;
    rk->staged_pending = 1;
    return PP_OK;
}

/* A RECV: the cut entering a stage, into the slot it takes, or the
 * gradients of the cut leaving one, into the slot it holds. */
static pp_status recv_message(rank_ctx *x, const pp_ins *in, uint64_t tag)
{
    pp_trainer *t = x->t;
    int act = in->msg == PP_MSG_ACT;
    stage_rt *st = &t->stage[in->task.stage + (act ? 1 : -1)];
    slot *sl;
    if ((act ? pp_take_slot : pp_find_slot)(x, st, in->task.mb, &sl))
        return x->err.code;
    return recv_bytes(x, in->peer, pp_slot_at(sl, act ? st->in : st->gout),
                      act ? st->in_bytes : st->gout_bytes, tag);
}

/* One message's worth of a sum: n floats at mine; or one sum of the
 * transport that does the group's itself. */
static pp_status sum_bucket(rank_ctx *x, int group, float *mine, size_t n,
                            uint64_t tag)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    const pp_group *g = &t->m->plan->group[group];
    size_t bytes = n * sizeof(float);
    int own = t->sum[group].owner.layer == PP_NORM_SUM.layer ||
              t->sum[group].owner.layer == PP_LOSS_SUM.layer;
    float *total = own ? rk->norm_a : rk->sum_a;
    if (t->sum_via[group] >= 0) {
        const transport_rt *via = &t->via[t->sum_via[group]];
        return via->ops->sum_async(via->state, t->sum_id[group], x->r, mine,
                                   n, t->o.recv_timeout_ms, &x->err);
    }
    for (int k = 0; k < g->n; k++)
        if (g->rank[k] != x->r && send_bytes(x, g->rank[k], mine, bytes, tag))
            return x->err.code;
    for (int k = 0; k < g->n; k++) {
        float *into = k ? (own ? rk->norm_b : rk->sum_b) : total;
        int self = g->rank[k] == x->r;
        pp_status rc =
            self ? (k ? PP_OK
                      : rk->dev->copy_async(&rk->dr, total, mine, bytes,
                                            PP_COPY_DEVICE_TO_DEVICE,
                                            &x->err))
                 : recv_bytes(x, g->rank[k], into, bytes, tag);
        if (!rc && k)
            rc = rk->dev->add_async(&rk->dr, total, self ? mine : into, n,
                                    &x->err);
        if (rc)
            return x->err.code;
    }
    return rk->dev->copy_async(&rk->dr, mine, total, bytes,
                               PP_COPY_DEVICE_TO_DEVICE, &x->err);
}

/* A REDUCE: the copies of a gradient (a shared parameter's, a stage's
 * over its replicas, or the norm's parts) summed over the group's ranks,
 * bucket by bucket. Every member sends its copy to the others, and each
 * adds them all up in the group's order, (g0 + g1) + g2 ..., so every
 * member gets the same bits, then puts the sum back in place of its
 * own. A replicas' sum whose transport sums groups itself (nccl's
 * all-reduce) is left to it: the same bits on every member too, in an
 * order of its own. */
static pp_status sum_gradients(rank_ctx *x, const pp_ins *in, uint64_t tag)
{
    pp_trainer *t = x->t;
    const pp_sum_rt *sum = &t->sum[in->peer];
    float *all = pp_sum_grad(t, in->peer, x->r);
    if ((sum->owner.layer == PP_NORM_SUM.layer && norm_parts(x)) ||
        (sum->owner.layer == PP_LOSS_SUM.layer && loss_part(x)))
        return x->err.code;
    for (size_t off = 0; off < sum->n; off += sum->bucket, tag++)
        if (sum_bucket(x, in->peer, all + off,
                       sum->n - off < sum->bucket ? sum->n - off
                                                  : sum->bucket, tag)) {
            const pp_model *m = t->m;
            if (sum->owner.layer == PP_STAGE_SUM.layer)
                pp_error_prefix(&x->err, "summing stage %d's gradients over "
                                "its replicas",
                                m->plan->group[in->peer].stage);
            else if (sum->owner.layer == PP_NORM_SUM.layer)
                pp_error_prefix(&x->err, "summing the gradient norm");
            else if (sum->owner.layer == PP_LOSS_SUM.layer)
                pp_error_prefix(&x->err, "summing the loss over the "
                                "replicas");
            else
                pp_error_prefix(&x->err, "summing the gradients of %s's "
                                "shared parameter",
                                m->layers[sum->owner.layer].name);
            return x->err.code;
        }
    return PP_OK;
}

/* Rank x->r's program once, its gradients zeroed first: training;
 * evaluating, its forwards only; or diagnosing (x->checking), its
 * forwards and backwards again with every layer's output and gradients
 * checked, and no sums nor update, its messages tagged as the next
 * step's. */
static pp_status run_program(rank_ctx *x, const pp_task **where)
{
    pp_trainer *t = x->t;
    const pp_program *prog = &t->m->plan->prog[x->r];
    const rank_rt *rk = &t->rank[x->r];
    for (int s = 0; s < t->S && !t->o.eval; s++)
        if (t->stage[s].rank == x->r &&
            rk->dev->zero_async(&rk->dr, t->stage[s].grads,
                                t->stage[s].nparams * sizeof(float),
                                &x->err))
            return x->err.code;
    const void *out = NULL;
    for (int i = 0; i < prog->n; i++) {
        const pp_ins *in = &prog->ins[i];
        *where = &in->task;
        if (rk->dev->event_record(&rk->dr, rk->mark[i], &x->err))
            return x->err.code;
        uint64_t tag = tag_of(t, x->step + x->checking, in);
        pp_status rc;
        if (t->o.eval && (in->kind == PP_INS_REDUCE ||
                          in->kind == PP_INS_STEP ||
                          ((in->kind == PP_INS_SEND ||
                            in->kind == PP_INS_RECV) &&
                           in->msg == PP_MSG_GRAD))) {
            rc = PP_OK; /* evaluating: forwards only */
        } else if (x->checking && (in->kind == PP_INS_REDUCE ||
                                   in->kind == PP_INS_STEP)) {
            rc = PP_OK;
        } else if (in->kind == PP_INS_COMPUTE && t->o.eval &&
                   in->task.op != PP_OP_F) {
            rc = pp_pass_backward(x, &t->stage[in->task.stage], &in->task);
        } else if (in->kind == PP_INS_COMPUTE) {
            stage_rt *st = &t->stage[in->task.stage];
            rc = in->task.op == PP_OP_F
                     ? pp_forward(x, st, in->task.mb, &out)
                     : pp_backward(x, st, &in->task, &out);
        } else if (in->kind == PP_INS_SEND) {
            rc = send_bytes(x, in->peer, out, pp_message_bytes(t, in), tag);
        } else if (in->kind == PP_INS_RECV) {
            rc = recv_message(x, in, tag);
        } else if (in->kind == PP_INS_REDUCE) {
            rc = sum_gradients(x, in, tag);
            if (rc)
                *where = NULL; /* named by sum_gradients */
        } else {
            rc = optimizer_step(x);
        }
        if (rc)
            return rc;
    }
    *where = NULL;
    return PP_OK;
}

/* The most steps in a row on_nonfinite = skip skips: the next stops the
 * run, which is not going to recover. */
#define PP_MOST_SKIPS 99

/* Records a failure that every rank (and process) has found alike, its
 * message whole. */
static void fail_all(pp_trainer *t, const pp_error *why)
{
    pthread_mutex_lock(&t->fail_lock);
    if (!t->failed) {
        t->failed = 1;
        t->failure = *why;
        t->agreed = t->m->processes > 1;
        pp_transports_abort(t);
        barrier_break(&t->barrier);
    }
    pthread_mutex_unlock(&t->fail_lock);
}

/* The job's earliest finding, from every rank's: this process's ranks
 * meet at the barrier, and the last to arrive gathers the processes'. */
static pp_status agree(rank_ctx *x)
{
    pp_trainer *t = x->t;
    t->found[x->r] = x->found;
    int rc = barrier_wait(&t->barrier);
    if (rc == 1) {
        pp_finding best = {.key = INT64_MAX};
        for (int r = 0; r < t->p; r++)
            if (t->rank[r].local && t->found[r].key < best.key)
                best = t->found[r];
        int P = t->m->processes;
        pp_finding *all = P > 1 ? malloc((size_t)P * sizeof *all) : NULL;
        int timeout = t->o.recv_timeout_ms < INT_MAX / 2
                          ? 2 * t->o.recv_timeout_ms : INT_MAX;
        if (P > 1 &&
            (!all ? pp_error_set(&x->err, PP_ERR_NOMEM, "out of memory")
                  : pp_job_allgather(t->o.job, &best, all, sizeof best,
                                     timeout, &x->err))) {
            free(all);
            fail(t, x->r, x->step, NULL, &x->err);
            return x->err.code;
        }
        for (int q = 0; q < P && P > 1; q++)
            if (all[q].key < best.key)
                best = all[q];
        free(all);
        t->first = best;
    }
    if (rc < 0 || barrier_wait(&t->barrier) < 0)
        return pp_error_set(&x->err, PP_ERR_RUNTIME, "stopped");
    x->found = t->first;
    return PP_OK;
}

/* Stops the run at a step that is not finite, with where it went so:
 * the step is run again (its parameters untouched) with every layer's
 * output and gradients checked, and the earliest is named, an output
 * before any gradient: the first layer in forward order whose output is
 * not finite, else the first in backward order whose gradients are not. */
static pp_status stop_nonfinite(rank_ctx *x, const pp_task **where)
{
    pp_trainer *t = x->t;
    const rank_rt *rk = &t->rank[x->r];
    x->checking = 1;
    x->found = (pp_finding){.key = INT64_MAX};
    pp_status rc = run_program(x, where);
    x->checking = 0;
    if (rc)
        return rc;
    pp_status synced = rk->dev->sync(&rk->dr, &x->err);
    if (pp_transports_check(t, &x->err) || synced || agree(x))
        return x->err.code;
    const pp_finding *f = &x->found;
    char what[64], who[160] = "", task[32] = "", last[64] = "";
    /* (A NaN's sign says nothing.) */
    if (isfinite(x->loss))
        snprintf(what, sizeof what, "the gradient norm is %g",
                 isnan(x->norm2) ? NAN : sqrt(x->norm2));
    else
        snprintf(what, sizeof what, "the loss is %g",
                 isnan(x->loss) ? NAN : x->loss);
    if (x->in_row > PP_MOST_SKIPS)
        snprintf(last, sizeof last, "; %lld steps in a row were not finite",
                 (long long)x->in_row);
    if (f->key != INT64_MAX) {
        int at = snprintf(who, sizeof who, "rank %d", f->rank);
        if (t->m->processes > 1) {
            int q = t->m->process_of[f->rank];
            snprintf(who + at, sizeof who - (size_t)at, " (process %d on %s)",
                     q, t->o.job->host[q]);
        }
        pp_task_format(&f->task, task, sizeof task);
    }
    /* The lr has moved the parameters from the second step on. */
    const char *lr = x->step ? " (try a smaller lr)" : "";
    pp_error why;
    pp_error_clear(&why);
    long long step = (long long)x->step + 1;
    if (f->key == INT64_MAX)
        pp_error_set(&why, PP_ERR_RUNTIME,
                     "step %lld: %s: training diverged, though no layer's "
                     "output or gradients are themselves not finite (the "
                     "squares of the gradients overflow)%s%s", step, what,
                     last, lr);
    else if (f->layer < 0)
        pp_error_set(&why, PP_ERR_RUNTIME,
                     "%s, step %lld, %s: %s: the model's input from the "
                     "data source is not finite%s", who, step, task, what,
                     last);
    else
        pp_error_set(&why, PP_ERR_RUNTIME,
                     "%s, step %lld, %s: %s: training diverged at layer %s, "
                     "the first %s not finite%s%s", who, step, task, what,
                     t->m->layers[f->layer].name,
                     f->grad ? "in backward order whose gradients are"
                             : "whose output is",
                     last, lr);
    fail_all(t, &why);
    *where = NULL;
    return pp_error_set(&x->err, PP_ERR_RUNTIME, "%s", why.msg);
}

/* The process's first rank: it counts the skipped steps for it. */
static int first_local(const pp_trainer *t)
{
    int r = 0;
    while (!t->rank[r].local)
        r++;
    return r;
}

/* A step whose gradient norm or loss is not finite, which no rank has
 * applied: skipped, counted and logged, or the run stops. */
static pp_status nonfinite_step(rank_ctx *x, const pp_task **where)
{
    pp_trainer *t = x->t;
    x->in_row++;
    if (!t->m->skip_nonfinite || x->in_row > PP_MOST_SKIPS)
        return stop_nonfinite(x, where);
    x->skipped++;
    if (x->r == first_local(t)) {
        t->skipped++;
        t->skip[x->step & 1] = 1;
    }
    return PP_OK;
}

/* One step of rank x->r's program. Nothing here waits for the device
 * until the step is queued: the host runs ahead, and only receives from
 * other ranks (on the host side of a transport) hold it back; and, with
 * parameters, the norm read before the update. */
static pp_status run_step(rank_ctx *x, const pp_task **where)
{
    pp_trainer *t = x->t;
    const pp_program *prog = &t->m->plan->prog[x->r];
    const rank_rt *rk = &t->rank[x->r];
    /* The last step ended with a sync, so the stream is idle: the device
     * reaches this mark as it is recorded, at the host's begin_ms. */
    x->begin_ms = 1e3 * (pp_now() - t->t0);
    x->judged = x->nonfinite = 0;
    if (x->r == first_local(t))
        t->skip[x->step & 1] = 0;
    if (rk->dev->event_record(&rk->dr, rk->mark[prog->n + 1], &x->err) ||
        run_program(x, where))
        return x->err.code;
    const stage_rt *tail = tail_of(t, x->r);
    int holds_loss = tail != NULL;
    int norm = rk->norm && !t->o.eval;
    if (rk->dev->event_record(&rk->dr, rk->mark[prog->n], &x->err) ||
        pp_prefetch(x) ||
        ((holds_loss || norm) &&
         rk->dev->copy_async(&rk->dr, rk->loss_host, rk->loss,
                             ((size_t)t->mbs +
                              (norm ? PP_NORM_PARTS + (size_t)t->mbs : 0)) *
                                 sizeof(float),
                             PP_COPY_DEVICE_TO_HOST, &x->err)))
        return x->err.code;
    /* A transport that gave up on a receive stuck on the device ended it,
     * which is what lets the sync return: its reason comes first. */
    pp_status synced = rk->dev->sync(&rk->dr, &x->err);
    if (pp_transports_check(t, &x->err) || synced)
        return x->err.code;
    double busy, loss;
    if (account(x, prog, &busy))
        return x->err.code;
    t->busy[x->r * 2 + (x->step & 1)] = busy;
    if (norm && !x->judged)
        judge(x, rk->loss_host + t->mbs);
    if (x->nonfinite && nonfinite_step(x, where))
        return x->err.code;
    if (!x->nonfinite)
        x->in_row = 0;
    if (holds_loss) {
        if (step_loss(x, tail, &loss)) {
            *where = &x->diverged;
            return x->err.code;
        }
        t->replica_loss[tail->replica] = loss;
    }
    return PP_OK;
}

/* A checkpoint after step `step`: every checkpoint_every steps, and
 * after the last (or where a signal stopped the run). The log is on the
 * disk first. */
static int save_due(pp_trainer *t, int64_t step)
{
    const pp_model *m = t->m;
    if (!m->checkpoint || t->o.eval)
        return 0;
    int due = step + 1 == t->steps || t->stopping ||
              (m->checkpoint_every && (step + 1) % m->checkpoint_every == 0);
    if (due && t->log)
        fsync(fileno(t->log)); /* line-buffered: each line is written */
    return due;
}

/* Writes the checkpoint of `steps` made, and says where, how big and how
 * fast in the log. */
static pp_status save(pp_trainer *t, int64_t steps, pp_error *err)
{
    double start = pp_now();
    char *where;
    uint64_t bytes;
    if (pp_checkpoint_save(t, steps, &where, &bytes, err))
        return err->code;
    double took = pp_now() - start;
    char line[4200];
    snprintf(line, sizeof line, "checkpoint %s: %.1f MB in %.2f s "
             "(%.0f MB/s)\n", where, 1e-6 * (double)bytes, took,
             took > 0 ? 1e-6 * (double)bytes / took : 0.0);
    free(where);
    if (t->me == 0 && !t->o.quiet) {
        if (t->o.progress)
            fputs("\r\033[K", t->o.out);
        fputs(line, t->o.out);
    }
    if (t->log)
        fputs(line, t->log);
    return PP_OK;
}

static void log_step(pp_trainer *t, int64_t step, double wall)
{
    FILE *out = t->o.out;
    double busy = 0;
    for (int r = 0; r < t->p; r++)
        busy += t->busy[r * 2 + (step & 1)];
    double bubble = wall > 0 ? 1 - busy / (t->p * wall) : 0;
    if (bubble < 0)
        bubble = 0;
    int last = step + 1 == t->steps || t->stopping;
    char line[224], lr[32] = "", norm[72] = "";
    /* With a schedule, the lr the step took; clipping, the norm before. */
    if (t->m->warmup || t->m->cosine)
        snprintf(lr, sizeof lr, "  lr %.4g", pp_model_lr(t->m, step,
                                                         t->steps));
    if (t->m->grad_clip || t->skip[step & 1])
        snprintf(norm, sizeof norm, "  grad norm %.4g", t->norm[step & 1]);
    if (t->skip[step & 1]) /* on_nonfinite = skip */
        snprintf(norm + strlen(norm), sizeof norm - strlen(norm),
                 "  skipped");
    if (t->o.eval)
        lr[0] = norm[0] = '\0';
    snprintf(line, sizeof line,
             "%s %6lld  loss %.6f  %9.1f samples/s  bubble %5.1f%%%s%s\n",
             t->o.eval ? "batch" : "step", (long long)step + 1,
             t->loss[step % PP_LOSSES_KEPT], (double)t->m->batch / wall, 100.0 * bubble, lr,
             norm);
    /* The first step too: where the loss starts is half of the story. */
    if ((step + 1) % t->log_every == 0 || last || step == 0 ||
        t->skip[step & 1]) {
        if (!t->o.quiet) {
            if (t->o.progress)
                fputs("\r\033[K", out);
            fputs(line, out);
        }
        if (t->log)
            fputs(line, t->log);
    }
    if (!t->o.quiet && t->o.progress && !last) {
        double elapsed = pp_now() - t->t0;
        double eta = elapsed / (double)(step + 1 - t->first_step) *
                     (double)(t->steps - step - 1);
        int width = 30, done = (int)(width * (step + 1) / t->steps);
        fprintf(out, "\r[%.*s%*s] step %lld/%lld, ETA %.0fs", done,
                "==============================", width - done, "",
                (long long)step + 1, (long long)t->steps, eta);
    }
    fflush(out);
}

/* Across processes, after each step: every replica's loss, every rank's
 * busy time and the gradient norm, from the processes that have them
 * (each number from one process, the others giving 0, so the sums are
 * exact). Bounded by twice the message timeout, so a process that hangs
 * stops the others, and one waiting for its messages names it first. */
static pp_status exchange(pp_trainer *t, int64_t step, pp_error *err)
{
    const pp_model *m = t->m;
    int D = m->data, P = m->processes, n = D + t->p + 2;
    double *mine = t->swap, *all = mine + n;
    memset(mine, 0, (size_t)n * sizeof *mine);
    for (int s = 0; s < t->S; s++) {
        const stage_rt *st = &t->stage[s];
        if (st->last && t->rank[st->rank].local) {
            mine[st->replica] = t->replica_loss[st->replica];
            if (st->replica == 0)
                mine[D + t->p] = t->norm[step & 1];
        }
    }
    for (int r = 0; r < t->p; r++)
        if (t->rank[r].local)
            mine[D + r] = t->busy[r * 2 + (step & 1)];
    mine[D + t->p + 1] = t->stopping; /* one process's signal stops all */
    int timeout = t->o.recv_timeout_ms < INT_MAX / 2
                      ? 2 * t->o.recv_timeout_ms : INT_MAX;
    pp_status st = pp_job_allgather(t->o.job, mine, all, (size_t)n *
                                    sizeof *mine, timeout, err);
    if (st)
        pp_error_prefix(err, "the step's end");
    for (int i = 0; !st && i < n; i++) {
        double sum = 0;
        for (int q = 0; q < P; q++)
            sum += all[(size_t)q * (size_t)n + (size_t)i];
        if (i < D)
            t->replica_loss[i] = sum;
        else if (i < D + t->p)
            t->busy[(i - D) * 2 + (step & 1)] = sum;
        else if (i == D + t->p)
            t->norm[step & 1] = sum;
        else
            t->stopping = sum > 0;
    }
    return st;
}

/* The core this rank's thread takes: one per rank, numbered over the
 * ranks of this process's node, when the node has enough. */
static void pin(const pp_trainer *t, int r)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const pp_job_place *at = &t->o.job->place;
    int k = 0;
    for (int q = 0; q < r; q++)
        k += t->rank[q].local;
    if (cores < (long)at->locals * t->nlocal)
        return;
    /* No rank steals another's time slices, so measured bubbles mean what
     * they say. */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(at->local * t->nlocal + k, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *rank_main(void *arg)
{
    rank_ctx *x = arg;
    pp_trainer *t = x->t;
    pin(t, x->r);
    const rank_rt *rk = &t->rank[x->r];
    if (rk->dev->use(rk->dr.index, &x->err)) {
        fail(t, x->r, 0, NULL, &x->err);
        return NULL;
    }
    for (x->step = t->first_step; x->step < t->steps; x->step++) {
        double start = pp_now();
        const pp_task *where = NULL;
        pp_error_clear(&x->err);
        if (run_step(x, &where)) {
            fail(t, x->r, x->step, where, &x->err);
            return NULL;
        }
        int rc = barrier_wait(&t->barrier);
        if (rc < 0)
            return NULL;
        if (rc == 1)
            t->stopping = t->o.stop && *t->o.stop;
        if (rc == 1 && t->m->processes > 1 &&
            exchange(t, x->step, &x->err)) {
            fail(t, x->r, x->step, NULL, &x->err);
            return NULL;
        }
        if (rc == 1) {
            /* The replicas' parts in their order: one sum, whatever the
             * threads' order. */
            double loss = 0;
            for (int k = 0; k < t->m->data; k++)
                loss += t->replica_loss[k];
            t->loss[x->step % PP_LOSSES_KEPT] = loss;
            t->loss_sum += loss;
            t->done = x->step + 1;
            log_step(t, x->step, pp_now() - start);
            if (save_due(t, x->step) && save(t, x->step + 1, &x->err)) {
                t->saving_failed = 1;
                fail(t, -1, x->step, NULL, &x->err);
                return NULL;
            }
        }
        /* Nobody starts the next step before the log line is written:
         * it reads this step's busy times. */
        if (barrier_wait(&t->barrier) < 0 || t->stopping)
            return NULL;
    }
    return NULL;
}

pp_status pp_run_ranks(pp_trainer *t, pp_error *err)
{
    pthread_t *threads = calloc((size_t)t->p, sizeof *threads);
    rank_ctx *ctx = calloc((size_t)t->p, sizeof *ctx);
    if (!threads || !ctx) {
        free(threads);
        free(ctx);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    pp_status st = pp_transports_open(t, err);
    if (st) {
        free(threads);
        free(ctx);
        return st;
    }
    /* The step's end across processes (exchange) needs no allocation. */
    size_t swap = (size_t)(t->m->data + t->p + 2) *
                  (size_t)(t->m->processes + 1);
    if (t->m->processes > 1 &&
        !(t->swap = calloc(swap, sizeof *t->swap))) {
        pp_transports_close(t);
        free(threads);
        free(ctx);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    if (!(t->found = calloc((size_t)t->p, sizeof *t->found))) {
        free(t->swap);
        t->swap = NULL;
        pp_transports_close(t);
        free(threads);
        free(ctx);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    barrier_init(&t->barrier, t->nlocal);
    t->failed = t->agreed = 0;
    t->skipped = 0;
    t->t0 = pp_now();
    int started = 0;
    for (int r = 0; r < t->p; r++) {
        if (!t->rank[r].local)
            continue;
        ctx[started] = (rank_ctx){.t = t, .r = r,
                                  .skipped = t->first_skipped};
        if (pthread_create(&threads[started], NULL, rank_main,
                           &ctx[started]) != 0) {
            pp_error why;
            pp_error_set(&why, PP_ERR_RUNTIME, "cannot start a thread");
            fail(t, r, 0, NULL, &why);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (t->o.progress && !t->o.quiet)
        fputs("\r\033[K", t->o.out);
    barrier_destroy(&t->barrier);
    /* A failed rank may have left work queued that reads the transports'
     * buffers: let it drain before they go. */
    for (int r = 0; t->failed && r < t->p; r++) {
        pp_error ignore;
        if (t->rank[r].opened)
            t->rank[r].dev->sync(&t->rank[r].dr, &ignore);
    }
    pp_transports_close(t);
    free(t->swap);
    t->swap = NULL;
    free(t->found);
    t->found = NULL;
    free(threads);
    free(ctx);
    if (t->failed) {
        *err = t->failure;
        return err->code;
    }
    return PP_OK;
}

int64_t pp_trainer_steps_skipped(const pp_trainer *t)
{
    return t->skipped;
}

int pp_trainer_failure_agreed(const pp_trainer *t)
{
    return t->agreed;
}
