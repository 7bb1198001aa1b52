/* src/timeline_chrome.c - a schedule as Chrome trace-event JSON, which
 * Perfetto (ui.perfetto.dev) and chrome://tracing open: one process, one
 * thread (track) per rank, one complete ("X") event per span. The runtime
 * writes its measured runs in the same shape (pid 0, tid = rank, one cost
 * unit = 1 ms), so a plan and a run open side by side; a measured run also
 * has send and receive spans ("send F3.1" carries F3.1's output), which
 * never overlap a compute on their rank's thread. Not a trace reader.
 */
#include <string.h>

#include "timeline.h"

/* Trace-event times are microseconds; one cost unit is shown as 1 ms. */
#define US_PER_UNIT 1000.0

/* Microseconds to the nanosecond, trailing zeros dropped: finer than any
 * clock a run is timed with, and it hides the float noise of sums of
 * costs (1300.0000000000002). */
static void microseconds(double units, FILE *out)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%.3f", units * US_PER_UNIT);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
    fputs(strcmp(buf, "-0") ? buf : "0", out);
}

static void metadata(const char *what, int tid, const char *key, FILE *out)
{
    fprintf(out, ",\n{\"name\":\"%s\",\"ph\":\"M\",\"pid\":0,\"tid\":%d,"
                 "\"args\":{%s}}", what, tid, key);
}

void pp_timeline_chrome(const pp_plan *plan, const pp_sim *sim, FILE *out)
{
    char buf[160];
    fputs("{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\","
          "\"pid\":0,\"tid\":0,\"args\":{\"name\":", out);
    snprintf(buf, sizeof buf, "pipette schedule %s", plan->name);
    pp_json_string(out, buf);
    fputs("}}", out);
    for (int r = 0; r < sim->p; r++) {
        snprintf(buf, sizeof buf, "\"name\":\"rank %d\"", r);
        metadata("thread_name", r, buf, out);
        /* Without it viewers order tracks by first event, not by rank. */
        snprintf(buf, sizeof buf, "\"sort_index\":%d", 2 * r);
        metadata("thread_sort_index", r, buf, out);
    }
    /* Sums, each rank's on a track of their own under the rank's, so
     * that their overlap with the compute shows. */
    for (int r = 0; r < sim->p; r++) {
        int any = 0;
        for (int i = 0; i < sim->nspans && !any; i++)
            any = sim->spans[i].rank == r &&
                  sim->spans[i].kind == PP_INS_REDUCE;
        if (!any)
            continue;
        snprintf(buf, sizeof buf, "\"name\":\"rank %d sums\"", r);
        metadata("thread_name", sim->p + r, buf, out);
        snprintf(buf, sizeof buf, "\"sort_index\":%d", 2 * r + 1);
        metadata("thread_sort_index", sim->p + r, buf, out);
    }
    /* Rank by rank; the simulator keeps each rank's spans in time order. */
    for (int r = 0; r < sim->p; r++)
        for (int i = 0; i < sim->nspans; i++) {
            const pp_span *s = &sim->spans[i];
            if (s->rank != r)
                continue;
            const char *op = pp_op_name(s->task.op);
            const char *cat = s->kind == PP_INS_SEND ? "send"
                            : s->kind == PP_INS_RECV ? "recv"
                            : s->kind == PP_INS_REDUCE ? "sum"
                                                     : op;
            char task[64];
            /* A sum's span names its group (in task.mb). */
            const pp_group *g = s->kind == PP_INS_REDUCE &&
                                        s->task.mb < plan->ngroups
                                    ? &plan->group[s->task.mb] : NULL;
            if (g && g->stage >= 0)
                snprintf(task, sizeof task, "of stage %d over replicas",
                         g->stage);
            else if (s->kind == PP_INS_REDUCE)
                snprintf(task, sizeof task, "of shared gradients %d",
                         s->task.mb);
            else
                pp_task_format(&s->task, task, sizeof task);
            snprintf(buf, sizeof buf, "%s%s%s",
                     s->kind == PP_INS_COMPUTE ? "" : cat,
                     s->kind == PP_INS_COMPUTE ? "" : " ", task);
            fputs(",\n{\"name\":", out);
            pp_json_string(out, buf);
            fprintf(out, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":0,\"tid\":%d,"
                         "\"ts\":", cat,
                    s->kind == PP_INS_REDUCE ? sim->p + r : r);
            microseconds(s->start, out);
            fputs(",\"dur\":", out);
            microseconds(s->end - s->start, out);
            if (s->kind == PP_INS_REDUCE)
                fprintf(out, ",\"args\":{\"group\":%d,\"stage\":%d}}",
                        s->task.mb, g ? g->stage : -1);
            else
                fprintf(out, ",\"args\":{\"op\":\"%s\",\"microbatch\":%d,"
                             "\"stage\":%d}}", op, s->task.mb, s->task.stage);
        }
    fputs("\n],\"displayTimeUnit\":\"ms\"}\n", out);
}
