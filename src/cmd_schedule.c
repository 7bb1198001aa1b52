/* src/cmd_schedule.c - `pipette schedule NAME -p P -m M`: build a schedule,
 * verify it, simulate it, and show the timeline with its bubble and peak
 * activation memory, or write it out in the schedule notation. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config_file.h"
#include "plan.h"
#include "registry.h"
#include "timeline.h"

static const char usage[] =
    "usage: pipette schedule NAME -p RANKS -m MICROBATCHES [-v STAGES]\n"
    "                        [-d REPLICAS] [--costs F=1,B=2,BI=1,BW=1,\n"
    "                        transfer=0,allreduce=0]\n"
    "                        [--format grid|summary|json|chrome|svg]\n"
    "                        [--dump] [--set KEY=VALUE]...\n"
    "                        [--colour auto|always|never]\n"
    "\n"
    "Builds schedule NAME for RANKS ranks, MICROBATCHES micro-batches per\n"
    "step and STAGES stages per rank (default 1), verifies it, simulates it\n"
    "with a cost per op, and prints the timeline (one row per rank) with the\n"
    "makespan, the bubble (idle / (ranks x makespan)) beside the schedule's\n"
    "published formula, and each rank's peak number of micro-batch\n"
    "activations held at once. With -d, REPLICAS copies of the pipeline\n"
    "(data parallelism, as [parallel] data): each stage's gradients are\n"
    "summed over its replicas after its last backward, for allreduce each,\n"
    "on a track of their own in --format chrome.\n"
    "\n"
    "NAME is a schedule plugin ('pipette plugins' lists them) or file:PATH,\n"
    "a schedule written in the notation --dump prints; a file fixes -p, -m\n"
    "and -v itself.\n"
    "\n"
    "  -d REPLICAS    data-parallel replicas of the pipeline (default 1)\n"
    "  --costs LIST   cost of each op, of a transfer between ranks and of\n"
    "                 summing one stage's gradients over its replicas;\n"
    "                 OP.STAGE=COST prices one stage's op (B.3=2.5)\n"
    "  --format grid  the timeline as text (default), with a summary\n"
    "  --format summary  the summary alone\n"
    "  --format json  the simulation's numbers and every task's times\n"
    "  --format chrome  Chrome trace-event JSON (Perfetto, chrome://tracing)\n"
    "  --format svg   the timeline as an SVG picture\n"
    "  --dump         write the schedule in the notation, one line per rank\n"
    "  --colour WHEN  colour the grid (default: auto, when a terminal)\n"
    "  --set KEY=VALUE  one of the schedule's own keys, as [pipeline] would\n"
    "                 set it ('pipette plugins' lists them)\n"
    "\n"
    "exit status: 0 the schedule verified, 1 a plugin is broken, 2 usage\n"
    "error, a schedule not found, or one refused for these numbers.\n";

typedef struct options {
    const char *name;
    int p, m, v, d;
    pp_costs costs;
    int costs_given;
    const char *format;
    int dump;
    int colour;
    char *keys; /* "[pipeline]" and a line per --set */
} options;

#define usage_error(...) pp_cmd_usage_error("schedule", usage, __VA_ARGS__)

static int parse_count(const char *text, int *out)
{
    long long v;
    if (pp_cmd_count(text, PP_PLAN_MAX, &v))
        return -1;
    *out = (int)v;
    return 0;
}

