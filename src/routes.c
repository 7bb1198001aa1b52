/* src/routes.c - which transport carries each direction between ranks,
 * from what the transports and the devices advertise (routes.h). */
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "registry.h"
#include "routes.h"

int pp_transport_streamed(const pp_transport_ops *tr)
{
    return tr->open != NULL;
}

static int same_device(const pp_link *l)
{
    return l->same_node && l->src->plugin == l->dst->plugin &&
           l->src->index == l->dst->index;
}

int pp_route_fit(const pp_transport_ops *tr, const pp_link *l)
{
    unsigned reach = l->same_process ? PP_REACH_THREADS : PP_REACH_PROCESSES;
    if (!(tr->reach & reach) ||
        (tr->needs & PP_NEEDS_TWO_DEVICES && same_device(l)))
        return PP_FIT_NONE;
    unsigned a = pp_device_memory(l->src), b = pp_device_memory(l->dst);
    int as_is = (tr->memory & a) && (tr->memory & b);
    if (!pp_transport_streamed(tr))
        return as_is ? PP_FIT_AS_IS : PP_FIT_STAGED;
    /* Events wait only on events of their own device kind. */
    return as_is && l->src->plugin == l->dst->plugin ? PP_FIT_AS_IS
                                                     : PP_FIT_NONE;
}

static int order_kept(const pp_transport_ops *tr, const pp_link *l)
{
    return tr->order != PP_ORDER_SENT || l->in_order;
}

/* Whether a (fitting as fa) is auto's choice over b (as fb). */
static int better(const pp_plugin *a, int fa, const pp_plugin *b, int fb)
{
    const pp_transport_ops *x = a->ops, *y = b->ops;
    if (fa != fb)
        return fa > fb;
    if (x->cost != y->cost)
        return x->cost < y->cost;
    return strcmp(a->desc->name, b->desc->name) < 0;
}

const pp_plugin *pp_route_pick(const pp_plugin *const *tr, size_t n,
                               const pp_plugin *named, const pp_link *l)
{
    if (named && pp_route_fit(named->ops, l))
        return named;
    const pp_plugin *best = NULL;
    int best_fit = PP_FIT_NONE;
    for (size_t i = 0; i < n; i++) {
        int fit = pp_route_fit(tr[i]->ops, l);
        if (fit && order_kept(tr[i]->ops, l) &&
            (!best || better(tr[i], fit, best, best_fit))) {
            best = tr[i];
            best_fit = fit;
        }
    }
    return best;
}

/* What the routing of one model works with. */
typedef struct planner {
    const pp_model *m;
    const pp_section *pipe;
    const pp_plugin **all;    /* [nall]: every transport plugin found */
    size_t nall;
    const pp_plugin *named;   /* the transport key's, or NULL (auto) */
    const pp_plugin **pick;   /* [p * p] */
} planner;

/* Routes one direction, once: its first message decides, and the
 * others find it routed (pp_plan_in_order walks both programs). */
static pp_status route_pair(planner *pl, int src, int dst, pp_error *err)
{
    const pp_model *m = pl->m;
    if (pl->pick[src * m->nranks + dst])
        return PP_OK;
    pp_link l = {&m->devices[src], &m->devices[dst],
                 m->process_of[src] == m->process_of[dst],
                 m->node_of[src] == m->node_of[dst],
                 pp_plan_in_order(m->plan, src, dst)};
    const pp_plugin *via = pp_route_pick(pl->all, pl->nall, pl->named, &l);
    char a[96], b[96];
    if (!via)
        return pp_section_error(pl->pipe, "transport", err,
            "no transport plugin found can carry rank %d's messages to rank "
            "%d (%s to %s): 'pipette plugins' lists those found", src, dst,
            pp_device_text(l.src, a, sizeof a),
            pp_device_text(l.dst, b, sizeof b));
    if (!order_kept(via->ops, &l)) {
        const pp_plugin *other = pp_route_pick(pl->all, pl->nall, NULL, &l);
        return pp_section_error(pl->pipe, "transport", err,
            "%s delivers messages in the order they are sent, and under "
            "schedule %s rank %d receives rank %d's in another order: use "
            "transport = auto%s%s", via->desc->name, m->schedule, dst, src,
            other ? " or " : "", other ? other->desc->name : "");
    }
    pl->pick[src * m->nranks + dst] = via;
    return PP_OK;
}

/* Routes every direction that carries messages into pl->pick. */
static pp_status route_all(planner *pl, pp_error *err)
{
    const pp_model *m = pl->m;
    for (int r = 0; r < m->nranks; r++) {
        const pp_program *prog = &m->plan->prog[r];
        for (int i = 0; i < prog->n; i++) {
            const pp_ins *in = &prog->ins[i];
            /* A sum sends to every other member of its group. */
            const pp_group *g = in->kind == PP_INS_REDUCE
                                    ? &m->plan->group[in->peer] : NULL;
            for (int k = 0; g && k < g->n; k++)
                if (g->rank[k] != r && route_pair(pl, r, g->rank[k], err))
                    return err->code;
            if (in->kind == PP_INS_SEND && route_pair(pl, r, in->peer, err))
                return err->code;
        }
    }
    return PP_OK;
}

