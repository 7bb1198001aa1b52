/* tests/test_schedules.c - every schedule plugin over the whole grid
 * p <= 8, m <= 32, v <= 4: the verifier accepts each (p, m, v) the plugin
 * accepts, and the simulated bubble with the default integer costs equals
 * the published formula exactly (as integers: idle * den == num * p *
 * makespan). Also the peak activations the papers state, the notation and
 * the text-file round trip. */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memplan.h"
#include "registry.h"

static const char *const schedules[] = {
    "vanilla", "gpipe", "1f1b", "interleaved", "looped-bfs",
    "zb-h1", "zb-h2", "zb-v",
};

static const pp_schedule_ops *ops_of(pp_registry *reg, const char *name)
{
    const pp_plugin *plugin;
    pp_error err;
    ck_assert_msg(pp_registry_find(reg, PP_KIND_SCHEDULE, name, &plugin,
                                   &err) == PP_OK, "%s", err.msg);
    return plugin->ops;
}

/* Builds, verifies and simulates; NULL (and *refused) when the plugin's
 * check() refuses (p, m, v). */
static pp_sim *run(pp_registry *reg, const char *name, int p, int m, int v,
                   const pp_costs *costs, pp_plan **plan_out, int *refused)
{
    pp_error err;
    pp_error_clear(&err);
    pp_plan *plan;
    pp_status st = pp_plan_from_ops(name, ops_of(reg, name), NULL, p, m, v, &plan,
                                    &err);
    *refused = 0;
    if (st == PP_ERR_CONFIG) {
        *refused = 1;
        ck_assert_msg(err.msg[0], "%s refused p=%d m=%d v=%d silently",
                      name, p, m, v);
        return NULL;
    }
    ck_assert_msg(st == PP_OK, "%s p=%d m=%d v=%d: %s", name, p, m, v,
                  err.msg);
    ck_assert_msg(pp_plan_verify(plan, &err) == PP_OK,
                  "%s p=%d m=%d v=%d does not verify: %s", name, p, m, v,
                  err.msg);
    pp_sim *sim;
    ck_assert_msg(pp_simulate(plan, costs, NULL, &sim, &err) == PP_OK, "%s",
                  err.msg);
    if (plan_out)
        *plan_out = plan;
    else
        pp_plan_free(plan);
    return sim;
}

START_TEST(grid_verifies_and_matches_formula)
{
    const char *name = schedules[_i];
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_schedule_ops *ops = ops_of(reg, name);
    pp_costs costs = pp_costs_default();
    int accepted = 0, with_formula = 0, out_of_order = 0;
    for (int p = 1; p <= 8; p++)
        for (int m = 1; m <= 32; m++)
            for (int v = 1; v <= 4; v++) {
                int refused;
                pp_plan *plan = NULL;
                pp_sim *sim = run(reg, name, p, m, v, &costs, &plan,
                                  &refused);
                if (refused)
                    continue;
                accepted++;
                /* Whether NCCL, which matches messages in send order, can
                 * carry every pair (the runtime routes by it). */
                for (int a = 0; a < p; a++)
                    for (int b = 0; b < p; b++)
                        out_of_order += a != b &&
                                        !pp_plan_in_order(plan, a, b);
                int64_t num = plan->bubble_num, den = plan->bubble_den;
                int64_t snum, sden;
                pp_plan_free(plan);
                if (den > 0) {
                    with_formula++;
                    pp_sim_bubble_exact(sim, &snum, &sden);
                    ck_assert_msg(snum * den == num * sden,
                        "%s p=%d m=%d v=%d: simulated bubble %lld/%lld, "
                        "formula %s = %lld/%lld", name, p, m, v,
                        (long long)snum, (long long)sden,
                        ops->formula ? ops->formula : "?", (long long)num,
                        (long long)den);
                }
                pp_sim_free(sim);
            }
    ck_assert_msg(accepted > 0, "%s accepts nothing in the grid", name);
    /* Only the V placement sends and receives in different orders: rank
     * 0 sends stage 0's activations and the last stage's gradients to
     * rank 1 in one order, and rank 1 takes them in another. */
    if (strcmp(name, "zb-v") == 0)
        ck_assert_msg(out_of_order > 0, "zb-v: every pair in order");
    else
        ck_assert_msg(out_of_order == 0, "%s: %d pairs out of order", name,
                      out_of_order);
    /* Every required schedule has a formula somewhere in the grid. */
    if (strcmp(name, "zb-h2") && strcmp(name, "zb-v"))
        ck_assert_msg(with_formula > 0, "%s: no formula checked", name);
    pp_registry_free(reg);
}
END_TEST

