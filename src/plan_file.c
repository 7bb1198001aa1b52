/* src/plan_file.c - schedules written as text, and plans written out.
 *
 * The format: one line per rank, rank 0 first; on each line that rank's
 * tasks in the order it runs them, separated by spaces (F3.1 is the
 * forward of micro-batch 3 on stage 1; B, BI and BW likewise); '#' starts
 * a comment; blank lines are skipped. The numbers of micro-batches and
 * stages are those the tasks name; a stage lives on the rank whose line
 * names it. `pipette schedule NAME --dump` writes any schedule this way,
 * so a user can start from a known one and edit it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input_file.h"
#include "plan.h"

typedef struct rank_line {
    pp_task_list tasks;
    int line;
} rank_line;

static void free_lines(rank_line *lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i].tasks.task);
    free(lines);
}

/* Reads every rank's line; on a syntax error every bad token is reported
 * as FILE:LINE: message. */
static pp_status read_lines(const char *path, FILE *f, rank_line **out,
                            int *nout, pp_error *err)
{
    rank_line *lines = NULL;
    int n = 0, cap = 0, lineno = 0;
    char *buf = NULL;
    size_t bufcap = 0;
    pp_status st = PP_OK;
    pp_error_clear(err); /* syntax errors are collected in it */
    while (getline(&buf, &bufcap, f) >= 0) {
        lineno++;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *tok = strtok_r(buf, " \t\r\n", &save);
        if (!tok)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            rank_line *grown = realloc(lines, (size_t)cap * sizeof *grown);
            if (!grown) {
                st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
                break;
            }
            lines = grown;
        }
        rank_line *rl = &lines[n++];
        *rl = (rank_line){{NULL, 0, 0}, lineno};
        for (; tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
            pp_task t;
            if (pp_task_parse(tok, &t)) {
                pp_error_add(err, PP_ERR_CONFIG,
                    "%s:%d: '%s' is not a task: write F, B, BI or BW, then "
                    "the micro-batch, a dot and the stage, as in F3.1",
                    path, lineno, tok);
                continue;
            }
            if (pp_task_add(&rl->tasks, t.op, t.mb, t.stage, err)) {
                st = err->code;
                break;
            }
        }
        if (st)
            break;
    }
    free(buf);
    if (!st && err->code != PP_OK)
        st = err->code;
    if (!st && n == 0)
        st = pp_error_set(err, PP_ERR_CONFIG,
                          "%s: no tasks: write one line of tasks per rank",
                          path);
    if (st) {
        free_lines(lines, n);
        return st;
    }
    *out = lines;
    *nout = n;
    return PP_OK;
}

pp_status pp_plan_from_file(const char *path, pp_plan **out, pp_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    pp_error_clear(err);
    pp_status st = pp_input_read(path, "schedule file", PP_SCHEDULE_FILE_MAX,
                                 "the most tasks a plan takes, 4194304, "
                                 "written out, are less", &text, &len, err);
    /* Whatever is wrong with a schedule file is the user's to mend
     * (exit status 2, pipette(1)). */
    if (st)
        return err->code = PP_ERR_CONFIG;
    FILE *f = fmemopen(text, len, "r");
    if (!f) {
        free(text);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    rank_line *lines;
    int p;
    st = read_lines(path, f, &lines, &p, err);
    fclose(f);
    free(text);
    if (st)
        return st;

    int m = 0, S = 0;
    for (int r = 0; r < p; r++)
        for (int i = 0; i < lines[r].tasks.n; i++) {
            const pp_task *t = &lines[r].tasks.task[i];
            if (t->mb + 1 > m)
                m = t->mb + 1;
            if (t->stage + 1 > S)
                S = t->stage + 1;
        }
    if (S % p != 0 || S / p > PP_PLAN_MAX || m > PP_PLAN_MAX ||
        (long long)m * S > PP_PLAN_MAX_TASKS) {
        free_lines(lines, p);
        if (S % p != 0)
            return pp_error_set(err, PP_ERR_CONFIG,
                "%s: %d stages on %d ranks: every rank must hold the same "
                "number of stages", path, S, p);
        return pp_error_set(err, PP_ERR_CONFIG,
                            "%s: too many micro-batches or stages", path);
    }
    char name[128];
    snprintf(name, sizeof name, "file:%s", path);
    pp_plan *plan;
    st = pp_plan_alloc(name, p, m, S / p, &plan, err);
    if (st) {
        free_lines(lines, p);
        return st;
    }
    plan->from_file = 1;
    plan->line_of_rank = malloc((size_t)p * sizeof *plan->line_of_rank);
    if (!plan->line_of_rank) {
        free_lines(lines, p);
        pp_plan_free(plan);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int r = 0; r < p; r++) {
        plan->line_of_rank[r] = lines[r].line;
        plan->tasks[r] = lines[r].tasks;
        for (int i = 0; i < plan->tasks[r].n; i++) {
            int s = plan->tasks[r].task[i].stage;
            if (plan->rank_of_stage[s] < 0)
                plan->rank_of_stage[s] = r;
        }
    }
    free(lines); /* the task lists now belong to the plan */
    *out = plan;
    return PP_OK;
}

void pp_plan_dump(const pp_plan *plan, FILE *out)
{
    fprintf(out,
            "# schedule %s: p=%d ranks, m=%d micro-batches, v=%d stage%s "
            "per rank\n"
            "# One line per rank, rank 0 first, tasks in the order the rank "
            "runs them:\n"
            "# F3.1 = forward of micro-batch 3 on stage 1; B = backward; "
            "BI/BW = backward\n"
            "# to the input / to the weights. Load it with "
            "schedule = file:PATH.\n",
            plan->name, plan->p, plan->m, plan->v, plan->v == 1 ? "" : "s");
    for (int r = 0; r < plan->p; r++) {
        fprintf(out, "# rank %d\n", r);
        for (int i = 0; i < plan->tasks[r].n; i++) {
            char task[32];
            fprintf(out, "%s%s", i ? " " : "",
                    pp_task_format(&plan->tasks[r].task[i], task,
                                   sizeof task));
        }
        fputc('\n', out);
    }
}
