/* src/plan.c - building plans from schedule plugins, task notation, costs.
 * Verification, lowering and simulation have files of their own. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

const char *pp_op_name(pp_op op)
{
    switch (op) {
    case PP_OP_F: return "F";
    case PP_OP_B: return "B";
    case PP_OP_BI: return "BI";
    case PP_OP_BW: return "BW";
    }
    return "?";
}

pp_status pp_task_add(pp_task_list *list, pp_op op, int mb, int stage,
                      pp_error *err)
{
    if (list->n == list->cap) {
        int cap = list->cap ? 2 * list->cap : 64;
        pp_task *grown = realloc(list->task, (size_t)cap * sizeof *grown);
        if (!grown)
            return pp_error_set(err, PP_ERR_NOMEM,
                                "out of memory for %d schedule tasks", cap);
        list->task = grown;
        list->cap = cap;
    }
    list->task[list->n++] = (pp_task){op, mb, stage};
    return PP_OK;
}

const char *pp_task_format(const pp_task *t, char *buf, int size)
{
    snprintf(buf, (size_t)size, "%s%d.%d", pp_op_name(t->op), t->mb,
             t->stage);
    return buf;
}

/* A non-negative decimal of at most 9 digits at *p; advances *p. */
static int parse_index(const char **p, int *out)
{
    const char *s = *p;
    long v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s) && digits < 10) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 9)
        return -1;
    *out = (int)v;
    *p = s;
    return 0;
}

int pp_task_parse(const char *text, pp_task *out)
{
    const char *p = text;
    if (strncmp(p, "BI", 2) == 0) {
        out->op = PP_OP_BI;
        p += 2;
    } else if (strncmp(p, "BW", 2) == 0) {
        out->op = PP_OP_BW;
        p += 2;
    } else if (*p == 'B') {
        out->op = PP_OP_B;
        p++;
    } else if (*p == 'F') {
        out->op = PP_OP_F;
        p++;
    } else {
        return -1;
    }
    if (parse_index(&p, &out->mb) || *p++ != '.' ||
        parse_index(&p, &out->stage) || *p)
        return -1;
    return 0;
}

pp_costs pp_costs_default(void)
{
    return (pp_costs){1.0, 2.0, 1.0, 1.0, 0.0, 0.0, {{0}}};
}

int pp_costs_parse(const char *text, pp_costs *costs, char *why, int size)
{
    char *copy = strdup(text);
    if (!copy) {
        snprintf(why, (size_t)size, "out of memory");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !rc;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *end = NULL;
        double value = 0;
        if (eq) {
            *eq = '\0';
            errno = 0;
            value = strtod(eq + 1, &end);
        }
        if (!eq || end == eq + 1 || *end || errno || !isfinite(value) ||
            value < 0) {
            snprintf(why, (size_t)size,
                     "'%s%s%s': expected NAME=COST with a cost >= 0",
                     item, eq ? "=" : "", eq ? eq + 1 : "");
            rc = -1;
        } else if (strchr(item, '.')) {
            pp_task t;
            char task[64];
            /* "B.3": parse "B0.3" to reuse the notation's reader. */
            char *dot = strchr(item, '.');
            snprintf(task, sizeof task, "%.*s0%s", (int)(dot - item), item,
                     dot);
            if (pp_task_parse(task, &t) || t.stage >= PP_COSTS_STAGES ||
                value <= 0) {
                snprintf(why, (size_t)size,
                         "'%s=%s': a cost per stage is written OP.STAGE=COST, "
                         "as in B.3=2.5, with a stage below %d and a cost "
                         "above 0", item, eq + 1, PP_COSTS_STAGES);
                rc = -1;
            } else {
                costs->stage[t.stage][t.op - 1] = value;
            }
        } else if (strcmp(item, "F") == 0) {
            costs->f = value;
        } else if (strcmp(item, "B") == 0) {
            costs->b = value;
        } else if (strcmp(item, "BI") == 0) {
            costs->bi = value;
        } else if (strcmp(item, "BW") == 0) {
            costs->bw = value;
        } else if (strcmp(item, "transfer") == 0) {
            costs->transfer = value;
        } else if (strcmp(item, "allreduce") == 0) {
            costs->allreduce = value;
        } else {
            snprintf(why, (size_t)size,
                     "unknown cost '%s': the costs are F, B, BI, BW, "
                     "transfer and allreduce", item);
            rc = -1;
        }
    }
    free(copy);
    if (!rc && (costs->f <= 0 || costs->b <= 0 || costs->bi <= 0 ||
                costs->bw <= 0)) {
        snprintf(why, (size_t)size, "the costs of F, B, BI and BW must be "
                                    "greater than 0");
        rc = -1;
    }
    return rc;
}