/* Formulas written out here, independently of the plugins. */
START_TEST(formulas_are_the_published_ones)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_costs costs = pp_costs_default();
    for (int p = 1; p <= 8; p++)
        for (int m = 1; m <= 32; m++) {
            int refused;
            int64_t num, den;
            pp_sim *sim = run(reg, "vanilla", p, m, 1, &costs, NULL, &refused);
            pp_sim_bubble_exact(sim, &num, &den);
            ck_assert_int_eq(num * p, (int64_t)(p - 1) * den);
            pp_sim_free(sim);
            for (int k = 0; k < 2; k++) {
                sim = run(reg, k ? "1f1b" : "gpipe", p, m, 1, &costs, NULL,
                          &refused);
                pp_sim_bubble_exact(sim, &num, &den);
                ck_assert_int_eq(num * (m + p - 1), (int64_t)(p - 1) * den);
                pp_sim_free(sim);
            }
            for (int v = 2; v <= 4; v++) {
                if (m % p)
                    continue;
                sim = run(reg, "interleaved", p, m, v, &costs, NULL,
                          &refused);
                ck_assert(!refused);
                pp_sim_bubble_exact(sim, &num, &den);
                ck_assert_int_eq(num * (v * m + p - 1),
                                 (int64_t)(p - 1) * den);
                pp_sim_free(sim);
            }
            for (int v = 1; v <= 4; v++) {
                if (m < p && v > 1)
                    continue;
                sim = run(reg, "looped-bfs", p, m, v, &costs, NULL, &refused);
                ck_assert(!refused);
                pp_sim_bubble_exact(sim, &num, &den);
                ck_assert_int_eq(num * (v * m + p - 1),
                                 (int64_t)(p - 1) * den);
                pp_sim_free(sim);
            }
            if (2 * m >= 3 * p - 1) {
                sim = run(reg, "zb-v", p, m, 2, &costs, NULL, &refused);
                ck_assert(!refused);
                pp_sim_bubble_exact(sim, &num, &den);
                ck_assert_int_eq(num * (6 * m + p - 1),
                                 (int64_t)(p - 1) * den);
                pp_sim_free(sim);
            }
            if (m >= p) {
                sim = run(reg, "zb-h2", p, m, 1, &costs, NULL, &refused);
                pp_sim_bubble_exact(sim, &num, &den);
                ck_assert_int_eq(num * (3 * m + p - 1),
                                 (int64_t)(p - 1) * den);
                pp_sim_free(sim);
                /* ZB-H1 with F = BI = BW = 1: (p-1) idle units per rank,
                 * a third of 1F1B's 3(p-1). */
                sim = run(reg, "zb-h1", p, m, 1, &costs, NULL, &refused);
                ck_assert(!refused);
                double idle = 0;
                for (int r = 0; r < p; r++)
                    idle += sim->idle[r];
                ck_assert_msg(idle == (double)p * (p - 1),
                              "zb-h1 p=%d m=%d: idle %g", p, m, idle);
                /* ... holding no more activations than 1F1B. */
                for (int r = 0; r < p; r++)
                    ck_assert_int_eq(sim->peak_act[r], p - r);
                pp_sim_free(sim);
            }
        }
    pp_registry_free(reg);
}
END_TEST

