/* schedules/looped-bfs.c - breadth-first looping (Lamy-Poirier,
 * "Breadth-First Pipeline Parallelism", 2023).
 *
 * Looped placement (stage s on rank s % p, v chunks per rank); each rank
 * runs every micro-batch's forward on chunk 0, then on chunk 1, ..., then
 * the backwards chunk by chunk in reverse, micro-batches in decreasing
 * order (so v = 1 is exactly gpipe). Once m >= p the pipeline never drains
 * between chunks and the bubble is that of v m micro-batches,
 * (p-1)/(vm+p-1); for m < p each chunk hand-over costs extra idle. Every
 * rank holds all m v activations at its peak: the paper pairs the schedule
 * with sharded data parallelism, which is not a schedule matter.
 */
#include "common.h"

static pp_status check(const pp_schedule_call *s, pp_error *err)
{
    (void)s, (void)err;
    return PP_OK;
}

static pp_status tasks(const pp_schedule_call *s, int r,
                       pp_task_list *out, pp_error *err)
{
    int p = s->p, m = s->m, v = s->v;
    for (int c = 0; c < v; c++)
        for (int mb = 0; mb < m; mb++)
            TASK(PP_OP_F, mb, c * p + r);
    for (int c = v - 1; c >= 0; c--)
        for (int mb = m - 1; mb >= 0; mb--)
            TASK(PP_OP_B, mb, c * p + r);
    return PP_OK;
}

static int bubble(const pp_schedule_call *s, int64_t *num,
                  int64_t *den)
{
    int p = s->p, m = s->m, v = s->v;
    if (v > 1 && m < p)
        return 0;
    return fraction(p - 1, (int64_t)v * m + p - 1, num, den);
}

static const pp_schedule_ops ops = {
    .check = check, .rank_of_stage = looped_rank, .tasks = tasks,
    .bubble_formula = bubble, .formula = "(p-1)/(vm+p-1), for m >= p or v = 1"};

PP_PLUGIN(PP_KIND_SCHEDULE, "looped-bfs",
          "breadth-first looping: each chunk's forwards for all "
          "micro-batches, then backwards in reverse", NULL, &ops);
