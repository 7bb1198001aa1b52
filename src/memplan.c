/* src/memplan.c - the memory pass over the lowered programs (memplan.h).
 *
 * Rank by rank, in program order: a (stage, micro-batch) is taken where
 * its input first arrives and released after the last instruction that
 * needs it; a take gets the lowest slot of its stage that is free then.
 * Programs are the same every step, so one step's assignment is every
 * step's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memplan.h"

void pp_memplan_free(pp_memplan *mp)
{
    if (!mp)
        return;
    free(mp->slot);
    free(mp->take);
    free(mp->release);
    free(mp->nslots);
    free(mp->slot_bytes);
    free(mp->peak);
    free(mp->peak_act);
    free(mp->peak_bw);
    free(mp);
}

/* The (stage, micro-batch) instruction i takes besides its own task's,
 * through *also (stage, or -1): a forward also takes the next stage's
 * slot when that stage is on the same rank (its input is handed over at
 * once). Returns the stage it takes first, or -1. */
static int takes(const pp_plan *plan, int r, const pp_ins *in, int *also)
{
    *also = -1;
    int s = in->task.stage;
    if (in->kind == PP_INS_RECV && in->msg == PP_MSG_ACT)
        return s + 1;
    if (in->kind != PP_INS_COMPUTE || in->task.op != PP_OP_F)
        return -1;
    if (s + 1 < plan->S && plan->rank_of_stage[s + 1] == r)
        *also = s + 1;
    return s;
}

/* Whether instruction i ends (stage, mb)'s need of its slot: its B or BW,
 * or the send right after a B, which reads the input gradient from it. */
static int releases(const pp_program *prog, int i)
{
    const pp_ins *in = &prog->ins[i];
    if (in->kind == PP_INS_SEND)
        return i > 0 && prog->ins[i - 1].kind == PP_INS_COMPUTE &&
               prog->ins[i - 1].task.op == PP_OP_B &&
               prog->ins[i - 1].task.mb == in->task.mb &&
               prog->ins[i - 1].task.stage == in->task.stage;
    if (in->kind != PP_INS_COMPUTE)
        return 0;
    if (in->task.op == PP_OP_BW)
        return 1;
    if (in->task.op != PP_OP_B)
        return 0;
    const pp_ins *next = i + 1 < prog->n ? &prog->ins[i + 1] : NULL;
    return !(next && next->kind == PP_INS_SEND &&
             next->task.mb == in->task.mb &&
             next->task.stage == in->task.stage);
}

static pp_memplan *memplan_alloc(int p, int S, int m)
{
    pp_memplan *mp = calloc(1, sizeof *mp);
    if (!mp)
        return NULL;
    size_t n = (size_t)S * (size_t)m;
    mp->p = p, mp->S = S, mp->m = m;
    mp->slot = malloc(n * sizeof *mp->slot);
    mp->take = malloc(n * sizeof *mp->take);
    mp->release = malloc(n * sizeof *mp->release);
    mp->nslots = calloc((size_t)S, sizeof *mp->nslots);
    mp->slot_bytes = calloc((size_t)S, sizeof *mp->slot_bytes);
    mp->peak = calloc((size_t)p, sizeof *mp->peak);
    mp->peak_act = calloc((size_t)p, sizeof *mp->peak_act);
    mp->peak_bw = calloc((size_t)p, sizeof *mp->peak_bw);
    if (!mp->slot || !mp->take || !mp->release || !mp->nslots ||
        !mp->slot_bytes || !mp->peak || !mp->peak_act || !mp->peak_bw) {
        pp_memplan_free(mp);
        return NULL;
    }
    for (size_t k = 0; k < n; k++)
        mp->slot[k] = mp->take[k] = mp->release[k] = -1;
    return mp;
}

/* A stage's released slots, a min-heap in h[0..*n-1]. */
static void heap_push(int *h, int *n, int slot)
{
    int i = (*n)++;
    for (; i > 0 && h[(i - 1) / 2] > slot; i = (i - 1) / 2)
        h[i] = h[(i - 1) / 2];
    h[i] = slot;
}

static int heap_pop(int *h, int *n)
{
    int top = h[0], last = h[--*n], i = 0;
    for (int c; (c = 2 * i + 1) < *n; i = c) {
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= last)
            break;
        h[i] = h[c];
    }
    h[i] = last;
    return top;
}