START_TEST(peak_activations)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_costs costs = pp_costs_default();
    for (int p = 1; p <= 8; p++)
        for (int m = 1; m <= 32; m++) {
            int refused;
            pp_sim *g = run(reg, "gpipe", p, m, 1, &costs, NULL, &refused);
            pp_sim *f = run(reg, "1f1b", p, m, 1, &costs, NULL, &refused);
            for (int r = 0; r < p; r++) {
                ck_assert_int_eq(g->peak_act[r], m);
                int want = p - r < m ? p - r : m;
                ck_assert_msg(f->peak_act[r] == want,
                              "1f1b p=%d m=%d rank %d: peak %d, want %d", p,
                              m, r, f->peak_act[r], want);
            }
            pp_sim_free(g);
            pp_sim_free(f);
            for (int v = 2; v <= 4; v++) {
                if (m % p)
                    continue;
                pp_sim *s = run(reg, "interleaved", p, m, v, &costs, NULL,
                                &refused);
                for (int r = 0; r < p; r++) {
                    /* Megatron's warm-up: (p - r - 1) * 2 + (v - 1) * p
                     * forwards, then one more before the first backward. */
                    int warm = (p - r - 1) * 2 + (v - 1) * p;
                    int want = warm + 1 < m * v ? warm + 1 : m * v;
                    ck_assert_msg(s->peak_act[r] == want,
                                  "interleaved p=%d m=%d v=%d rank %d: peak "
                                  "%d, want %d", p, m, v, r, s->peak_act[r],
                                  want);
                }
                pp_sim_free(s);
            }
        }
    pp_registry_free(reg);
}
END_TEST

/* The memory pass: 1F1B on 2 ranks holds at most p - r micro-batches on
 * rank r, each slot taken by one micro-batch at a time; an assignment
 * that gives one slot to two micro-batches in flight is refused, naming
 * both and where. */
START_TEST(memory_plan)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_plan *plan;
    ck_assert_int_eq(pp_plan_from_ops("1f1b", ops_of(reg, "1f1b"), NULL, 2, 4, 1,
                                      &plan, &err), PP_OK);
    ck_assert_int_eq(pp_plan_verify(plan, &err), PP_OK);
    const double bytes[2] = {100, 10};
    pp_memplan *mp, *mp2;
    ck_assert_int_eq(pp_memplan_build(plan, bytes, &mp, &err), PP_OK);
    ck_assert_msg(pp_memplan_verify(plan, mp, &err) == PP_OK, "%s", err.msg);
    ck_assert_int_eq(mp->nslots[0], 2);
    ck_assert_int_eq(mp->nslots[1], 1);
    ck_assert_double_eq(mp->peak[0], 200);
    ck_assert_double_eq(mp->peak[1], 10);
    ck_assert_int_eq(mp->peak_act[0], 2);
    /* Micro-batches 0 and 1 are both in flight on stage 0 (F0 F1, then
     * B0): one slot for both is wrong. */
    ck_assert_int_ne(mp->slot[0], mp->slot[1]);
    mp->slot[1] = mp->slot[0];
    ck_assert_int_eq(pp_memplan_verify(plan, mp, &err), PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg,
        "memory plan: rank 0: stage 0's slot 0 holds micro-batch 0 from "
        "F0.0 to B0.0, and micro-batch 1 takes it at F1.0, before then");
    /* On the second stage a slot is held through the send that follows
     * its B: the input gradient is read from it. */
    ck_assert_int_eq(pp_memplan_build(plan, bytes, &mp2, &err), PP_OK);
    char first[32], last[32];
    const pp_program *r1 = &plan->prog[1];
    size_t at = 1 * 4 + 0; /* stage 1, micro-batch 0 */
    pp_task_format(&r1->ins[mp2->take[at]].task, first, sizeof first);
    pp_task_format(&r1->ins[mp2->release[at]].task, last, sizeof last);
    ck_assert_int_eq(r1->ins[mp2->take[at]].kind, PP_INS_RECV);
    ck_assert_str_eq(first, "F0.0");
    ck_assert_int_eq(r1->ins[mp2->release[at]].kind, PP_INS_SEND);
    ck_assert_str_eq(last, "B0.1");
    pp_memplan_free(mp2);
    mp->slot[1] = 5;
    ck_assert_int_eq(pp_memplan_verify(plan, mp, &err), PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "memory plan: rank 0: stage 0, micro-batch 1 "
                              "has no slot (slot 5 of 2)");
    pp_memplan_free(mp);
    pp_plan_free(plan);
    pp_registry_free(reg);
}
END_TEST

/* A sum over ranks 0 and 3 comes before their STEP; each waits for the
 * other and both end one transfer after the later arrives. The plan
 * still verifies (no deadlock), and the sum's messages come after the
 * rest, in order. */
