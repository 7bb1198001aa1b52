/* schedules/interleaved.c - interleaved 1F1B (Narayanan et al.,
 * "Efficient Large-Scale Language Model Training on GPU Clusters Using
 * Megatron-LM", 2021), as Megatron-LM runs it.
 *
 * Each rank holds v chunks, looped: stage s on rank s % p. Micro-batches
 * go through in groups of p: the k-th forward of a rank is micro-batch
 * (k / pv) p + k % p on chunk (k % pv) / p; backwards walk the chunks the
 * other way. Rank r warms up with 2(p-r-1) + (v-1)p forwards (at most mv),
 * then alternates one forward and one backward. Megatron's special case of
 * m = p (all forwards first) is left out: it only raises memory, as our
 * sends never block. Bubble (p-1)/(vm+p-1) with per-chunk costs.
 */
#include "common.h"

static pp_status check(const pp_schedule_call *s, pp_error *err)
{
    int p = s->p, m = s->m, v = s->v;
    if (v < 2)
        return pp_error_set(err, PP_ERR_CONFIG,
            "needs at least 2 stages per rank (v >= 2); got "
            "v = %d: use v = 2, or 1f1b for one stage per rank", v);
    if (m % p == 0)
        return PP_OK;
    if (m < p)
        return pp_error_set(err, PP_ERR_CONFIG,
            "needs microbatches to be a multiple of the ranks "
            "(%d); got %d: use %d", p, m, p);
    return pp_error_set(err, PP_ERR_CONFIG,
        "needs microbatches to be a multiple of the ranks (%d); "
        "got %d: use %d or %d", p, m, m / p * p, (m / p + 1) * p);
}

/* Stage of the k-th forward (backward when back) of rank r. */
static int stage_of(int p, int v, int r, int k, int back)
{
    int chunk = k % (p * v) / p;
    return (back ? v - 1 - chunk : chunk) * p + r;
}

static int mb_of(int p, int v, int k)
{
    return k / (p * v) * p + k % p;
}

static pp_status tasks(const pp_schedule_call *s, int r,
                       pp_task_list *out, pp_error *err)
{
    int p = s->p, m = s->m, v = s->v;
    int total = m * v;
    int warmup = 2 * (p - r - 1) + (v - 1) * p;
    if (warmup > total)
        warmup = total;
    int f = 0, b = 0;
    for (; f < warmup; f++)
        TASK(PP_OP_F, mb_of(p, v, f), stage_of(p, v, r, f, 0));
    for (; f < total; f++, b++) {
        TASK(PP_OP_F, mb_of(p, v, f), stage_of(p, v, r, f, 0));
        TASK(PP_OP_B, mb_of(p, v, b), stage_of(p, v, r, b, 1));
    }
    for (; b < total; b++)
        TASK(PP_OP_B, mb_of(p, v, b), stage_of(p, v, r, b, 1));
    return PP_OK;
}

static int bubble(const pp_schedule_call *s, int64_t *num,
                  int64_t *den)
{
    int p = s->p, m = s->m, v = s->v;
    return fraction(p - 1, (int64_t)v * m + p - 1, num, den);
}

static const pp_schedule_ops ops = {
    .check = check, .rank_of_stage = looped_rank, .tasks = tasks,
    .bubble_formula = bubble, .formula = "(p-1)/(vm+p-1), for m a multiple of p"};

PP_PLUGIN(PP_KIND_SCHEDULE, "interleaved",
          "interleaved 1F1B (Megatron-LM): v looped chunks per rank", NULL,
          &ops);