/* "it moves cuda memory, between ranks of one process on two different
 * devices": what tr needs of a pair. */
static void needs_text(const pp_transport_ops *tr, char *buf, size_t size)
{
    int host = (tr->memory & PP_MEMORY_HOST) != 0;
    int cuda = (tr->memory & PP_MEMORY_CUDA) != 0;
    int two = (tr->needs & PP_NEEDS_TWO_DEVICES) != 0;
    int used = snprintf(buf, size, "it moves %s%s%s memory, between ranks%s",
        host ? "host" : "", host && cuda ? " or " : "", cuda ? "cuda" : "",
        !(tr->reach & PP_REACH_THREADS)     ? " in different processes"
        : !(tr->reach & PP_REACH_PROCESSES) ? " of one process" : "");
    if (used < 0 || (size_t)used >= size)
        return;
    snprintf(buf + used, size - (size_t)used, "%s%s",
             two ? " on two different devices" : "",
             pp_transport_streamed(tr) && !two && host && cuda
                 ? " on devices of one kind" : "");
}

/* A transport named for ranks it cannot connect is a mistake in the
 * file, not a preference to ignore. */
static pp_status check_named(const planner *pl, pp_error *err)
{
    int p = pl->m->nranks, any = 0, used = 0;
    for (int i = 0; i < p * p; i++) {
        any |= pl->pick[i] != NULL;
        used |= pl->pick[i] == pl->named;
    }
    if (!pl->named || !any || used)
        return PP_OK;
    char why[256];
    needs_text(pl->named->ops, why, sizeof why);
    return pp_section_error(pl->pipe, "transport", err,
        "%s connects none of these ranks (%s): use transport = auto",
        pl->named->desc->name, why);
}

/* m->route from pl->pick, its transports in the order of their first
 * direction. */
static pp_status gather(pp_model *m, const planner *pl, pp_error *err)
{
    size_t pp = (size_t)m->nranks * (size_t)m->nranks, n = 0;
    const pp_plugin **seen = calloc(pp + 1, sizeof *seen);
    unsigned char *index = malloc(pp);
    for (size_t i = 0; seen && index && i < pp; i++) {
        size_t k = 0;
        while (pl->pick[i] && k < n && seen[k] != pl->pick[i])
            k++;
        if (pl->pick[i] && k == n)
            seen[n++] = pl->pick[i];
        index[i] = pl->pick[i] ? (unsigned char)k : PP_ROUTE_NONE;
    }
    pp_routes *r = seen && index && n < PP_ROUTE_NONE
        ? malloc(sizeof *r + n * sizeof *r->via + pp) : NULL;
    if (r) {
        r->n = (int)n;
        r->via = (const pp_plugin **)(r + 1);
        r->pair = (unsigned char *)(r->via + n);
        memcpy(r->via, seen, n * sizeof *r->via);
        memcpy(r->pair, index, pp);
    }
    free(seen);
    free(index);
    m->route = r;
    return r ? PP_OK : pp_error_add(err, PP_ERR_NOMEM, "out of memory");
}

/* The transports a multi-rank model routes over: every one found, and
 * the named one, which must be there. */
static pp_status find_transports(planner *pl, pp_error *err)
{
    const pp_model *m = pl->m;
    if (strcmp(m->transport, "auto") != 0) {
        pp_error why;
        if (pp_registry_find(m->registry, PP_KIND_TRANSPORT, m->transport,
                             &pl->named, &why))
            return pp_section_error(pl->pipe, "transport", err, "%s",
                                    why.msg);
    }
    return pp_registry_all(m->registry, PP_KIND_TRANSPORT, &pl->all,
                           &pl->nall, err);
}

pp_status pp_routes_plan(pp_model *m, pp_error *err)
{
    if (!m->process_of || !m->node_of)
        return PP_OK; /* out of memory placing them: reported */
    for (int r = 0; r < m->nranks; r++)
        if (!m->devices[r].plugin)
            return PP_OK; /* reported where it did not resolve */
    size_t pp = (size_t)m->nranks * (size_t)m->nranks;
    planner pl = {.m = m, .pipe = pp_config_section(m->cfg, "pipeline"),
                  .pick = calloc(pp, sizeof *pl.pick)};
    pp_status st = pl.pick ? PP_OK
                           : pp_error_add(err, PP_ERR_NOMEM, "out of memory");
    if (!st && m->nranks > 1)
        st = find_transports(&pl, err);
    if (!st)
        st = route_all(&pl, err);
    if (!st)
        st = check_named(&pl, err);
    if (!st)
        st = gather(m, &pl, err);
    free(pl.all);
    free(pl.pick);
    return st;
}

void pp_routes_print(const pp_model *m, FILE *out)
{
    const pp_routes *r = m->route;
    int p = m->nranks;
    for (int v = 0; r && v < r->n; v++) {
        fprintf(out, "%s%s", v ? "; " : "  transport: ",
                r->via[v]->desc->name);
        for (int i = 0; i < p * p; i++)
            if (r->pair[i] == v)
                fprintf(out, " %d->%d", i / p, i % p);
    }
    if (r && r->n)
        fputc('\n', out);
}