START_TEST(sums)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_plan *plan;
    ck_assert_int_eq(pp_plan_from_ops("1f1b", ops_of(reg, "1f1b"), NULL, 4, 4, 1,
                                      &plan, &err), PP_OK);
    ck_assert_int_eq(pp_plan_verify(plan, &err), PP_OK);
    pp_costs costs = pp_costs_default();
    costs.transfer = 0.5;
    pp_sim *before, *after;
    ck_assert_int_eq(pp_simulate(plan, &costs, NULL, &before, &err), PP_OK);
    const int ranks[] = {0, 3};
    ck_assert_int_eq(pp_plan_add_sum(plan, ranks, 2, NULL, &err), PP_OK);
    ck_assert_int_eq(plan->ngroups, 1);
    for (int r = 0; r < 4; r++) {
        const pp_program *prog = &plan->prog[r];
        ck_assert_int_eq(prog->ins[prog->n - 1].kind, PP_INS_STEP);
        ck_assert_int_eq(prog->ins[prog->n - 2].kind == PP_INS_REDUCE,
                         r == 0 || r == 3);
    }
    ck_assert_int_eq(pp_plan_verify(plan, &err), PP_OK);
    ck_assert(pp_plan_in_order(plan, 0, 1) && pp_plan_in_order(plan, 3, 2));
    ck_assert_int_eq(pp_simulate(plan, &costs, NULL, &after, &err), PP_OK);
    /* Rank 0 finishes last without the sum; with it, rank 3 waits for it,
     * and both end a transfer later. */
    ck_assert_double_eq(after->makespan, before->makespan + 0.5);
    ck_assert_double_eq(after->idle[3] - before->idle[3], 0.5);
    pp_sim_free(before);
    pp_sim_free(after);
    pp_plan_free(plan);
    pp_registry_free(reg);
}
END_TEST

/* Two replicas of a 1F1B pipeline (p = 2, m = 4): rank r of replica k
 * is rank 2r + k, on stage 2k + s. Each stage's sum over its replicas
 * comes right after its last backward, so the last stage's runs while
 * rank 0 drains: only the first stage's sum adds to the step. */
START_TEST(replicas)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_plan *one, *job, *twice;
    ck_assert_int_eq(pp_plan_from_ops("1f1b", ops_of(reg, "1f1b"), NULL, 2,
                                      4, 1, &one, &err), PP_OK);
    ck_assert_int_eq(pp_plan_verify(one, &err), PP_OK);
    ck_assert_int_eq(pp_plan_replicate(one, 2, &job, &err), PP_OK);
    ck_assert_int_eq(pp_plan_replicate(job, 2, &twice, &err),
                     PP_ERR_RUNTIME);
    ck_assert_int_eq(job->p, 4);
    ck_assert_int_eq(job->S, 4);
    ck_assert_int_eq(job->replicas, 2);
    const int where[] = {0, 2, 1, 3};
    for (int s = 0; s < 4; s++)
        ck_assert_int_eq(job->rank_of_stage[s], where[s]);
    /* Rank 3 (rank 1 of replica 1) runs rank 1's program on stage 3 and
     * talks to rank 1 (rank 0 of replica 1). */
    ck_assert_int_eq(job->prog[3].n, one->prog[1].n);
    for (int i = 0; i < one->prog[1].n; i++) {
        const pp_ins *a = &one->prog[1].ins[i], *b = &job->prog[3].ins[i];
        ck_assert_int_eq(a->kind, b->kind);
        if (a->kind == PP_INS_STEP)
            continue;
        ck_assert_int_eq(b->task.stage, a->task.stage + 2);
        ck_assert_int_eq(b->peer, a->peer * 2 + 1);
    }
    const int r0[] = {0, 1}, a0[] = {0, 2}, r1[] = {2, 3}, a1[] = {1, 3};
    ck_assert_int_eq(pp_plan_add_sum(job, r0, 2, a0, &err), PP_OK);
    job->group[0].stage = 0;
    ck_assert_int_eq(pp_plan_add_sum(job, r1, 2, a1, &err), PP_OK);
    job->group[1].stage = 1;
    ck_assert_int_eq(pp_plan_verify(job, &err), PP_OK);
    /* On rank 2 (stage 1 of replica 0) the sum follows its last B and the
     * gradient it sends back. */
    const pp_program *p2 = &job->prog[2];
    int at = p2->n - 1;
    while (p2->ins[at].kind != PP_INS_REDUCE)
        at--;
    ck_assert_int_eq(p2->ins[at - 1].kind, PP_INS_SEND);
    ck_assert_int_eq(p2->ins[at - 2].kind, PP_INS_COMPUTE);
    ck_assert_int_eq(p2->ins[at - 2].task.op, PP_OP_B);
    ck_assert_int_eq(p2->ins[at - 2].task.mb, 3);
    ck_assert_int_eq(p2->ins[at + 1].kind, PP_INS_STEP);
    pp_costs costs = pp_costs_default();
    pp_sim *sim;
    ck_assert_int_eq(pp_simulate(job, &costs, NULL, &sim, &err), PP_OK);
    ck_assert_double_eq(sim->makespan, 15);
    pp_sim_free(sim);
    costs.allreduce = 2;
    ck_assert_int_eq(pp_simulate(job, &costs, NULL, &sim, &err), PP_OK);
    ck_assert_double_eq(sim->makespan, 17);
    int reduces = 0;
    for (int i = 0; i < sim->nspans; i++)
        if (sim->spans[i].kind == PP_INS_REDUCE) {
            reduces++;
            ck_assert_double_eq(sim->spans[i].end,
                                sim->spans[i].rank < 2 ? 17 : 15);
        }
    ck_assert_int_eq(reduces, 4);
    pp_sim_free(sim);
    pp_plan_free(job);
    pp_plan_free(one);
    pp_registry_free(reg);
}
END_TEST

