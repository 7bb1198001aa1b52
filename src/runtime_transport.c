/* src/runtime_transport.c - the transports a run uses (routes.h says
 * which carries each direction, the model loaded them), and their lives
 * around the run: opened when the ranks start, through the
 * stream-ordered half where there is one, else the host half; aborted on
 * a failure, closed when they stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

pp_status pp_transports_plan(pp_trainer *t, pp_error *err)
{
    const pp_routes *r = t->m->route;
    int p = t->p;
    t->route = r->pair;
    if (!(t->via = calloc((size_t)r->n + 1, sizeof *t->via)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    t->nvia = r->n;
    for (int v = 0; v < r->n; v++) {
        transport_rt *tr = &t->via[v];
        tr->name = r->via[v]->desc->name;
        tr->ops = r->via[v]->ops;
        tr->async = pp_transport_streamed(tr->ops);
        if (!(tr->links = calloc((size_t)p * (size_t)p, 1)))
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < p * p; i++)
        if (t->route[i] != PP_ROUTE_NONE)
            t->via[t->route[i]].links[i] = 1;
    return PP_OK;
}

pp_status pp_transports_check(const pp_trainer *t, pp_error *err)
{
    for (int v = 0; v < t->nvia; v++) {
        const transport_rt *tr = &t->via[v];
        if (tr->state && tr->ops->check &&
            tr->ops->check(tr->state, err))
            return err->code;
    }
    return PP_OK;
}

size_t pp_message_bytes(const pp_trainer *t, const pp_ins *send)
{
    const stage_rt *st = &t->stage[send->task.stage];
    return send->msg == PP_MSG_ACT ? st->out_bytes : st->gin_bytes;
}

pp_send_rt *pp_step_sends(const pp_trainer *t, int r, int *n)
{
    const pp_plan *plan = t->m->plan;
    const pp_program *prog = &plan->prog[r];
    int cap = 0;
    for (int i = 0; i < prog->n; i++)
        cap += prog->ins[i].kind == PP_INS_SEND ? 1
             : prog->ins[i].kind == PP_INS_REDUCE
                 ? plan->group[prog->ins[i].peer].n
                 : 0;
    pp_send_rt *list = malloc(((size_t)cap + 1) * sizeof *list);
    *n = 0;
    for (int i = 0; list && i < prog->n; i++) {
        const pp_ins *in = &prog->ins[i];
        if (in->kind == PP_INS_SEND && pp_message_bytes(t, in))
            list[(*n)++] = (pp_send_rt){in->peer, pp_message_bytes(t, in)};
        if (in->kind != PP_INS_REDUCE)
            continue;
        const pp_group *g = &plan->group[in->peer];
        for (int k = 0; k < g->n; k++)
            if (g->rank[k] != r)
                list[(*n)++] = (pp_send_rt){
                    g->rank[k], t->sum[in->peer].n * sizeof(float)};
    }
    return list;
}

static int by_destination(const void *a, const void *b)
{
    const pp_send_rt *x = a, *y = b;
    if (x->to != y->to)
        return (x->to > y->to) - (x->to < y->to);
    return (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

/* Every buffer a direction's messages of one step can need, made before
 * step 1 where the transport can: the memory plan counted them. Runs of
 * one size and direction are reserved together. */
static pp_status reserve(pp_trainer *t, pp_error *err)
{
    for (int r = 0; r < t->p; r++) {
        if (!t->rank[r].local)
            continue;
        int n;
        pp_send_rt *list = pp_step_sends(t, r, &n);
        if (!list)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        qsort(list, (size_t)n, sizeof *list, by_destination);
        pp_status st = PP_OK;
        for (int i = 0, j; i < n && !st; i = j) {
            for (j = i; j < n && by_destination(&list[i], &list[j]) == 0;)
                j++;
            const transport_rt *tr = pp_route(t, r, list[i].to);
            if (tr->async && tr->ops->reserve &&
                tr->ops->reserve(tr->state, r, list[i].to, list[i].bytes,
                                 j - i, err))
                st = pp_error_prefix(err, "transport %s", tr->name);
        }
        free(list);
        if (st)
            return st;
    }
    return PP_OK;
}

/* Opens one transport: across processes (every process at once, in the
 * routes' order) through its _job half when it reaches them. */
static pp_status open_one(pp_trainer *t, transport_rt *tr,
                          const pp_transport_rank *rank, pp_error *err)
{
    const pp_model *m = t->m;
    pp_transport_job job = {t->me, m->processes, m->process_of,
                            t->o.job->ops};
    if (m->processes > 1 && (tr->ops->reach & PP_REACH_PROCESSES)) {
        if (tr->async ? !tr->ops->open_job : !tr->ops->create_job)
            return pp_error_set(err, PP_ERR_PLUGIN,
                "it says it reaches other processes but has no %s: it was "
                "built for an older pipette", tr->async ? "open_job"
                                                        : "create_job");
        return tr->async ? tr->ops->open_job(t->p, rank, tr->links, &job,
                                             &tr->state, err)
                         : tr->ops->create_job(t->p, &job, &tr->state, err);
    }
    return tr->async ? tr->ops->open(t->p, rank, tr->links, &tr->state, err)
                     : tr->ops->create(t->p, &tr->state, err);
}

pp_status pp_transports_open(pp_trainer *t, pp_error *err)
{
    pp_transport_rank *rank = calloc((size_t)t->p, sizeof *rank);
    if (!rank)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int r = 0; r < t->p; r++)
        if (t->rank[r].local)
            rank[r] = (pp_transport_rank){t->rank[r].dev, &t->rank[r].dr};
    pp_status st = PP_OK;
    for (int v = 0; !st && v < t->nvia; v++) {
        transport_rt *tr = &t->via[v];
        if ((st = open_one(t, tr, rank, err)))
            pp_error_prefix(err, "transport %s", tr->name);
    }
    free(rank);
    if (!st)
        st = reserve(t, err);
    if (st)
        pp_transports_close(t);
    return st;
}

void pp_transports_abort(pp_trainer *t)
{
    for (int v = 0; v < t->nvia; v++)
        if (t->via[v].state)
            t->via[v].ops->abort(t->via[v].state);
}

void pp_transports_close(pp_trainer *t)
{
    for (int v = 0; v < t->nvia; v++) {
        if (t->via[v].state)
            t->via[v].ops->destroy(t->via[v].state);
        t->via[v].state = NULL;
    }
}

void pp_transports_free(pp_trainer *t)
{
    for (int v = 0; t->via && v < t->nvia; v++)
        free(t->via[v].links);
    free(t->via);
}

const transport_rt *pp_route(const pp_trainer *t, int src, int dst)
{
    return &t->via[t->route[src * t->p + dst]];
}

int pp_route_on_host(const pp_trainer *t, int src, int dst)
{
    return t->route[src * t->p + dst] != PP_ROUTE_NONE &&
           !pp_route(t, src, dst)->async;
}
