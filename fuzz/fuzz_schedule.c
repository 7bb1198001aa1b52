/* fuzz/fuzz_schedule.c - a fuzz target: one schedule written as text, as
 * `schedule = file:PATH` and `pipette schedule file:PATH` take it.
 *
 * Each input is written to schedule.txt in a directory of its own and
 * loaded with pp_plan_load (plan_file.c's parser, then the plan verified:
 * ranges, placement, every task once, order, deadlock). A plan that
 * verifies is then put through what `pipette schedule` does with it:
 * written back out (--dump), simulated, and drawn as the grid, Chrome
 * trace, SVG and JSON (into /dev/null); and as two data-parallel replicas
 * with their gradient sums, simulated with a transfer and all-reduce
 * cost.
 *
 * Built two ways (fuzz/local.mk): with libFuzzer (fuzz/fuzz-schedule,
 * configure --enable-fuzzers) and with fuzz/standalone.c's main
 * (fuzz/regress-schedule), which make check runs on every file in
 * fuzz/regressions/schedule.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>

#include "fuzz.h"
#include "plan.h"
#include "timeline.h"

static pp_fuzz_dir dir;
static char name[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pp_fuzz_setup(&dir, "schedule");
    snprintf(name, sizeof name, "file:%s/schedule.txt", dir.path);
    return 0;
}

static void draw(const pp_plan *plan, const pp_costs *costs)
{
    pp_sim *sim;
    pp_error err;
    pp_error_clear(&err);
    if (pp_simulate(plan, costs, NULL, &sim, &err) != PP_OK) {
        fputs(err.msg, dir.null);
        return;
    }
    pp_timeline_grid(plan, sim, 0, 0, dir.null);
    pp_timeline_grid(plan, sim, 0.5, 1, dir.null);
    pp_timeline_chrome(plan, sim, dir.null);
    pp_timeline_svg(plan, sim, dir.null);
    pp_timeline_json(plan, sim, dir.null);
    pp_sim_free(sim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > PP_FUZZ_MAX_INPUT)
        return -1;
    pp_fuzz_write(name + 5, data, size);
    pp_plan *plan;
    pp_error err;
    pp_error_clear(&err);
    if (pp_plan_load(NULL, name, NULL, NULL, 0, 0, 0, &plan, &err) !=
        PP_OK) {
        fputs(err.msg, dir.null);
        return 0;
    }
    pp_plan_dump(plan, dir.null);
    pp_costs costs = pp_costs_default();
    draw(plan, &costs);
    pp_plan *job;
    pp_error_clear(&err);
    if (pp_plan_replicate(plan, 2, &job, &err) == PP_OK) {
        if (pp_plan_add_replica_sums(job, NULL, &err) == PP_OK) {
            costs.transfer = 0.5;
            costs.allreduce = 2;
            draw(job, &costs);
        }
        pp_plan_free(job);
    }
    fputs(err.msg, dir.null);
    pp_plan_free(plan);
    return 0;
}