pp_status pp_plan_alloc(const char *name, int p, int m, int v,
                        pp_plan **out, pp_error *err)
{
    *out = NULL;
    pp_plan *plan = calloc(1, sizeof *plan);
    if (!plan)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    snprintf(plan->name, sizeof plan->name, "%s", name);
    plan->p = p;
    plan->m = m;
    plan->v = v;
    plan->S = p * v;
    plan->replicas = 1;
    plan->rank_of_stage = malloc((size_t)plan->S * sizeof *plan->rank_of_stage);
    plan->tasks = calloc((size_t)p, sizeof *plan->tasks);
    if (!plan->rank_of_stage || !plan->tasks) {
        pp_plan_free(plan);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int s = 0; s < plan->S; s++)
        plan->rank_of_stage[s] = -1;
    *out = plan;
    return PP_OK;
}

void pp_plan_free(pp_plan *plan)
{
    if (!plan)
        return;
    for (int r = 0; plan->tasks && r < plan->p; r++)
        free(plan->tasks[r].task);
    for (int r = 0; plan->prog && r < plan->p; r++)
        free(plan->prog[r].ins);
    for (int g = 0; g < plan->ngroups; g++)
        free(plan->group[g].rank);
    free(plan->group);
    free(plan->tasks);
    free(plan->prog);
    free(plan->rank_of_stage);
    free(plan->line_of_rank);
    free(plan);
}

pp_status pp_plan_from_ops(const char *name, const pp_schedule_ops *ops,
                           const void *args, int p, int m, int v,
                           pp_plan **out, pp_error *err)
{
    const pp_schedule_call call = {p, m, v, args};
    *out = NULL;
    if (p < 1 || m < 1 || v < 1 || p > PP_PLAN_MAX || m > PP_PLAN_MAX ||
        v > PP_PLAN_MAX || (long)p * v > PP_PLAN_MAX)
        return pp_error_set(err, PP_ERR_CONFIG,
            "schedule %s: ranks (%d), micro-batches (%d) and stages per "
            "rank (%d) must each be at least 1, and ranks x stages at most "
            "%d", name, p, m, v, PP_PLAN_MAX);
    if ((long long)m * p * v > PP_PLAN_MAX_TASKS)
        return pp_error_set(err, PP_ERR_CONFIG,
            "schedule %s: %d micro-batches x %d stages is more than %d "
            "(micro-batch, stage) pairs", name, m, p * v, PP_PLAN_MAX_TASKS);
    if (ops->check(&call, err)) {
        pp_error_prefix(err, "schedule %s", name);
        return err->code == PP_OK ? PP_ERR_CONFIG : err->code;
    }
    pp_plan *plan;
    pp_status st = pp_plan_alloc(name, p, m, v, &plan, err);
    if (st)
        return st;
    for (int s = 0; s < plan->S; s++) {
        int r = ops->rank_of_stage(&call, s);
        if (r < 0 || r >= p) {
            pp_plan_free(plan);
            return pp_error_set(err, PP_ERR_PLUGIN,
                "schedule %s: places stage %d on rank %d, but the ranks are "
                "0 to %d", name, s, r, p - 1);
        }
        plan->rank_of_stage[s] = r;
    }
    for (int r = 0; r < p; r++) {
        st = ops->tasks(&call, r, &plan->tasks[r], err);
        if (st) {
            pp_error_prefix(err, "schedule %s: rank %d", name, r);
            pp_plan_free(plan);
            return st;
        }
    }
    plan->formula = ops->formula;
    if (!ops->bubble_formula ||
        !ops->bubble_formula(&call, &plan->bubble_num, &plan->bubble_den))
        plan->bubble_den = 0;
    *out = plan;
    return PP_OK;
}
