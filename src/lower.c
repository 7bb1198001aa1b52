/* src/lower.c - from compute tasks to programs with communication.
 *
 * A task whose input comes from a stage on another rank gets a RECV in
 * front of it; a task whose output goes to a stage on another rank gets a
 * SEND after it; stages of one rank hand over in place (the task order
 * guarantees the producer ran first). Each program ends with the flush:
 * the optimizer STEP. RECV marks where a rank waits; the runtime posts
 * every receive of a step when the step starts, so they are non-blocking
 * until that point.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static pp_status emit(pp_program *prog, pp_ins ins, pp_error *err)
{
    if (prog->n == prog->cap) {
        int cap = prog->cap ? 2 * prog->cap : 64;
        pp_ins *grown = realloc(prog->ins, (size_t)cap * sizeof *grown);
        if (!grown)
            return pp_error_set(err, PP_ERR_NOMEM,
                                "out of memory lowering the schedule");
        prog->ins = grown;
        prog->cap = cap;
    }
    prog->ins[prog->n++] = ins;
    return PP_OK;
}

/* The op that computes (mb, stage)'s input gradient: B, or BI when the
 * backward is split. Verification has made sure it is one or the other. */
static pp_op grad_op(const pp_plan *plan, const unsigned char *split, int mb,
                     int stage)
{
    return split[(size_t)mb * plan->S + stage] ? PP_OP_BI : PP_OP_B;
}

pp_status pp_plan_lower(pp_plan *plan, pp_error *err)
{
    if (plan->prog)
        return PP_OK;
    int S = plan->S;
    unsigned char *split = calloc((size_t)plan->m * S, 1);
    pp_program *prog = calloc((size_t)plan->p, sizeof *prog);
    if (!split || !prog) {
        free(split);
        free(prog);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int r = 0; r < plan->p; r++)
        for (int i = 0; i < plan->tasks[r].n; i++) {
            const pp_task *t = &plan->tasks[r].task[i];
            if (t->op == PP_OP_BI)
                split[(size_t)t->mb * S + t->stage] = 1;
        }

    pp_status st = PP_OK;
    for (int r = 0; r < plan->p && !st; r++) {
        for (int i = 0; i < plan->tasks[r].n && !st; i++) {
            pp_task t = plan->tasks[r].task[i];
            int s = t.stage;
            int forward = t.op == PP_OP_F;
            int backward = t.op == PP_OP_B || t.op == PP_OP_BI;
            if (forward && s > 0 && plan->rank_of_stage[s - 1] != r)
                st = emit(&prog[r], (pp_ins){PP_INS_RECV,
                          {PP_OP_F, t.mb, s - 1}, PP_MSG_ACT,
                          plan->rank_of_stage[s - 1]}, err);
            if (backward && s < S - 1 && plan->rank_of_stage[s + 1] != r)
                st = emit(&prog[r], (pp_ins){PP_INS_RECV,
                          {grad_op(plan, split, t.mb, s + 1), t.mb, s + 1},
                          PP_MSG_GRAD, plan->rank_of_stage[s + 1]}, err);
            if (!st)
                st = emit(&prog[r], (pp_ins){PP_INS_COMPUTE, t, 0, r}, err);
            if (!st && forward && s < S - 1 &&
                plan->rank_of_stage[s + 1] != r)
                st = emit(&prog[r], (pp_ins){PP_INS_SEND, t, PP_MSG_ACT,
                          plan->rank_of_stage[s + 1]}, err);
            if (!st && backward && s > 0 && plan->rank_of_stage[s - 1] != r)
                st = emit(&prog[r], (pp_ins){PP_INS_SEND, t, PP_MSG_GRAD,
                          plan->rank_of_stage[s - 1]}, err);
        }
        if (!st)
            st = emit(&prog[r], (pp_ins){PP_INS_STEP, {0, 0, 0}, 0, r}, err);
    }
    free(split);
    if (st) {
        for (int r = 0; r < plan->p; r++)
            free(prog[r].ins);
        free(prog);
        return st;
    }
    plan->prog = prog;
    return PP_OK;
}

/* Where member rank r's REDUCE goes: before the STEP, or (after >= 0)
 * after the last backward of stage `after` and what follows it at once
 * (its sends, and the sums placed there before). */
static int sum_place(const pp_program *prog, int after)
{
    if (after < 0)
        return prog->n - 1;
    int i = prog->n - 1;
    while (i >= 0 && !(prog->ins[i].kind == PP_INS_COMPUTE &&
                       prog->ins[i].task.stage == after &&
                       (prog->ins[i].task.op == PP_OP_B ||
                        prog->ins[i].task.op == PP_OP_BW)))
        i--;
    for (i++; i < prog->n && (prog->ins[i].kind == PP_INS_SEND ||
                              prog->ins[i].kind == PP_INS_REDUCE);)
        i++;
    return i;
}

