/* src/simulate.c - running lowered programs against a cost per op.
 *
 * Each rank has a clock and runs its program in order: a compute advances
 * the clock by its cost; a send stamps the message's arrival (now plus the
 * transfer cost) and does not wait; a receive moves the clock to the
 * arrival if that is later; a sum over a group waits for every member and
 * ends, on all, its cost after the last arrived (a transfer, or for a
 * replicas' sum its share of allreduce). An instruction's times depend
 * only on what came
 * before it on its rank and on the send it waits for, so ranks can be
 * advanced in any order: each is run until it blocks, round after round.
 * Times are doubles; with integer costs every time is an exact integer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memplan.h"

static double cost_of(const pp_costs *c, pp_op op, int stage)
{
    if (stage < PP_COSTS_STAGES && c->stage[stage][op - 1] > 0)
        return c->stage[stage][op - 1];
    switch (op) {
    case PP_OP_F: return c->f;
    case PP_OP_B: return c->b;
    case PP_OP_BI: return c->bi;
    case PP_OP_BW: return c->bw;
    }
    return 0;
}

void pp_sim_free(pp_sim *sim)
{
    if (!sim)
        return;
    free(sim->busy);
    free(sim->idle);
    free(sim->peak_act);
    free(sim->peak_bw);
    free(sim->peak_mem);
    free(sim->spans);
    free(sim);
}

static pp_sim *sim_alloc(int p, int nspans)
{
    pp_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return NULL;
    sim->p = p;
    sim->busy = calloc((size_t)p, sizeof *sim->busy);
    sim->idle = calloc((size_t)p, sizeof *sim->idle);
    sim->peak_act = calloc((size_t)p, sizeof *sim->peak_act);
    sim->peak_bw = calloc((size_t)p, sizeof *sim->peak_bw);
    sim->peak_mem = calloc((size_t)p, sizeof *sim->peak_mem);
    sim->spans = calloc((size_t)nspans + 1, sizeof *sim->spans);
    if (!sim->busy || !sim->idle || !sim->peak_act || !sim->peak_bw ||
        !sim->peak_mem || !sim->spans) {
        pp_sim_free(sim);
        return NULL;
    }
    return sim;
}

pp_status pp_plan_run(const pp_plan *plan, const pp_costs *costs,
                      pp_sim *sim, int *pc, int *done, pp_error *err)
{
    int p = plan->p, S = plan->S;
    double *clock = calloc((size_t)p, sizeof *clock);
    /* Arrival time of each message, NAN until sent. */
    size_t nmsg = (size_t)plan->m * S * 2;
    double *arrival = malloc(nmsg * sizeof *arrival);
    /* Per sum: members arrived, and when the last did. */
    int ng = plan->ngroups;
    int *arrived = calloc((size_t)ng + 1, sizeof *arrived);
    double *last = calloc((size_t)ng + 1, sizeof *last);
    unsigned char *at_sum = calloc((size_t)ng * (size_t)p + 1, 1);
    if (!clock || !arrival || !arrived || !last || !at_sum) {
        free(clock);
        free(arrival);
        free(arrived);
        free(last);
        free(at_sum);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nmsg; i++)
        arrival[i] = NAN;
    for (int r = 0; r < p; r++)
        pc[r] = 0;

    int moved = 1;
    *done = 0;
    while (moved && *done < p) {
        moved = 0;
        *done = 0;
        for (int r = 0; r < p; r++) {
            const pp_program *prog = &plan->prog[r];
            while (pc[r] < prog->n) {
                const pp_ins *in = &prog->ins[pc[r]];
                size_t key = ((size_t)in->task.mb * S + in->task.stage) * 2 +
                             (in->msg == PP_MSG_GRAD);
                if (in->kind == PP_INS_RECV) {
                    if (isnan(arrival[key]))
                        break;
                    if (arrival[key] > clock[r])
                        clock[r] = arrival[key];
                } else if (in->kind == PP_INS_SEND) {
                    arrival[key] = clock[r] + costs->transfer;
                } else if (in->kind == PP_INS_REDUCE) {
                    int g = in->peer;
                    if (!at_sum[(size_t)g * p + r]) {
                        at_sum[(size_t)g * p + r] = 1;
                        arrived[g]++;
                        if (clock[r] > last[g])
                            last[g] = clock[r];
                    }
                    if (arrived[g] < plan->group[g].n)
                        break;
                    double c = plan->group[g].stage >= 0
                                   ? costs->allreduce : costs->transfer;
                    /* A sum that costs time shows, from when this rank
                     * reached it: the wait for the others is in it. */
                    if (sim && c > 0)
                        sim->spans[sim->nspans++] = (pp_span){
                            r, PP_INS_REDUCE, {PP_OP_F, g, 0}, clock[r],
                            last[g] + c};
                    clock[r] = last[g] + c;
                } else if (in->kind == PP_INS_COMPUTE) {
                    double c = cost_of(costs, in->task.op, in->task.stage);
                    if (sim)
                        sim->spans[sim->nspans++] = (pp_span){
                            r, PP_INS_COMPUTE, in->task, clock[r],
                            clock[r] + c};
                    clock[r] += c;
                    if (sim)
                        sim->busy[r] += c;
                }
                pc[r]++;
                moved = 1;
            }
            *done += pc[r] == prog->n;
        }
    }
    if (sim)
        for (int r = 0; r < p; r++)
            if (clock[r] > sim->makespan)
                sim->makespan = clock[r];
    free(clock);
    free(arrival);
    free(arrived);
    free(last);
    free(at_sum);
    return PP_OK;
}

