/* src/plan_load.c - a schedule by the name a user writes: a plugin's name,
 * or file:PATH for a schedule written as text; built and verified. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config_file.h"
#include "plan.h"
#include "plugin_plan.h"
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

/* A schedule plugin's plan for these numbers: its keys read from `keys`
 * (or, without a section, every key at its default) by its plan(). */
static pp_status from_plugin(const pp_plugin *plugin, const char *name,
                             const pp_section *keys, int p, int m, int v,
                             pp_plan **out, pp_error *err)
{
    const pp_schedule_ops *ops = plugin->ops;
    if (!ops->plan)
        return pp_plan_from_ops(name, ops, NULL, p, m, v, out, err);
    pp_config *none = NULL;
    pp_status st = PP_OK;
    if (!keys && !(st = pp_config_parse(name, "[pipeline]\n", &none, err))) {
        pp_section *s = pp_config_section(none, "pipeline");
        st = pp_section_validate(s, NULL, plugin->desc->keys, err);
        keys = s;
    }
    pp_schedule_plan sp = {0};
    if (!st)
        st = ops->plan(keys, &sp, err);
    if (!st)
        st = pp_plan_from_ops(name, ops, sp.args, p, m, v, out, err);
    pp_schedule_plan_release(&sp);
    pp_config_free(none);
    return st;
}

pp_status pp_plan_load(pp_registry *reg, const char *name, const char *base,
                       const pp_section *keys, int p, int m, int v,
                       pp_plan **out, pp_error *err)
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
            st = from_plugin(plugin, name, keys, p, m, v, &plan, err);
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