START_TEST(notation_round_trips)
{
    const char *good[] = {"F0.0", "B12.3", "BI7.0", "BW0.15"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        pp_task t;
        char back[32];
        ck_assert_int_eq(pp_task_parse(good[i], &t), 0);
        ck_assert_str_eq(pp_task_format(&t, back, sizeof back), good[i]);
    }
    const char *bad[] = {"", "F", "F1", "F1.", "F.1", "X1.1", "f1.1",
                         "F1.1x", "F-1.0", "B1.1.1", "BX1.1",
                         "F1234567890.0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pp_task t;
        ck_assert_msg(pp_task_parse(bad[i], &t) != 0, "'%s' parsed", bad[i]);
    }
}
END_TEST

START_TEST(costs_parse)
{
    pp_costs c = pp_costs_default();
    char why[256];
    ck_assert_int_eq(pp_costs_parse("F=2,BW=0.5,transfer=1", &c, why,
                                     sizeof why), 0);
    ck_assert(c.f == 2 && c.b == 2 && c.bi == 1 && c.bw == 0.5 &&
              c.transfer == 1);
    ck_assert_int_ne(pp_costs_parse("X=1", &c, why, sizeof why), 0);
    ck_assert_str_eq(why, "unknown cost 'X': the costs are F, B, BI, BW, "
                          "transfer and allreduce");
    ck_assert_int_eq(pp_costs_parse("allreduce=3", &c, why, sizeof why), 0);
    ck_assert(c.allreduce == 3);
    ck_assert_int_ne(pp_costs_parse("F=", &c, why, sizeof why), 0);
    ck_assert_str_eq(why, "'F=': expected NAME=COST with a cost >= 0");
    ck_assert_int_eq(pp_costs_parse("B.3=2.5,F.0=0.5", &c, why, sizeof why),
                     0);
    ck_assert(c.stage[3][PP_OP_B - 1] == 2.5 && c.stage[0][PP_OP_F - 1] == 0.5);
    ck_assert(c.stage[3][PP_OP_F - 1] == 0 && c.b == 2);
    ck_assert_int_ne(pp_costs_parse("B.x=1", &c, why, sizeof why), 0);
    ck_assert_int_ne(pp_costs_parse("B.64=1", &c, why, sizeof why), 0);
    ck_assert_int_ne(pp_costs_parse("F=0", &c, why, sizeof why), 0);
    ck_assert_int_ne(pp_costs_parse("B=nan", &c, why, sizeof why), 0);
}
END_TEST