pp_status pp_simulate(const pp_plan *plan, const pp_costs *costs,
                      const pp_memplan *mem, pp_sim **out, pp_error *err)
{
    *out = NULL;
    if (!plan->prog)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "schedule %s: simulated before it was verified",
                            plan->name);
    int p = plan->p, ntasks = 0, done;
    for (int r = 0; r < p; r++)
        ntasks += plan->prog[r].n; /* every compute and sum, at most */
    pp_sim *sim = sim_alloc(p, ntasks);
    int *pc = calloc((size_t)p, sizeof *pc);
    pp_status st = !sim || !pc
        ? pp_error_set(err, PP_ERR_NOMEM, "out of memory")
        : pp_plan_run(plan, costs, sim, pc, &done, err);
    free(pc);
    if (!st && done < p)
        st = pp_error_set(err, PP_ERR_RUNTIME,
                          "schedule %s: simulation stalled: verify it first",
                          plan->name);
    if (st) {
        pp_sim_free(sim);
        return st;
    }
    pp_memplan *counted = NULL;
    if (!mem && !(st = pp_memplan_build(plan, NULL, &counted, err)))
        mem = counted;
    if (st) {
        pp_sim_free(sim);
        return st;
    }
    memcpy(sim->peak_act, mem->peak_act, (size_t)p * sizeof *sim->peak_act);
    memcpy(sim->peak_bw, mem->peak_bw, (size_t)p * sizeof *sim->peak_bw);
    memcpy(sim->peak_mem, mem->peak, (size_t)p * sizeof *sim->peak_mem);
    pp_memplan_free(counted);
    double idle = 0;
    for (int r = 0; r < p; r++) {
        sim->idle[r] = sim->makespan - sim->busy[r];
        idle += sim->idle[r];
    }
    sim->bubble = sim->makespan > 0 ? idle / (p * sim->makespan) : 0;
    *out = sim;
    return PP_OK;
}

void pp_sim_bubble_exact(const pp_sim *sim, int64_t *num, int64_t *den)
{
    int64_t idle = 0;
    for (int r = 0; r < sim->p; r++)
        idle += llround(sim->idle[r]);
    *num = idle;
    *den = (int64_t)sim->p * llround(sim->makespan);
}