pp_status pp_plan_add_sum(pp_plan *plan, const int *ranks, int n,
                          const int *after, pp_error *err)
{
    pp_group *grown = realloc(plan->group,
                              (size_t)(plan->ngroups + 1) * sizeof *grown);
    if (!grown)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    plan->group = grown;
    pp_group *g = &plan->group[plan->ngroups];
    if (!(g->rank = malloc((size_t)n * sizeof *g->rank)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    memcpy(g->rank, ranks, (size_t)n * sizeof *g->rank);
    g->n = n;
    g->stage = -1;
    int id = plan->ngroups++;
    for (int k = 0; k < n; k++) {
        pp_program *prog = &plan->prog[ranks[k]];
        int at = sum_place(prog, after ? after[k] : -1);
        pp_status st = emit(prog, prog->ins[prog->n - 1], err);
        if (st)
            return st;
        memmove(&prog->ins[at + 1], &prog->ins[at],
                (size_t)(prog->n - 1 - at) * sizeof *prog->ins);
        prog->ins[at] = (pp_ins){PP_INS_REDUCE, {0, 0, 0}, 0, id};
    }
    return PP_OK;
}

pp_status pp_plan_add_replica_sums(pp_plan *plan, const unsigned char *has,
                                   pp_error *err)
{
    int D = plan->replicas, S = plan->S / D;
    int *ranks = malloc((size_t)D * sizeof *ranks);
    int *after = malloc((size_t)D * sizeof *after);
    pp_status st = ranks && after
                       ? PP_OK
                       : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int s = 0; !st && s < S; s++) {
        if (has && !has[s])
            continue;
        for (int k = 0; k < D; k++) {
            after[k] = k * S + s;
            ranks[k] = plan->rank_of_stage[after[k]];
        }
        st = pp_plan_add_sum(plan, ranks, D, after, err);
        if (!st)
            plan->group[plan->ngroups - 1].stage = s;
    }
    free(ranks);
    free(after);
    return st;
}

pp_status pp_plan_replicate(const pp_plan *plan, int D, pp_plan **out,
                            pp_error *err)
{
    *out = NULL;
    int p = plan->p, S = plan->S;
    if (plan->replicas != 1 || plan->ngroups || !plan->prog)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "schedule %s: replicated before it was lowered, "
                            "or twice", plan->name);
    int64_t tasks = 0;
    for (int r = 0; r < p; r++)
        tasks += plan->tasks[r].n;
    if (D < 1 || (int64_t)D * S > PP_PLAN_MAX ||
        (int64_t)D * tasks > PP_PLAN_MAX_TASKS)
        return pp_error_set(err, PP_ERR_CONFIG,
                            "%d replicas of %d stages (%lld tasks a step): "
                            "more than %d stages or %d tasks in all", D, S,
                            (long long)((int64_t)D * tasks), PP_PLAN_MAX,
                            PP_PLAN_MAX_TASKS);
    pp_plan *job;
    pp_status st = pp_plan_alloc(plan->name, D * p, plan->m, plan->v, &job,
                                 err);
    if (st)
        return st;
    job->replicas = D;
    job->from_file = plan->from_file;
    job->bubble_num = plan->bubble_num;
    job->bubble_den = plan->bubble_den;
    job->formula = plan->formula;
    job->prog = calloc((size_t)D * p, sizeof *job->prog);
    if (plan->line_of_rank)
        job->line_of_rank = malloc((size_t)D * p * sizeof *job->line_of_rank);
    if (!job->prog || (plan->line_of_rank && !job->line_of_rank)) {
        pp_plan_free(job);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < D; k++)
        for (int s = 0; s < S; s++)
            job->rank_of_stage[k * S + s] = plan->rank_of_stage[s] * D + k;
    for (int r = 0; r < p && !st; r++)
        for (int k = 0; k < D && !st; k++) {
            int to = r * D + k;
            if (plan->line_of_rank)
                job->line_of_rank[to] = plan->line_of_rank[r];
            const pp_task_list *from = &plan->tasks[r];
            for (int i = 0; i < from->n && !st; i++) {
                pp_task t = from->task[i];
                t.stage += k * S;
                st = pp_task_add(&job->tasks[to], t.op, t.mb, t.stage,
                                      err);
            }
            const pp_program *prog = &plan->prog[r];
            for (int i = 0; i < prog->n && !st; i++) {
                pp_ins in = prog->ins[i];
                if (in.kind != PP_INS_STEP)
                    in.task.stage += k * S;
                in.peer = in.peer * D + k;
                st = emit(&job->prog[to], in, err);
            }
        }
    if (st) {
        pp_plan_free(job);
        return st;
    }
    *out = job;
    return PP_OK;
}

/* The next message of the program from `at` on that goes to (or comes
 * from) `peer`, or NULL. */
static const pp_ins *next_message(const pp_program *prog, int *at,
                                  pp_ins_kind kind, int peer)
{
    while (*at < prog->n) {
        const pp_ins *in = &prog->ins[(*at)++];
        if (in->kind == kind && in->peer == peer)
            return in;
    }
    return NULL;
}

int pp_plan_in_order(const pp_plan *plan, int src, int dst)
{
    int i = 0, j = 0;
    for (;;) {
        const pp_ins *send = next_message(&plan->prog[src], &i, PP_INS_SEND,
                                          dst);
        const pp_ins *recv = next_message(&plan->prog[dst], &j, PP_INS_RECV,
                                          src);
        if (!send || !recv)
            return !send && !recv;
        if (send->msg != recv->msg || send->task.mb != recv->task.mb ||
            send->task.stage != recv->task.stage)
            return 0;
    }
}
