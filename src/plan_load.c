/* src/plan_load.c - a schedule by the name a user writes: a plugin's name,
 * or file:PATH for a schedule written as text; built and verified. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"
#include "registry.h"

/* A file schedule fixes p, m and v itself; a caller that also has them
 * (from a model's [pipeline]) must agree with it. */
static pp_status check_shape(const pp_plan *plan, int p, int m, int v,
                             pp_error *err)
{
    const char *what = NULL;
    int want = 0, got = 0;
    if (p > 0 && plan->p != p)
        what = "ranks", want = p, got = plan->p;
    else if (m > 0 && plan->m != m)
        what = "micro-batches", want = m, got = plan->m;
    else if (v > 0 && plan->v != v)
        what = "stages per rank", want = v, got = plan->v;
    if (!what)
        return PP_OK;
    return pp_error_set(err, PP_ERR_CONFIG,
                        "schedule %s is written for %d %s, not %d",
                        plan->name, got, what, want);
}

pp_status pp_plan_load(pp_registry *reg, const char *name, const char *base,
                       int p, int m, int v, pp_plan **out, pp_error *err)
{
    *out = NULL;
    pp_plan *plan = NULL;
    pp_status st;
    if (strncmp(name, "file:", 5) == 0) {
        const char *path = name + 5;
        char joined[PATH_MAX];
        if (base && *base && path[0] != '/') {
            snprintf(joined, sizeof joined, "%s/%s", base, path);
            path = joined;
        }
        st = pp_plan_from_file(path, &plan, err);
        if (!st)
            st = check_shape(plan, p, m, v, err);
    } else {
        const pp_plugin *plugin;
        st = pp_registry_find(reg, PP_KIND_SCHEDULE, name, &plugin, err);
        if (!st)
            st = pp_plan_from_ops(name, plugin->ops, p, m, v, &plan,
                                  err);
    }
    if (!st)
        st = pp_plan_verify(plan, err);
    if (st) {
        pp_plan_free(plan);
        return st;
    }
    *out = plan;
    return PP_OK;
}
