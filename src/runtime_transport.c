/* src/runtime_transport.c - the transports a run uses (routes.h says
 * which carries each direction, the model loaded them), and their lives
 * around the run: opened when the ranks start, through the
 * stream-ordered half where there is one, else the host half, with the
 * replicas' sums they do themselves; aborted on a failure, closed when
 * they stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

/* The transport that sums group g itself, or -1: a replicas' sum (the
 * others are a few floats) whose every pair goes through one transport
 * with sum_async. */
static int summed_by(const pp_trainer *t, const pp_group *g)
{
    if (g->stage < 0 || g->n < 2)
        return -1;
    int v = t->route[g->rank[0] * t->p + g->rank[1]];
    for (int a = 0; a < g->n; a++)
        for (int b = 0; b < g->n; b++)
            if (a != b && t->route[g->rank[a] * t->p + g->rank[b]] != v)
                return -1;
    const transport_rt *tr = v == PP_ROUTE_NONE ? NULL : &t->via[v];
    return tr && tr->async && tr->ops->sum_async ? v : -1;
}

pp_status pp_transports_plan(pp_trainer *t, pp_error *err)
{
    const pp_model *m = t->m;
    const pp_routes *r = m->route;
    int p = t->p, ngroups = m->plan->ngroups;
    t->route = r->pair;
    t->sum_via = calloc((size_t)ngroups + 1, sizeof *t->sum_via);
    t->sum_id = calloc((size_t)ngroups + 1, sizeof *t->sum_id);
    if (!(t->via = calloc((size_t)r->n + 1, sizeof *t->via)) ||
        !t->sum_via || !t->sum_id)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    t->nvia = r->n;
    for (int v = 0; v < r->n; v++) {
        transport_rt *tr = &t->via[v];
        tr->name = r->via[v]->desc->name;
        tr->ops = r->via[v]->ops;
        tr->async = pp_transport_streamed(tr->ops);
        tr->job = m->processes > 1 && (tr->ops->reach & PP_REACH_PROCESSES);
        if (!(tr->links = calloc((size_t)p * (size_t)p, 1)))
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int g = 0; g < ngroups; g++)
        t->sum_via[g] = summed_by(t, &m->plan->group[g]);
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
        for (int k = 0; t->sum_via[in->peer] < 0 && k < g->n; k++)
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

/* Each transport's links: the directions its messages of a step take (a
 * sum it does itself sends none). One opened without its _job half in a
 * run of several processes gets those of this process's ranks alone. */
static pp_status set_links(pp_trainer *t, pp_error *err)
{
    for (int r = 0; r < t->p; r++) {
        int n;
        pp_send_rt *list = pp_step_sends(t, r, &n);
        if (!list)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            int to = list[i].to;
            transport_rt *tr = &t->via[t->route[r * t->p + to]];
            if (tr->job || (t->rank[r].local && t->rank[to].local))
                tr->links[r * t->p + to] = 1;
        }
        free(list);
    }
    return PP_OK;
}

/* Whether this process opens tr: it carries a message or a sum here (in
 * every process, or in none, for one opened across processes). */
static int used(const pp_trainer *t, int v)
{
    const transport_rt *tr = &t->via[v];
    for (int i = 0; i < t->p * t->p; i++)
        if (tr->links[i])
            return 1;
    const pp_plan *plan = t->m->plan;
    for (int g = 0; g < plan->ngroups; g++)
        if (t->sum_via[g] == v &&
            (tr->job || t->rank[plan->group[g].rank[0]].local))
            return 1;
    return 0;
}

static pp_transport_job job_of(const pp_trainer *t)
{
    const pp_model *m = t->m;
    return (pp_transport_job){t->me, m->processes, m->process_of,
                              t->o.job->ops};
}

/* Opens one transport: across processes (every process at once, in the
 * routes' order) through its _job half when it reaches them. */
static pp_status open_one(pp_trainer *t, transport_rt *tr,
                          const pp_transport_rank *rank, pp_error *err)
{
    pp_transport_job job = job_of(t);
    if (tr->job) {
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

/* The groups that transports sum themselves, in the plan's order: every
 * one in every process where the transport was opened across processes
 * (group_open may be collective), else this process's. */
static pp_status open_groups(pp_trainer *t, pp_error *err)
{
    const pp_plan *plan = t->m->plan;
    pp_transport_job job = job_of(t);
    for (int g = 0; g < plan->ngroups; g++) {
        const pp_group *grp = &plan->group[g];
        transport_rt *tr = t->sum_via[g] < 0 ? NULL : &t->via[t->sum_via[g]];
        if (!tr || (!tr->job && !t->rank[grp->rank[0]].local))
            continue;
        if (tr->ops->group_open(tr->state, grp->rank, grp->n,
                                tr->job ? &job : NULL, &t->sum_id[g], err))
            return pp_error_prefix(err, "transport %s: the sum of stage "
                                   "%d's replicas", tr->name, grp->stage);
    }
    return PP_OK;
}

pp_status pp_transports_open(pp_trainer *t, pp_error *err)
{
    pp_transport_rank *rank = calloc((size_t)t->p, sizeof *rank);
    if (!rank)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int r = 0; r < t->p; r++)
        if (t->rank[r].local)
            rank[r] = (pp_transport_rank){t->rank[r].dev, &t->rank[r].dr};
    pp_status st = set_links(t, err);
    for (int v = 0; !st && v < t->nvia; v++) {
        transport_rt *tr = &t->via[v];
        if (used(t, v) && (st = open_one(t, tr, rank, err)))
            pp_error_prefix(err, "transport %s", tr->name);
    }
    free(rank);
    if (!st)
        st = open_groups(t, err);
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
    free(t->sum_via);
    free(t->sum_id);
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
