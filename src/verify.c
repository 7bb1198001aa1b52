/* src/verify.c - refusing a schedule that would compute wrongly or hang.
 *
 * Checks run from the cheapest and most specific to the most general, and
 * the first failure is reported, naming the rank, the task in the schedule
 * notation and the reason: a user fixes one thing at a time, and a task
 * that is missing would otherwise also show up as a deadlock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Where each (op, mb, stage) was scheduled: the first rank and position,
 * and how many times. */
#define PP_WHERE_MAX 1024

typedef struct seen {
    int rank, pos, count;
} seen;

typedef struct task_index {
    const pp_plan *plan;
    seen *at[5]; /* by pp_op; [0] unused */
} task_index;

static seen *lookup(const task_index *ix, pp_op op, int mb, int stage)
{
    return &ix->at[op][(size_t)mb * ix->plan->S + stage];
}

static pp_status refuse(const pp_plan *plan, pp_error *err, int rank,
                        const pp_task *t, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "schedule NAME" for a plugin; "PATH:LINE" (the rank's line, or just
 * "PATH" for rank < 0) for a file, so an editor can jump there. */
static const char *where(const pp_plan *plan, int rank, char *buf, int size)
{
    if (!plan->from_file)
        snprintf(buf, (size_t)size, "schedule %s", plan->name);
    else if (rank < 0)
        snprintf(buf, (size_t)size, "%s", plan->name + 5);
    else
        snprintf(buf, (size_t)size, "%s:%d", plan->name + 5,
                 plan->line_of_rank[rank]);
    return buf;
}

static pp_status refuse(const pp_plan *plan, pp_error *err, int rank,
                        const pp_task *t, const char *fmt, ...)
{
    char task[32], why[512], at[PP_WHERE_MAX];
    pp_task_format(t, task, sizeof task);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return pp_error_set(err, plan->from_file ? PP_ERR_CONFIG : PP_ERR_PLUGIN,
                        "%s: rank %d: %s: %s",
                        where(plan, rank, at, sizeof at), rank, task, why);
}

static pp_status check_ranges(const pp_plan *plan, pp_error *err)
{
    for (int r = 0; r < plan->p; r++)
        for (int i = 0; i < plan->tasks[r].n; i++) {
            const pp_task *t = &plan->tasks[r].task[i];
            if (t->op < PP_OP_F || t->op > PP_OP_BW)
                return pp_error_set(err, PP_ERR_PLUGIN,
                    "schedule %s: rank %d: task %d has op %d, which is not "
                    "F, B, BI or BW", plan->name, r, i, (int)t->op);
            if (t->mb < 0 || t->mb >= plan->m)
                return refuse(plan, err, r, t,
                    "micro-batch %d does not exist: there are %d", t->mb,
                    plan->m);
            if (t->stage < 0 || t->stage >= plan->S)
                return refuse(plan, err, r, t,
                    "stage %d does not exist: there are %d", t->stage,
                    plan->S);
            int home = plan->rank_of_stage[t->stage];
            if (home != r)
                return refuse(plan, err, r, t,
                    "stage %d is placed on rank %d: a stage lives on exactly "
                    "one rank, which runs all of its tasks", t->stage, home);
        }
    return PP_OK;
}

static pp_status count_tasks(const pp_plan *plan, task_index *ix, pp_error *err)
{
    for (int r = 0; r < plan->p; r++)
        for (int i = 0; i < plan->tasks[r].n; i++) {
            const pp_task *t = &plan->tasks[r].task[i];
            seen *s = lookup(ix, t->op, t->mb, t->stage);
            if (s->count++ == 0) {
                s->rank = r;
                s->pos = i;
                continue;
            }
            return refuse(plan, err, r, t, "scheduled twice (also on rank %d)",
                          s->rank);
        }
    return PP_OK;
}

static pp_status check_complete(const pp_plan *plan, const task_index *ix,
                                pp_error *err)
{
    char a[32], b[32];
    for (int s = 0; s < plan->S; s++) {
        int r = plan->rank_of_stage[s];
        for (int mb = 0; mb < plan->m; mb++) {
            pp_task f = {PP_OP_F, mb, s}, bw = {PP_OP_B, mb, s},
                    bi = {PP_OP_BI, mb, s}, w = {PP_OP_BW, mb, s};
            int nb = lookup(ix, PP_OP_B, mb, s)->count;
            int nbi = lookup(ix, PP_OP_BI, mb, s)->count;
            int nw = lookup(ix, PP_OP_BW, mb, s)->count;
            char at[PP_WHERE_MAX];
            if (r < 0)
                return pp_error_set(err, PP_ERR_CONFIG,
                    "%s: stage %d is on no rank: no task names it",
                    where(plan, -1, at, sizeof at), s);
            if (!lookup(ix, PP_OP_F, mb, s)->count)
                return refuse(plan, err, r, &f,
                    "missing: every micro-batch needs one F on every "
                    "stage");
            pp_task_format(&f, a, sizeof a);
            if (nb && (nbi || nw)) {
                pp_task_format(&bw, b, sizeof b);
                return refuse(plan, err, r, nbi ? &bi : &w,
                    "%s is scheduled too: a backward is one B, or one BI "
                    "and one BW", b);
            }
            if (!nb && !nbi && !nw)
                return refuse(plan, err, r, &bw,
                    "missing: %s needs one B, or one BI and one BW", a);
            if (nbi && !nw) {
                pp_task_format(&bi, b, sizeof b);
                return refuse(plan, err, r, &w, "missing: %s needs its BW", b);
            }
            if (nw && !nbi) {
                pp_task_format(&w, b, sizeof b);
                return refuse(plan, err, r, &bi, "missing: %s needs its BI", b);
            }
        }
    }
    return PP_OK;
}

/* A task placed after something it needs from its own rank can never run:
 * say so plainly rather than as a deadlock. */
static pp_status check_local_order(const pp_plan *plan, const task_index *ix,
                                   pp_error *err)
{
    char dep[32];
    for (int r = 0; r < plan->p; r++)
        for (int i = 0; i < plan->tasks[r].n; i++) {
            const pp_task *t = &plan->tasks[r].task[i];
            pp_task needs[2];
            const char *why[2];
            int n = 0;
            if (t->op == PP_OP_F && t->stage > 0) {
                needs[n] = (pp_task){PP_OP_F, t->mb, t->stage - 1};
                why[n++] = "a forward runs after the previous stage's";
            } else if (t->op == PP_OP_B || t->op == PP_OP_BI) {
                needs[n] = (pp_task){PP_OP_F, t->mb, t->stage};
                why[n++] = "backward before its forward";
                if (t->stage < plan->S - 1) {
                    const seen *b = lookup(ix, PP_OP_B, t->mb, t->stage + 1);
                    needs[n] = (pp_task){b->count ? PP_OP_B : PP_OP_BI, t->mb,
                                         t->stage + 1};
                    why[n++] = "a backward runs after the next stage's";
                }
            } else if (t->op == PP_OP_BW) {
                needs[n] = (pp_task){PP_OP_BI, t->mb, t->stage};
                why[n++] = "BW before its BI";
            }
            for (int k = 0; k < n; k++) {
                const seen *d = lookup(ix, needs[k].op, needs[k].mb,
                                       needs[k].stage);
                if (d->count && d->rank == r && d->pos > i)
                    return refuse(plan, err, r, t,
                        "scheduled before %s, which it needs, on the same "
                        "rank (%s)", pp_task_format(&needs[k], dep, sizeof dep),
                        why[k]);
            }
        }
    return PP_OK;
}

/* Runs the programs (times do not matter here): when no rank can move
 * and some have not finished, each of those waits at a receive. */
static pp_status check_deadlock(const pp_plan *plan, pp_error *err)
{
    int p = plan->p, done;
    int *pc = calloc((size_t)p, sizeof *pc);
    if (!pc)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_costs costs = pp_costs_default();
    pp_status st = pp_plan_run(plan, &costs, NULL, pc, &done, err);
    if (!st && done < p) {
        char at[PP_WHERE_MAX];
        st = pp_error_set(err, plan->from_file ? PP_ERR_CONFIG : PP_ERR_PLUGIN,
            "%s: deadlock: no rank can move", where(plan, -1, at, sizeof at));
        for (int r = 0; r < p; r++) {
            if (pc[r] == plan->prog[r].n)
                continue;
            const pp_ins *in = &plan->prog[r].ins[pc[r]];
            if (in->kind == PP_INS_REDUCE) {
                const pp_group *g = &plan->group[in->peer];
                char ranks[256] = "";
                for (int k = 0, used = 0; k < g->n && used < 250; k++)
                    used += snprintf(ranks + used, sizeof ranks - (size_t)used,
                                     "%s%d", k ? ", " : "", g->rank[k]);
                pp_error_add(err, err->code,
                    "  rank %d: waits for ranks %s to sum a gradient", r,
                    ranks);
                continue;
            }
            const pp_ins *next = in + 1; /* a RECV is followed by its task */
            char task[32], wait[32];
            pp_task_format(&next->task, task, sizeof task);
            pp_task_format(&in->task, wait, sizeof wait);
            pp_error_add(err, err->code,
                "  rank %d: %s waits for %s from rank %d", r, task, wait,
                in->peer);
        }
    }
    free(pc);
    return st;
}

pp_status pp_plan_verify(pp_plan *plan, pp_error *err)
{
    task_index ix = {plan, {NULL}};
    size_t n = (size_t)plan->m * plan->S;
    pp_status st = PP_OK;
    for (int op = PP_OP_F; op <= PP_OP_BW && !st; op++)
        if (!(ix.at[op] = calloc(n, sizeof(seen))))
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!st)
        st = check_ranges(plan, err);
    if (!st)
        st = count_tasks(plan, &ix, err);
    if (!st)
        st = check_complete(plan, &ix, err);
    if (!st)
        st = check_local_order(plan, &ix, err);
    if (!st)
        st = pp_plan_lower(plan, err);
    if (!st)
        st = check_deadlock(plan, err);
    for (int op = PP_OP_F; op <= PP_OP_BW; op++)
        free(ix.at[op]);
    return st;
}