/* Returns -1 when the options are fine, else the exit status. */
static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.costs = pp_costs_default(), .format = "grid",
                   .colour = isatty(STDOUT_FILENO),
                   .keys = strdup("[pipeline]\n")};
    if (!o->keys)
        return usage_error("out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int *count = strcmp(a, "-p") == 0 ? &o->p
                   : strcmp(a, "-m") == 0 ? &o->m
                   : strcmp(a, "-v") == 0 ? &o->v
                   : strcmp(a, "-d") == 0 ? &o->d
                                          : NULL;
        if (count) {
            if (!val || parse_count(val, count))
                return usage_error("%s needs a whole number from 1 to 65536",
                                   a);
            i++;
        } else if (strcmp(a, "--costs") == 0) {
            char why[256];
            if (!val)
                return usage_error("%s needs a list such as F=1,B=2", a);
            if (pp_costs_parse(val, &o->costs, why, sizeof why))
                return usage_error("--costs: %s", why);
            o->costs_given = 1;
            i++;
        } else if (strcmp(a, "--format") == 0) {
            if (!val || (strcmp(val, "grid") && strcmp(val, "summary") &&
                         strcmp(val, "json") && strcmp(val, "chrome") &&
                         strcmp(val, "svg")))
                return usage_error("--format takes grid, summary, json, "
                                   "chrome or svg");
            o->format = val;
            i++;
        } else if (strcmp(a, "--colour") == 0 || strcmp(a, "--color") == 0) {
            if (!val || (strcmp(val, "auto") && strcmp(val, "always") &&
                         strcmp(val, "never")))
                return usage_error("%s takes auto, always or never", a);
            o->colour = strcmp(val, "always") == 0 ? 1
                      : strcmp(val, "never") == 0  ? 0
                                                   : o->colour;
            i++;
        } else if (strcmp(a, "--dump") == 0) {
            o->dump = 1;
        } else if (strcmp(a, "--set") == 0) {
            const char *eq = val ? strchr(val, '=') : NULL;
            if (!eq || eq == val || strchr(val, '\n'))
                return usage_error("--set needs KEY=VALUE");
            size_t had = strlen(o->keys), more = strlen(val) + 4;
            char *grown = realloc(o->keys, had + more);
            if (!grown)
                return usage_error("out of memory");
            o->keys = grown;
            snprintf(o->keys + had, more, "%.*s = %s\n", (int)(eq - val),
                     val, eq + 1);
            i++;
        } else if (a[0] == '-') {
            return usage_error("unknown option '%s'", a);
        } else if (!o->name) {
            o->name = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o->name)
        return usage_error("no schedule named");
    int from_file = strncmp(o->name, "file:", 5) == 0;
    if (!from_file && (!o->p || !o->m))
        return usage_error("-p (ranks) and -m (micro-batches) are needed");
    if (!from_file && !o->v)
        o->v = 1;
    if (!o->d)
        o->d = 1;
    if (o->d > 1 && o->dump)
        return usage_error("--dump writes one pipeline: leave out -d");
    return -1;
}

static int is_default(const pp_costs *c)
{
    pp_costs d = pp_costs_default();
    return memcmp(c, &d, sizeof d) == 0;
}

static void print_summary(const pp_plan *plan, const pp_sim *sim,
                          const options *o)
{
    printf("schedule %s: %d rank%s, %d micro-batch%s, %d stage%s per rank "
           "(%d stages)",
           plan->name, plan->p, plan->p == 1 ? "" : "s", plan->m,
           plan->m == 1 ? "" : "es", plan->v, plan->v == 1 ? "" : "s",
           plan->S);
    if (plan->replicas > 1)
        printf(", %d replicas of %d rank%s: rank r of replica k is rank "
               "r x %d + k", plan->replicas, plan->p / plan->replicas,
               plan->p / plan->replicas == 1 ? "" : "s", plan->replicas);
    printf("\ncosts: F=%g B=%g BI=%g BW=%g transfer=%g allreduce=%g\n",
           o->costs.f, o->costs.b, o->costs.bi, o->costs.bw,
           o->costs.transfer, o->costs.allreduce);
    printf("makespan %g, bubble %.2f%% simulated", sim->makespan,
           100.0 * sim->bubble);
    if (plan->bubble_den > 0)
        printf(", %.2f%% by the formula %s%s",
               100.0 * (double)plan->bubble_num / (double)plan->bubble_den,
               plan->formula ? plan->formula : "",
               is_default(&o->costs) ? "" : " (which assumes the default "
                                            "costs)");
    else if (plan->formula)
        printf(" (the formula %s does not hold for these numbers)",
               plan->formula);
    printf("\n");
    int split = 0;
    for (int r = 0; r < plan->p; r++)
        split |= sim->peak_bw[r] > 0;
    printf("%6s %10s %10s %8s %18s%s\n", "rank", "busy", "idle", "idle %",
           "peak activations", split ? "  peak BW pending" : "");
    for (int r = 0; r < plan->p; r++) {
        printf("%6d %10g %10g %7.2f%% %18d", r, sim->busy[r], sim->idle[r],
               sim->makespan > 0 ? 100.0 * sim->idle[r] / sim->makespan : 0,
               sim->peak_act[r]);
        if (split)
            printf(" %17d", sim->peak_bw[r]);
        printf("\n");
    }
}

