/* src/timeline_json.c - a simulation's numbers as one JSON object, for
 * scripts (benchmarks, plots, comparing schedules), and the two JSON
 * helpers the Chrome writer shares. It only writes: there is no JSON
 * reader in pipette, and the layout (one rank or span per line) is for
 * diffs, not a format to rely on.
 */
#include <float.h>
#include <stdlib.h>

#include "timeline.h"

void pp_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out); /* UTF-8 passes through as it came */
    }
    fputc('"', out);
}

void pp_json_number(FILE *out, double x)
{
    /* Tested without isnan/isinf: libpipette does not link libm. */
    if (x != x || x > DBL_MAX || x < -DBL_MAX) {
        fputs("null", out);
        return;
    }
    /* Range first: converting a larger double to long long is undefined.
     * Below 2^53 every integer is exact. */
    if (x > -9007199254740992.0 && x < 9007199254740992.0 &&
        x == (double)(long long)x) {
        fprintf(out, "%lld", (long long)x);
        return;
    }
    char buf[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            break; /* 17 digits always read back, so buf is exact here */
    }
    fputs(buf, out);
}

static const char *kind_name(pp_ins_kind kind)
{
    switch (kind) {
    case PP_INS_COMPUTE: return "compute";
    case PP_INS_RECV: return "recv";
    case PP_INS_SEND: return "send";
    case PP_INS_STEP: return "step";
    case PP_INS_REDUCE: return "sum";
    }
    return "?";
}

static void write_span(const pp_span *s, FILE *out)
{
    char task[64];
    fprintf(out, "{\"rank\":%d,\"kind\":\"%s\",\"task\":", s->rank,
            kind_name(s->kind));
    pp_json_string(out, pp_task_format(&s->task, task, sizeof task));
    fprintf(out, ",\"op\":\"%s\",\"microbatch\":%d,\"stage\":%d,\"start\":",
            pp_op_name(s->task.op), s->task.mb, s->task.stage);
    pp_json_number(out, s->start);
    fputs(",\"end\":", out);
    pp_json_number(out, s->end);
    fputc('}', out);
}

void pp_timeline_json(const pp_plan *plan, const pp_sim *sim, FILE *out)
{
    fputs("{\"schedule\":", out);
    pp_json_string(out, plan->name);
    fprintf(out, ",\"p\":%d,\"m\":%d,\"v\":%d,\"makespan\":", plan->p,
            plan->m, plan->v);
    pp_json_number(out, sim->makespan);
    fputs(",\"bubble\":", out);
    pp_json_number(out, sim->bubble);
    fputs(",\n\"ranks\":[", out);
    for (int r = 0; r < sim->p; r++) {
        fprintf(out, "%s\n{\"rank\":%d,\"busy\":", r ? "," : "", r);
        pp_json_number(out, sim->busy[r]);
        fputs(",\"idle\":", out);
        pp_json_number(out, sim->idle[r]);
        fprintf(out, ",\"peak_activations\":%d,\"peak_bw_pending\":%d}",
                sim->peak_act[r], sim->peak_bw[r]);
    }
    fputs("],\n\"spans\":[", out);
    /* Rank by rank; the simulator keeps each rank's spans in time order. */
    int first = 1;
    for (int r = 0; r < sim->p; r++)
        for (int i = 0; i < sim->nspans; i++) {
            if (sim->spans[i].rank != r)
                continue;
            fputs(first ? "\n" : ",\n", out);
            first = 0;
            write_span(&sim->spans[i], out);
        }
    fputs("]}\n", out);
}
