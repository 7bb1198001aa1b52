/* schedules/1f1b.c - one forward, one backward: PipeDream-flush
 * (Narayanan et al., "Memory-Efficient Pipeline-Parallel DNN Training",
 * 2021), the schedule Megatron-LM runs without interleaving.
 *
 * Rank r runs min(p-r-1, m) warm-up forwards, then alternates one forward
 * and one backward, then drains the backwards left. Same bubble as GPipe,
 * (p-1)/(m+p-1), but rank r holds at most min(p-r, m) micro-batches'
 * activations instead of m. Weight stashing (PipeDream's asynchronous
 * variant) is not done: the step flushes, so updates stay synchronous.
 */
#include "common.h"

static pp_status check(const pp_schedule_call *s, pp_error *err)
{
    return need_one_stage_per_rank(s->v, err);
}

static pp_status tasks(const pp_schedule_call *s, int r,
                       pp_task_list *out, pp_error *err)
{
    int p = s->p, m = s->m;
    int warmup = p - r - 1 < m ? p - r - 1 : m;
    int f = 0, b = 0;
    while (f < warmup)
        TASK(PP_OP_F, f++, r);
    while (f < m) {
        TASK(PP_OP_F, f++, r);
        TASK(PP_OP_B, b++, r);
    }
    while (b < m)
        TASK(PP_OP_B, b++, r);
    return PP_OK;
}

static int bubble(const pp_schedule_call *s, int64_t *num,
                  int64_t *den)
{
    int p = s->p, m = s->m;
    return fraction(p - 1, m + p - 1, num, den);
}

static const pp_schedule_ops ops = {
    .check = check, .rank_of_stage = looped_rank, .tasks = tasks,
    .bubble_formula = bubble, .formula = "(p-1)/(m+p-1), for any m"};

PP_PLUGIN(PP_KIND_SCHEDULE, "1f1b",
          "1F1B (PipeDream-flush): warm-up, one forward one backward, "
          "cool-down", NULL, &ops);