/* A cost per stage names a stage of the plan (once built: its S). */
static pp_status costs_fit(const pp_plan *plan, const pp_costs *c,
                           pp_error *err)
{
    static const char *const op[] = {"F", "B", "BI", "BW"};
    for (int s = plan->S; s < PP_COSTS_STAGES; s++)
        for (int k = 0; k < 4; k++)
            if (c->stage[s][k] > 0)
                return pp_error_set(err, PP_ERR_USAGE,
                    "--costs: %s.%d prices stage %d, but schedule %s has "
                    "%d stage%s (0 to %d)", op[k], s, s, plan->name,
                    plan->S, plan->S == 1 ? "" : "s", plan->S - 1);
    return PP_OK;
}

/* The --set keys as the schedule's section, validated against its keys:
 * a file schedule, or a plugin without keys, takes none. */
static pp_status schedule_keys(pp_registry *reg, const options *o,
                               pp_config **out, pp_error *err)
{
    const pp_key *table = NULL;
    const pp_plugin *plugin;
    if (strncmp(o->name, "file:", 5) != 0 &&
        pp_registry_find(reg, PP_KIND_SCHEDULE, o->name, &plugin, err))
        return err->code;
    if (strncmp(o->name, "file:", 5) != 0)
        table = plugin->desc->keys;
    if (pp_config_parse("--set", o->keys, out, err))
        return err->code;
    return pp_section_validate(pp_config_section(*out, "pipeline"), NULL,
                               table, err);
}

int pp_cmd_schedule(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    options o;
    int status = parse_options(argc, argv, &o);
    if (status >= 0) {
        free(o.keys);
        return status;
    }

    pp_error err;
    pp_error_clear(&err);
    pp_registry *reg;
    if (pp_registry_create(NULL, &reg, &err))
        return pp_cmd_fail(&err);
    pp_plan *plan = NULL;
    pp_sim *sim = NULL;
    pp_config *keys = NULL;
    pp_status st = schedule_keys(reg, &o, &keys, &err);
    if (!st)
        st = pp_plan_load(reg, o.name, NULL,
                          pp_config_section(keys, "pipeline"), o.p, o.m, o.v,
                          &plan, &err);
    if (!st && o.d > 1) {
        pp_plan *job;
        st = pp_plan_replicate(plan, o.d, &job, &err);
        if (!st) {
            pp_plan_free(plan);
            plan = job;
            st = pp_plan_add_replica_sums(plan, NULL, &err);
        }
    }
    if (!st)
        st = costs_fit(plan, &o.costs, &err);
    if (!st && o.dump) {
        pp_plan_dump(plan, stdout);
    } else if (!st) {
        st = pp_simulate(plan, &o.costs, NULL, &sim, &err);
        if (!st && strcmp(o.format, "json") == 0) {
            pp_timeline_json(plan, sim, stdout);
        } else if (!st && strcmp(o.format, "chrome") == 0) {
            pp_timeline_chrome(plan, sim, stdout);
        } else if (!st && strcmp(o.format, "svg") == 0) {
            pp_timeline_svg(plan, sim, stdout);
        } else if (!st) {
            if (strcmp(o.format, "grid") == 0) {
                pp_timeline_grid(plan, sim, 0, o.colour, stdout);
                putchar('\n');
            }
            print_summary(plan, sim, &o);
        }
    }
    pp_sim_free(sim);
    pp_plan_free(plan);
    pp_config_free(keys);
    free(o.keys);
    pp_registry_free(reg);
    if (st)
        return pp_cmd_fail(&err);
    return PP_EXIT_OK;
}
