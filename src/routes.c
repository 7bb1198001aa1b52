/* src/routes.c - which transport carries each direction between ranks
 * (see routes.h for the rules). */
#include <string.h>

#include "plan.h"
#include "registry.h"
#include "routes.h"

static const char *const names[PP_VIA_COUNT] = {"local", "peer", "nccl"};

const char *pp_via_name(int via)
{
    return via >= 0 && via < PP_VIA_COUNT ? names[via] : "none";
}

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

/* Routes the direction src -> dst (see routes.h); *nccl caches whether
 * the nccl plugin is there (-1: not looked up yet). */
static pp_status route_pair(const pp_model *m, int src, int dst, int *nccl,
                            unsigned char *route, int *used, pp_error *err)
{
    int p = m->nranks;
    const pp_device_spec *a = &m->devices[src], *b = &m->devices[dst];
    /* auto takes nccl only where it is installed; looked up only for a
     * pair of GPUs, since loading it maps NCCL and CUDA. */
    if (*nccl < 0 && a->kind == PP_DEV_CUDA && b->kind == PP_DEV_CUDA &&
        a->index != b->index && strcmp(m->transport, "auto") == 0) {
        const pp_plugin *plugin;
        pp_error ignore;
        *nccl = pp_registry_find(m->registry, PP_KIND_TRANSPORT, "nccl",
                                 &plugin, &ignore) == PP_OK;
    }
    int in_order = pp_plan_in_order(m->plan, src, dst);
    int v = pp_route_choose(a, b, m->transport, *nccl > 0 && in_order);
    if (v == PP_VIA_NCCL && !in_order)
        return pp_section_error(pp_config_section(m->cfg, "pipeline"),
            "transport", err,
            "nccl delivers messages in the order they are sent, and under "
            "schedule %s rank %d receives rank %d's in another order: use "
            "transport = auto or peer", m->schedule, dst, src);
    route[src * p + dst] = (unsigned char)v;
    used[v] = 1;
    return PP_OK;
}

pp_status pp_routes_plan(const pp_model *m, unsigned char *route,
                         pp_error *err)
{
    int p = m->nranks;
    const pp_section *pipe = pp_config_section(m->cfg, "pipeline");
    memset(route, PP_VIA_NONE, (size_t)p * (size_t)p);
    int nccl = -1;
    int used[PP_VIA_COUNT] = {0};
    for (int r = 0; r < p; r++) {
        const pp_program *prog = &m->plan->prog[r];
        for (int i = 0; i < prog->n; i++) {
            const pp_ins *in = &prog->ins[i];
            /* A sum sends to every other member of its group. */
            const pp_group *g = in->kind == PP_INS_REDUCE
                                    ? &m->plan->group[in->peer] : NULL;
            for (int k = 0; g && k < g->n; k++)
                if (g->rank[k] != r &&
                    route_pair(m, r, g->rank[k], &nccl, route, used, err))
                    return err->code;
            if (in->kind == PP_INS_SEND &&
                route_pair(m, r, in->peer, &nccl, route, used, err))
                return err->code;
        }
    }
    /* A transport named for ranks it cannot connect is a mistake in the
     * file, not a preference to ignore. */
    int any = 0, named = -1;
    for (int v = 0; v < PP_VIA_COUNT; v++) {
        any |= used[v];
        if (strcmp(m->transport, names[v]) == 0)
            named = v;
    }
    if (any && named >= 0 && !used[named])
        return pp_section_error(pipe, "transport", err,
            "%s connects none of these ranks (%s): use transport = auto",
            m->transport,
            named == PP_VIA_NCCL ? "it needs ranks on two different GPUs"
                                 : "it needs two cpu ranks or two GPU ranks");
    /* Named, it must be installed: said now rather than before step 1. */
    const pp_plugin *plugin;
    pp_error why;
    if (named >= 0 && used[named] &&
        pp_registry_find(m->registry, PP_KIND_TRANSPORT, names[named],
                         &plugin, &why))
        return pp_section_error(pipe, "transport", err, "%s", why.msg);
    return PP_OK;
}

void pp_routes_print(const pp_model *m, const unsigned char *route,
                     FILE *out)
{
    int p = m->nranks, any = 0;
    for (int v = 0; v < PP_VIA_COUNT; v++) {
        int first = 1;
        for (int i = 0; i < p * p; i++) {
            if (route[i] != v)
                continue;
            if (first)
                fprintf(out, "%s%s", any ? "; " : "  transport: ", names[v]);
            fprintf(out, " %d->%d", i / p, i % p);
            first = 0;
            any = 1;
        }
    }
    if (any)
        fputc('\n', out);
}