pp_status pp_memplan_build(const pp_plan *plan, const double *slot_bytes,
                           pp_memplan **out, pp_error *err)
{
    *out = NULL;
    int S = plan->S, m = plan->m;
    pp_memplan *mp = memplan_alloc(plan->p, S, m);
    /* Each micro-batch takes its stage's lowest free slot: the lowest
     * released one (free_slots[s * m ..], a heap of nfree[s]), else a new
     * one (nslots[s]). The heap keeps that near-linear in micro-batches. */
    int *free_slots = malloc((size_t)S * (size_t)m * sizeof *free_slots);
    int *nfree = calloc((size_t)S, sizeof *nfree);
    if (!mp || !free_slots || !nfree) {
        pp_memplan_free(mp);
        free(free_slots);
        free(nfree);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int s = 0; s < S; s++)
        mp->slot_bytes[s] = slot_bytes ? slot_bytes[s] : 1.0;
    for (int r = 0; r < plan->p; r++) {
        const pp_program *prog = &plan->prog[r];
        double live = 0;
        int held = 0, pending = 0;
        for (int i = 0; i < prog->n; i++) {
            const pp_ins *in = &prog->ins[i];
            int mb = in->task.mb, also, first = takes(plan, r, in, &also);
            for (int s = first, k = 0; s >= 0 && k < 2; s = also, k++) {
                size_t at = (size_t)s * m + (size_t)mb;
                if (mp->take[at] >= 0)
                    continue; /* F after its own receive */
                int *heap = free_slots + (size_t)s * m;
                mp->slot[at] = nfree[s] ? heap_pop(heap, &nfree[s])
                                        : mp->nslots[s]++;
                mp->take[at] = i;
                live += mp->slot_bytes[s];
            }
            if (live > mp->peak[r])
                mp->peak[r] = live;
            if (in->kind == PP_INS_COMPUTE) {
                pp_op op = in->task.op;
                held += op == PP_OP_F ? 1 : op == PP_OP_B || op == PP_OP_BI
                                                ? -1 : 0;
                pending += op == PP_OP_BI ? 1 : op == PP_OP_BW ? -1 : 0;
                if (held > mp->peak_act[r])
                    mp->peak_act[r] = held;
                if (pending > mp->peak_bw[r])
                    mp->peak_bw[r] = pending;
            }
            if (releases(prog, i)) {
                int s = in->task.stage;
                size_t at = (size_t)s * m + (size_t)mb;
                if (mp->slot[at] >= 0)
                    heap_push(free_slots + (size_t)s * m, &nfree[s],
                              mp->slot[at]);
                mp->release[at] = i;
                live -= mp->slot_bytes[s];
            }
        }
    }
    free(free_slots);
    free(nfree);
    *out = mp;
    return PP_OK;
}

/* Instruction i of rank r's program, as a reader names it. */
static const char *ins_name(const pp_plan *plan, int r, int i, char *buf,
                            int size)
{
    const pp_ins *in = &plan->prog[r].ins[i];
    char task[32];
    pp_task_format(&in->task, task, sizeof task);
    if (in->kind == PP_INS_COMPUTE)
        snprintf(buf, (size_t)size, "%s", task);
    else
        snprintf(buf, (size_t)size, "the %s of %s's %s",
                 in->kind == PP_INS_RECV ? "receive" : "send", task,
                 in->msg == PP_MSG_ACT ? "output" : "input gradient");
    return buf;
}

/* A micro-batch of one stage and where its slot is taken, for sorting. */
typedef struct taken {
    int take, mb;
} taken;

static int by_take(const void *a, const void *b)
{
    int x = ((const taken *)a)->take, y = ((const taken *)b)->take;
    return (x > y) - (x < y);
}

pp_status pp_memplan_verify(const pp_plan *plan, const pp_memplan *mp,
                            pp_error *err)
{
    int S = plan->S, m = plan->m;
    taken *order = malloc((size_t)m * sizeof *order);
    int *last = malloc((size_t)m * sizeof *last);
    if (!order || !last) {
        free(order);
        free(last);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    pp_status st = PP_OK;
    for (int s = 0; s < S && !st; s++) {
        int r = plan->rank_of_stage[s];
        const int *slot = mp->slot + (size_t)s * m;
        const int *take = mp->take + (size_t)s * m;
        const int *release = mp->release + (size_t)s * m;
        for (int a = 0; a < m && !st; a++) {
            order[a] = (taken){take[a], a};
            last[a] = -1;
            if (slot[a] < 0 || slot[a] >= mp->nslots[s] || take[a] < 0 ||
                release[a] < take[a])
                st = pp_error_set(err, PP_ERR_RUNTIME,
                    "memory plan: rank %d: stage %d, micro-batch %d has no "
                    "slot (slot %d of %d)", r, s, a, slot[a], mp->nslots[s]);
        }
        if (st)
            break;
        qsort(order, (size_t)m, sizeof *order, by_take);
        /* last[k]: the micro-batch that took slot k most recently */
        for (int j = 0; j < m && !st; j++) {
            int b = order[j].mb, k = slot[b], a = last[k];
            if (a >= 0 && release[a] >= take[b]) {
                char x[96], y[96], z[96];
                st = pp_error_set(err, PP_ERR_RUNTIME,
                    "memory plan: rank %d: stage %d's slot %d holds "
                    "micro-batch %d from %s to %s, and micro-batch %d takes "
                    "it at %s, before then", r, s, k, a,
                    ins_name(plan, r, take[a], x, sizeof x),
                    ins_name(plan, r, release[a], y, sizeof y), b,
                    ins_name(plan, r, take[b], z, sizeof z));
            }
            last[k] = b;
        }
    }
    free(order);
    free(last);
    return st;
}
