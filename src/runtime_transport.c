/* src/runtime_transport.c - which transport carries the messages of each
 * pair of ranks, and the transports' lives around a run.
 *
 * A pair is routed by its devices and the [pipeline] transport key:
 *
 *   cpu and cuda (either way)  local, through the GPU rank's host staging
 *   cpu and cpu                local, or peer when named
 *   one GPU                    peer (NCCL refuses two ranks of one
 *                              communicator on one GPU), or local if named
 *   two GPUs                   nccl under auto when the plugin is there
 *                              and the receiver takes the messages in the
 *                              order they are sent (NCCL matches in order;
 *                              zb-v's V does not), else peer; local, peer
 *                              or nccl if named
 *
 * Only pairs that exchange messages in the lowered programs are routed,
 * and only the transports some pair uses are loaded and opened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

static const char *const via_names[PP_VIA_COUNT] = {"local", "peer", "nccl"};

int pp_route_choose(const pp_device_spec *a, const pp_device_spec *b,
                    const char *want, int nccl_ok)
{
    if (a->kind != b->kind)
        return PP_VIA_LOCAL;
    if (a->kind == PP_DEV_CPU)
        return strcmp(want, "peer") == 0 ? PP_VIA_PEER : PP_VIA_LOCAL;
    if (strcmp(want, "local") == 0)
        return PP_VIA_LOCAL;
    if (strcmp(want, "peer") == 0 || a->index == b->index)
        return PP_VIA_PEER;
    if (strcmp(want, "nccl") == 0)
        return PP_VIA_NCCL;
    return nccl_ok ? PP_VIA_NCCL : PP_VIA_PEER;
}

pp_status pp_transports_plan(pp_trainer *t, pp_section *pipe, pp_error *err)
{
    int p = t->p;
    int missing = !(t->route = malloc((size_t)p * (size_t)p));
    for (int v = 0; v < PP_VIA_COUNT; v++) {
        t->via[v].name = via_names[v];
        missing |= !(t->via[v].links = calloc((size_t)p * (size_t)p, 1));
    }
    if (missing)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    memset(t->route, PP_VIA_NONE, (size_t)p * (size_t)p);
    /* auto takes nccl only where it is installed; named, it must be. */
    const pp_plugin *nccl = NULL;
    pp_error ignore;
    if (strcmp(t->m->transport, "auto") == 0)
        pp_registry_find(t->m->registry, PP_KIND_TRANSPORT, "nccl", &nccl,
                         &ignore);
    for (int r = 0; r < p; r++) {
        const pp_program *prog = &t->m->plan->prog[r];
        for (int i = 0; i < prog->n; i++) {
            const pp_ins *in = &prog->ins[i];
            if (in->kind != PP_INS_SEND)
                continue;
            int v = pp_route_choose(&t->m->devices[r],
                                    &t->m->devices[in->peer],
                                    t->m->transport,
                                    nccl && pp_plan_in_order(t->m->plan, r,
                                                             in->peer));
            if (v == PP_VIA_NCCL && !pp_plan_in_order(t->m->plan, r, in->peer))
                return pp_section_error(pipe, "transport", err,
                    "nccl delivers messages in the order they are sent, and "
                    "under schedule %s rank %d receives rank %d's in "
                    "another order: use transport = auto or peer",
                    t->m->schedule, in->peer, r);
            t->route[r * p + in->peer] = (unsigned char)v;
            t->via[v].links[r * p + in->peer] = 1;
            t->via[v].used = 1;
        }
    }
    /* A transport named for ranks it cannot connect is a mistake in the
     * file, not a preference to ignore. */
    int any = 0, named = -1;
    for (int v = 0; v < PP_VIA_COUNT; v++) {
        any |= t->via[v].used;
        if (strcmp(t->m->transport, via_names[v]) == 0)
            named = v;
    }
    if (any && named >= 0 && !t->via[named].used)
        return pp_section_error(pipe, "transport", err,
            "%s connects none of these ranks (%s): use transport = auto",
            t->m->transport,
            named == PP_VIA_NCCL ? "it needs ranks on two different GPUs"
                                 : "it needs two cpu ranks or two GPU ranks");
    for (int v = 0; v < PP_VIA_COUNT; v++) {
        transport_rt *tr = &t->via[v];
        if (!tr->used)
            continue;
        const pp_plugin *plugin;
        pp_error why;
        if (pp_registry_find(t->m->registry, PP_KIND_TRANSPORT, tr->name,
                             &plugin, &why))
            return pipe ? pp_section_error(pipe, "transport", err, "%s",
                                           why.msg)
                        : pp_error_set(err, why.code, "%s", why.msg);
        tr->ops = plugin->desc->ops;
        tr->async = v != PP_VIA_LOCAL;
        int complete = tr->async
            ? plugin->desc->abi_minor >= 2 && tr->ops->open &&
                  tr->ops->send_async && tr->ops->recv_async
            : tr->ops->create && tr->ops->send && tr->ops->recv;
        if (!complete || !tr->ops->abort || !tr->ops->destroy)
            return pp_error_set(err, PP_ERR_PLUGIN,
                "%s: transport '%s' lacks the %s half this run needs",
                plugin->path, tr->name,
                tr->async ? "stream-ordered" : "host");
    }
    return PP_OK;
}

pp_status pp_transports_open(pp_trainer *t, pp_error *err)
{
    pp_transport_rank *rank = calloc((size_t)t->p, sizeof *rank);
    if (!rank)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int r = 0; r < t->p; r++)
        rank[r] = (pp_transport_rank){t->rank[r].dev, &t->rank[r].dr};
    pp_status st = PP_OK;
    for (int v = 0; !st && v < PP_VIA_COUNT; v++) {
        transport_rt *tr = &t->via[v];
        if (!tr->used)
            continue;
        st = tr->async
                 ? tr->ops->open(t->p, rank, tr->links, &tr->state, err)
                 : tr->ops->create(t->p, &tr->state, err);
        if (st)
            pp_error_prefix(err, "transport %s", tr->name);
    }
    free(rank);
    if (st)
        pp_transports_close(t);
    return st;
}

void pp_transports_abort(pp_trainer *t)
{
    for (int v = 0; v < PP_VIA_COUNT; v++)
        if (t->via[v].state)
            t->via[v].ops->abort(t->via[v].state);
}

void pp_transports_close(pp_trainer *t)
{
    for (int v = 0; v < PP_VIA_COUNT; v++) {
        if (t->via[v].state)
            t->via[v].ops->destroy(t->via[v].state);
        t->via[v].state = NULL;
    }
}

void pp_transports_free(pp_trainer *t)
{
    for (int v = 0; v < PP_VIA_COUNT; v++)
        free(t->via[v].links);
    free(t->route);
}

const transport_rt *pp_route(const pp_trainer *t, int src, int dst)
{
    return &t->via[t->route[src * t->p + dst]];
}

/* "transport: local 0->1 1->0; peer 1->2 2->1": every routed direction. */
void pp_transports_print(const pp_trainer *t, FILE *out)
{
    int any = 0;
    for (int v = 0; v < PP_VIA_COUNT; v++) {
        if (!t->via[v].used)
            continue;
        fprintf(out, "%s%s", any ? "; " : "  transport: ", via_names[v]);
        for (int i = 0; i < t->p * t->p; i++)
            if (t->route[i] == v)
                fprintf(out, " %d->%d", i / t->p, i % t->p);
        any = 1;
    }
    if (any)
        fputc('\n', out);
}