/* Dump every schedule, load the text back: same tasks, same timeline. */
START_TEST(file_round_trip)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_costs costs = pp_costs_default();
    for (size_t k = 0; k < sizeof schedules / sizeof *schedules; k++) {
        int v = strcmp(schedules[k], "interleaved") == 0 ||
                strcmp(schedules[k], "zb-v") == 0 ? 2 : 1;
        int refused;
        pp_plan *plan;
        pp_sim *sim = run(reg, schedules[k], 4, 8, v, &costs, &plan,
                          &refused);
        ck_assert_msg(!refused, "%s refused p=4 m=8 v=%d", schedules[k], v);
        char path[] = "/tmp/pp-schedule-XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        FILE *f = fdopen(fd, "w");
        pp_plan_dump(plan, f);
        fclose(f);
        pp_plan *back;
        ck_assert_msg(pp_plan_from_file(path, &back, &err) == PP_OK, "%s",
                      err.msg);
        ck_assert_int_eq(pp_plan_verify(back, &err), PP_OK);
        ck_assert_int_eq(back->p, plan->p);
        ck_assert_int_eq(back->m, plan->m);
        ck_assert_int_eq(back->v, plan->v);
        for (int r = 0; r < plan->p; r++) {
            ck_assert_int_eq(back->tasks[r].n, plan->tasks[r].n);
            ck_assert(memcmp(back->tasks[r].task, plan->tasks[r].task,
                             (size_t)plan->tasks[r].n * sizeof(pp_task)) == 0);
        }
        for (int s = 0; s < plan->S; s++)
            ck_assert_int_eq(back->rank_of_stage[s], plan->rank_of_stage[s]);
        pp_sim *sim2;
        ck_assert_int_eq(pp_simulate(back, &costs, NULL, &sim2, &err), PP_OK);
        ck_assert(sim2->makespan == sim->makespan);
        pp_sim_free(sim2);
        pp_plan_free(back);
        pp_plan_free(plan);
        pp_sim_free(sim);
        unlink(path);
    }
    pp_registry_free(reg);
}
END_TEST

/* A slow stage slows the whole pipeline: with stage 1's backward three
 * times the others', GPipe's drain is paced by it. */
START_TEST(per_stage_costs)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_costs costs = pp_costs_default();
    costs.stage[1][PP_OP_B - 1] = 6;
    int refused;
    pp_sim *sim = run(reg, "gpipe", 2, 4, 1, &costs, NULL, &refused);
    /* Forwards: 4 + 1; backwards on rank 1: 4 x 6; then rank 0's last B. */
    ck_assert(sim->makespan == 5 + 24 + 2);
    ck_assert(sim->busy[1] == 4 + 24 && sim->busy[0] == 4 + 8);
    pp_sim_free(sim);
    pp_registry_free(reg);
}
END_TEST

/* A transfer cost delays every message: the makespan grows with it. */
START_TEST(transfer_cost_delays)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    pp_costs costs = pp_costs_default();
    costs.transfer = 1;
    int refused;
    pp_sim *sim = run(reg, "gpipe", 4, 4, 1, &costs, NULL, &refused);
    /* The first forward reaches rank 3 after 3 forwards and 3 transfers;
     * symmetric on the way back: (m + p - 1) * (F + B) + 2 * (p - 1). */
    ck_assert(sim->makespan == 7 * 3 + 2 * 3);
    pp_sim_free(sim);
    pp_registry_free(reg);
}
END_TEST

static Suite *schedule_suite(void)
{
    Suite *s = suite_create("schedules");
    TCase *grid = tcase_create("grid");
    tcase_set_timeout(grid, 120);
    tcase_add_loop_test(grid, grid_verifies_and_matches_formula, 0,
                        (int)(sizeof schedules / sizeof *schedules));
    tcase_add_test(grid, formulas_are_the_published_ones);
    tcase_add_test(grid, peak_activations);
    tcase_add_test(grid, memory_plan);
    tcase_add_test(grid, sums);
    tcase_add_test(grid, replicas);
    suite_add_tcase(s, grid);
    TCase *text = tcase_create("notation");
    tcase_add_test(text, notation_round_trips);
    tcase_add_test(text, costs_parse);
    tcase_add_test(text, file_round_trip);
    tcase_add_test(text, transfer_cost_delays);
    tcase_add_test(text, per_stage_costs);
    suite_add_tcase(s, text);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(schedule_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
