/* src/timeline_svg.c - a schedule as a standalone SVG picture of the grid:
 * a title with the numbers, a bar per rank, a box per compute span
 * coloured by op and labelled like the text grid (pp_timeline_label) when
 * the label fits, a time axis and a legend. Each box carries a tooltip
 * with the task in the schedule notation and its times.
 *
 * Compute only, like the grid: waiting is idle. Not interactive and not
 * scaled to a page: one unit of time (the shortest span) gets a width that
 * fits the widest label, and viewers zoom the rest.
 */
#include <string.h>

#include "timeline.h"

#define LEFT 64       /* room for "rank 10" */
#define TOP 40        /* room for the title */
#define ROW_H 24
#define ROW_GAP 6
#define CHAR_W 7      /* a monospace character at font-size 11, rounded up */
#define MIN_TICK 48   /* pixels between time marks, at least */
#define MIN_WIDTH 720 /* the widest legend, whatever the schedule */

static const struct {
    const char *fill, *ink, *what;
} look[] = {
    [PP_OP_F] = {"#4e79a7", "#ffffff", "F forward"},
    [PP_OP_B] = {"#f28e2b", "#000000", "B backward"},
    [PP_OP_BI] = {"#edc948", "#000000", "I input gradient (BI)"},
    [PP_OP_BW] = {"#59a14f", "#ffffff", "W weight gradient (BW)"},
};
#define IDLE_FILL "#eeeeee"

/* Text for an attribute or an element. XML 1.0 cannot carry most control
 * characters even escaped, so they become '?'. */
static void xml_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            fputc(c < 0x20 && c != '\t' && c != '\n' ? '?' : c, out);
        }
    }
}

/* The smallest of 1, 2, 5 times a power of ten that is MIN_TICK pixels
 * wide at `scale` pixels per time unit. */
static double tick_step(double scale)
{
    static const double mult[] = {1, 2, 5};
    double decade = 1;
    while (decade * scale >= MIN_TICK)
        decade /= 10;
    for (;; decade *= 10)
        for (int k = 0; k < 3; k++)
            if (decade * mult[k] * scale >= MIN_TICK)
                return decade * mult[k];
}

static void title(const pp_plan *plan, const pp_sim *sim, FILE *out)
{
    fputs("<title>", out);
    xml_text(out, plan->name);
    fputs("</title>\n<text x=\"8\" y=\"22\" font-size=\"14\">", out);
    xml_text(out, plan->name);
    fprintf(out, ": p=%d m=%d v=%d, makespan %g, bubble %.1f%%</text>\n",
            plan->p, plan->m, plan->v, sim->makespan, 100 * sim->bubble);
}

static void span(const pp_span *s, int v, double scale, FILE *out)
{
    char label[64], task[64];
    double x = LEFT + s->start * scale, w = (s->end - s->start) * scale;
    int y = TOP + s->rank * (ROW_H + ROW_GAP);
    fprintf(out, "<rect class=\"span %s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                 "height=\"%d\" fill=\"%s\" stroke=\"#ffffff\"><title>%s: "
                 "%g to %g</title></rect>\n",
            pp_op_name(s->task.op), x, y, w, ROW_H, look[s->task.op].fill,
            pp_task_format(&s->task, task, sizeof task), s->start, s->end);
    pp_timeline_label(&s->task, v, label, sizeof label);
    if ((double)strlen(label) * CHAR_W + 4 <= w)
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                     "fill=\"%s\">%s</text>\n",
                x + w / 2, y + ROW_H / 2 + 4, look[s->task.op].ink, label);
}

static void axis(double makespan, double scale, int y, FILE *out)
{
    double step = tick_step(scale);
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                 "stroke=\"#000000\"/>\n<text x=\"%d\" y=\"%d\" "
                 "text-anchor=\"end\">time</text>\n",
            LEFT, y, LEFT + makespan * scale, y, LEFT - 8, y + 16);
    for (int k = 0; k * step <= makespan * (1 + 1e-9); k++) {
        double x = LEFT + k * step * scale;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                     "stroke=\"#000000\"/><text x=\"%.1f\" y=\"%d\" "
                     "text-anchor=\"middle\">%g</text>\n",
                x, y, x, y + 4, x, y + 16, k * step);
    }
}

static int swatch(int x, int y, const char *fill, const char *what, FILE *out)
{
    fprintf(out, "<rect class=\"legend\" x=\"%d\" y=\"%d\" width=\"14\" "
                 "height=\"14\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s"
                 "</text>\n", x, y, fill, x + 18, y + 11, what);
    return x + 18 + CHAR_W * (int)strlen(what) + 16;
}

/* A swatch per op present, then idle: at most LEFT + 632 pixels wide. */
static void legend(unsigned ops, int y, FILE *out)
{
    int x = LEFT;
    for (pp_op op = PP_OP_F; op <= PP_OP_BW; op++)
        if (ops & 1u << op)
            x = swatch(x, y, look[op].fill, look[op].what, out);
    swatch(x, y, IDLE_FILL, "idle", out);
}

void pp_timeline_svg(const pp_plan *plan, const pp_sim *sim, FILE *out)
{
    /* One unit of time (the shortest span) is as wide as the widest label,
     * so every label of a whole-unit span fits. */
    double unit = 0;
    int chars = 2;
    unsigned ops = 0;
    char label[64];
    for (int i = 0; i < sim->nspans; i++) {
        const pp_span *s = &sim->spans[i];
        double d = s->end - s->start;
        if (s->kind != PP_INS_COMPUTE)
            continue;
        ops |= 1u << s->task.op;
        if (d > 0 && (unit == 0 || d < unit))
            unit = d;
        int n = (int)strlen(pp_timeline_label(&s->task, plan->v, label,
                                              sizeof label));
        if (n > chars)
            chars = n;
    }
    double scale = (chars * CHAR_W + 8) / (unit > 0 ? unit : 1);
    int axis_y = TOP + sim->p * (ROW_H + ROW_GAP) + 4;
    int legend_y = axis_y + 32, height = legend_y + 30;
    double width = LEFT + sim->makespan * scale + 24;
    if (width < MIN_WIDTH)
        width = MIN_WIDTH;

    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
                 "height=\"%d\" viewBox=\"0 0 %.0f %d\" "
                 "font-family=\"monospace\" font-size=\"11\">\n"
                 "<rect class=\"background\" width=\"100%%\" "
                 "height=\"100%%\" fill=\"#ffffff\"/>\n",
            width, height, width, height);
    title(plan, sim, out);
    for (int r = 0; r < sim->p; r++) {
        int y = TOP + r * (ROW_H + ROW_GAP);
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">rank %d"
                     "</text><rect class=\"row\" x=\"%d\" y=\"%d\" "
                     "width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
                LEFT - 8, y + ROW_H / 2 + 4, r, LEFT, y,
                sim->makespan * scale, ROW_H, IDLE_FILL);
    }
    for (int i = 0; i < sim->nspans; i++)
        if (sim->spans[i].kind == PP_INS_COMPUTE)
            span(&sim->spans[i], plan->v, scale, out);
    axis(sim->makespan, scale, axis_y, out);
    legend(ops, legend_y, out);
    fputs("</svg>\n", out);
}
