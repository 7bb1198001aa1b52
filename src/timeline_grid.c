/* src/timeline_grid.c - a schedule as text, drawn like the figures of the
 * GPipe, Megatron and zero-bubble papers: a row per rank, time to the
 * right, one fixed-width cell per unit of time.
 *
 *   1f1b: p=2 m=2 v=1, makespan 9, bubble 33.3%
 *     time |0
 *   rank 0 |F0 F1 .  .  B0 B0 .  B1 B1 |
 *   rank 1 |.  F0 B0 B0 F1 B1 B1 .  .  |
 *   legend: F forward, B backward, then the micro-batch; . idle; ...
 *
 * A cell shows the compute span that covers most of it by its label
 * (pp_timeline_label), so a span of d units repeats its label in d cells
 * and one micro-batch can be followed down the ranks. A rank waiting for a
 * message is idle here, as it is in the bubble. Rows wider than MAX_WIDTH
 * wrap into blocks, each under its own time ruler. Not a plot: the cell is
 * the resolution, so a unit coarser than the shortest span hides spans.
 */
#include <stdlib.h>
#include <string.h>

#include "timeline.h"

#define MAX_WIDTH 200 /* columns; wider rows wrap */
#define RULER_STEP 10 /* cells between time marks */
/* Overlap below this share of a cell is rounding, not work: measured
 * times are not exact multiples of the unit. */
#define CELL_EPS 1e-6
#define ANSI_RESET "\033[0m"

static const char *letter(pp_op op)
{
    switch (op) {
    case PP_OP_F: return "F";
    case PP_OP_B: return "B";
    case PP_OP_BI: return "I";
    case PP_OP_BW: return "W";
    }
    return "?";
}

const char *pp_timeline_label(const pp_task *t, int v, char *buf, int size)
{
    if (v > 1)
        snprintf(buf, (size_t)size, "%s%d.%d", letter(t->op), t->mb,
                 t->stage);
    else
        snprintf(buf, (size_t)size, "%s%d", letter(t->op), t->mb);
    return buf;
}

/* Black on a background colour, so a run of cells reads as a bar. */
static const char *ansi(pp_op op)
{
    switch (op) {
    case PP_OP_F: return "\033[30;46m";  /* cyan */
    case PP_OP_B: return "\033[30;43m";  /* yellow */
    case PP_OP_BI: return "\033[30;45m"; /* magenta */
    case PP_OP_BW: return "\033[30;42m"; /* green */
    }
    return ANSI_RESET;
}

typedef struct grid {
    const pp_sim *sim;
    double unit;
    int ncols;
    int *cell;  /* [p][ncols]: index of the span shown, -1 when idle */
    int cellw;  /* characters per cell */
    int rankw;  /* digits of the largest rank */
    int v, colour;
    FILE *out;
} grid;

/* Cells needed to reach time t >= 0: a ceiling, without libm. */
static int cells_to(double t, double unit)
{
    double x = t / unit - CELL_EPS;
    int n = (int)x;
    return n + (n < x);
}

static double overlap(const pp_span *s, int c, double unit)
{
    double a = c * unit, b = a + unit;
    if (s->start > a)
        a = s->start;
    if (s->end < b)
        b = s->end;
    return b - a;
}

static double shortest_span(const pp_sim *sim)
{
    double best = 0;
    for (int i = 0; i < sim->nspans; i++) {
        const pp_span *s = &sim->spans[i];
        double d = s->end - s->start;
        if (s->kind == PP_INS_COMPUTE && d > 0 && (best == 0 || d < best))
            best = d;
    }
    return best > 0 ? best : 1;
}

/* Sizes the cell for the widest label; returns the ops present, as bits. */
static unsigned measure(grid *g)
{
    unsigned ops = 0;
    char label[64];
    g->cellw = 3;
    for (int i = 0; i < g->sim->nspans; i++) {
        const pp_span *s = &g->sim->spans[i];
        if (s->kind != PP_INS_COMPUTE)
            continue;
        ops |= 1u << s->task.op;
        int w = (int)strlen(pp_timeline_label(&s->task, g->v, label,
                                              sizeof label)) + 1;
        if (w > g->cellw)
            g->cellw = w;
    }
    return ops;
}

/* Gives each cell the span that covers most of it, the earlier on a tie. */
static void fill_cells(grid *g)
{
    const pp_sim *sim = g->sim;
    for (int i = 0; i < sim->p * g->ncols; i++)
        g->cell[i] = -1;
    for (int i = 0; i < sim->nspans; i++) {
        const pp_span *s = &sim->spans[i];
        if (s->kind != PP_INS_COMPUTE)
            continue;
        int c1 = cells_to(s->end, g->unit);
        if (c1 > g->ncols)
            c1 = g->ncols;
        for (int c = (int)(s->start / g->unit); c < c1; c++) {
            int *best = &g->cell[s->rank * g->ncols + c];
            double ov = overlap(s, c, g->unit);
            if (ov > CELL_EPS * g->unit &&
                (*best < 0 || ov > overlap(&sim->spans[*best], c, g->unit)))
                *best = i;
        }
    }
}

/* The time at every RULER_STEP-th cell, left-aligned over that cell. */
static void ruler(const grid *g, int from, int to)
{
    fprintf(g->out, "%*s |", 5 + g->rankw, "time");
    int col = 0;
    for (int c = from; c < to; c += RULER_STEP) {
        int pos = (c - from) * g->cellw;
        fprintf(g->out, "%*s", pos - col, "");
        col = pos + fprintf(g->out, "%g", c * g->unit);
    }
    fputc('\n', g->out);
}

static void row(const grid *g, int r, int from, int to)
{
    char label[64];
    const char *on = ANSI_RESET; /* the colour in force */
    fprintf(g->out, "rank %*d |", g->rankw, r);
    for (int c = from; c < to; c++) {
        int i = g->cell[r * g->ncols + c];
        const pp_task *t = i >= 0 ? &g->sim->spans[i].task : NULL;
        const char *want = t ? ansi(t->op) : ANSI_RESET;
        if (g->colour && strcmp(want, on) != 0)
            fputs(want, g->out);
        on = want;
        fprintf(g->out, "%-*s", g->cellw,
                t ? pp_timeline_label(t, g->v, label, sizeof label) : ".");
    }
    if (g->colour && strcmp(on, ANSI_RESET) != 0)
        fputs(ANSI_RESET, g->out);
    fputs("|\n", g->out);
}

static void legend(const grid *g, unsigned ops)
{
    static const char *const what[] = {
        [PP_OP_F] = "forward", [PP_OP_B] = "backward",
        [PP_OP_BI] = "input gradient (BI)",
        [PP_OP_BW] = "weight gradient (BW)"};
    fputs("legend:", g->out);
    for (pp_op op = PP_OP_F; op <= PP_OP_BW; op++) {
        if (!(ops & 1u << op))
            continue;
        if (g->colour)
            fprintf(g->out, " %s%s" ANSI_RESET " %s,", ansi(op), letter(op),
                    what[op]);
        else
            fprintf(g->out, " %s %s,", letter(op), what[op]);
    }
    fprintf(g->out, " then the micro-batch%s; . idle; one cell = %g time "
                    "unit%s\n", g->v > 1 ? ".stage" : "", g->unit,
            g->unit == 1 ? "" : "s");
}

void pp_timeline_grid(const pp_plan *plan, const pp_sim *sim, double unit,
                      int colour, FILE *out)
{
    grid g = {.sim = sim, .unit = unit > 0 ? unit : shortest_span(sim),
              .v = plan->v, .colour = colour, .out = out, .rankw = 1};
    g.ncols = cells_to(sim->makespan, g.unit);
    g.cell = malloc(((size_t)sim->p * g.ncols + 1) * sizeof *g.cell);
    if (!g.cell) {
        fputs("pipette: out of memory drawing the grid\n", out);
        return;
    }
    unsigned ops = measure(&g);
    fill_cells(&g);
    for (int n = sim->p - 1; n >= 10; n /= 10)
        g.rankw++;
    /* Cells per block: whole ruler steps that keep "rank N |...|" within
     * MAX_WIDTH, but at least one step however wide the cells. */
    int per = (MAX_WIDTH - (g.rankw + 8)) / g.cellw / RULER_STEP * RULER_STEP;
    if (per < RULER_STEP)
        per = RULER_STEP;

    fprintf(out, "%s: p=%d m=%d v=%d, makespan %g, bubble %.1f%%\n",
            plan->name, plan->p, plan->m, plan->v, sim->makespan,
            100 * sim->bubble);
    for (int from = 0; from == 0 || from < g.ncols; from += per) {
        int to = from + per < g.ncols ? from + per : g.ncols;
        if (from > 0)
            fputc('\n', out);
        ruler(&g, from, to);
        for (int r = 0; r < sim->p; r++)
            row(&g, r, from, to);
    }
    legend(&g, ops);
    free(g.cell);
}
