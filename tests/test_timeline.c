/* tests/test_timeline.c - the schedule renderers on hand-built simulations:
 * the exact text grid (plain, coloured, v > 1 with a split backward, finer
 * and coarser units, a wide 1F1B that must wrap), JSON and Chrome output
 * that parse and carry the right fields, and SVG that is well-formed with
 * one box per span.
 *
 * The fixtures are written out by hand, not made by pp_simulate, so a
 * simulator bug cannot hide a renderer bug. python3 and xmllint, where
 * installed, check the JSON and the SVG too; the checks in C run anywhere.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "timeline.h"

#define MAXP 8
#define MAXM 32
#define MAXSPANS (2 * MAXP * MAXM)

static pp_plan plan;
static pp_sim sim;
static int rank_of_stage[2 * MAXP], peak_act[MAXP], peak_bw[MAXP];
static double busy[MAXP], idle[MAXP];
static pp_span spans[MAXSPANS];

static void setup(const char *name, int p, int m, int v)
{
    snprintf(plan.name, sizeof plan.name, "%s", name);
    plan.p = p, plan.m = m, plan.v = v, plan.S = p * v;
    for (int s = 0; s < plan.S; s++)
        rank_of_stage[s] = s % p; /* looped, as interleaved 1F1B */
    plan.rank_of_stage = rank_of_stage;
    sim = (pp_sim){.p = p, .busy = busy, .idle = idle, .peak_act = peak_act,
                   .peak_bw = peak_bw, .spans = spans};
}

static void add(int rank, pp_op op, int mb, int stage, double start,
                double end)
{
    spans[sim.nspans++] = (pp_span){rank, PP_INS_COMPUTE, {op, mb, stage},
                                    start, end};
}

/* The numbers pp_simulate would give for the spans added. */
static void finish(void)
{
    int held[MAXP] = {0}, pending[MAXP] = {0};
    double idle_sum = 0;
    for (int r = 0; r < sim.p; r++)
        busy[r] = 0, peak_act[r] = 0, peak_bw[r] = 0;
    for (int i = 0; i < sim.nspans; i++) {
        const pp_span *s = &spans[i];
        int r = s->rank;
        busy[r] += s->end - s->start;
        if (s->end > sim.makespan)
            sim.makespan = s->end;
        held[r] += s->task.op == PP_OP_F ? 1 : s->task.op == PP_OP_BW ? 0 : -1;
        pending[r] += s->task.op == PP_OP_BI ? 1 : s->task.op == PP_OP_BW;
        if (held[r] > peak_act[r])
            peak_act[r] = held[r];
        if (pending[r] > peak_bw[r])
            peak_bw[r] = pending[r];
    }
    for (int r = 0; r < sim.p; r++)
        idle_sum += idle[r] = sim.makespan - busy[r];
    sim.bubble = idle_sum / (sim.p * sim.makespan);
}

/* 1F1B, p = 2, m = 2, F = 1, B = 2; listed in time order across ranks
 * (as the simulator does), so the writers must group by rank. */
static void fixture_1f1b(const char *name)
{
    setup(name, 2, 2, 1);
    add(0, PP_OP_F, 0, 0, 0, 1);
    add(0, PP_OP_F, 1, 0, 1, 2);
    add(1, PP_OP_F, 0, 1, 1, 2);
    add(1, PP_OP_B, 0, 1, 2, 4);
    add(0, PP_OP_B, 0, 0, 4, 6);
    add(1, PP_OP_F, 1, 1, 4, 5);
    add(1, PP_OP_B, 1, 1, 5, 7);
    add(0, PP_OP_B, 1, 0, 7, 9);
    finish();
}

/* p = 2, m = 1, v = 2 (stages 0, 2 on rank 0), backward split in BI, BW. */
static void fixture_split(void)
{
    setup("zb", 2, 1, 2);
    static const struct { int r; pp_op op; int s; double t; } t[] = {
        {0, PP_OP_F, 0, 0}, {1, PP_OP_F, 1, 1}, {0, PP_OP_F, 2, 2},
        {1, PP_OP_F, 3, 3}, {1, PP_OP_BI, 3, 4}, {1, PP_OP_BW, 3, 5},
        {0, PP_OP_BI, 2, 5}, {0, PP_OP_BW, 2, 6}, {1, PP_OP_BI, 1, 6},
        {1, PP_OP_BW, 1, 7}, {0, PP_OP_BI, 0, 7}, {0, PP_OP_BW, 0, 8}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        add(t[i].r, t[i].op, 0, t[i].s, t[i].t, t[i].t + 1);
    finish();
}

/* 1F1B for any p, m (F = 1, B = 2): p - r - 1 warm-up forwards, then one
 * forward one backward, then the last backwards; each rank runs as far as
 * its inputs allow, round after round, as the simulator does. */
static void fixture_wide(int p, int m)
{
    pp_op op[MAXP][2 * MAXM];
    int mb[MAXP][2 * MAXM], next[MAXP] = {0};
    double fend[MAXP][MAXM], bend[MAXP][MAXM], clock[MAXP] = {0};
    setup("1f1b", p, m, 1);
    for (int r = 0; r < p; r++) {
        int n = 0, f = 0, b = 0, warm = p - r - 1 < m ? p - r - 1 : m;
        for (; f < warm; f++)
            op[r][n] = PP_OP_F, mb[r][n++] = f;
        for (; f < m; f++, b++) {
            op[r][n] = PP_OP_F, mb[r][n++] = f;
            op[r][n] = PP_OP_B, mb[r][n++] = b;
        }
        for (; b < m; b++)
            op[r][n] = PP_OP_B, mb[r][n++] = b;
        for (int i = 0; i < m; i++)
            fend[r][i] = bend[r][i] = -1;
    }
    for (int moved = 1; moved;) {
        moved = 0;
        for (int r = 0; r < p; r++)
            for (; next[r] < 2 * m; next[r]++, moved = 1) {
                int k = mb[r][next[r]], fwd = op[r][next[r]] == PP_OP_F;
                double dep = fwd ? (r ? fend[r - 1][k] : 0)
                                 : (r < p - 1 ? bend[r + 1][k] : fend[r][k]);
                if (dep < 0)
                    break;
                double start = dep > clock[r] ? dep : clock[r];
                clock[r] = start + (fwd ? 1 : 2);
                *(fwd ? &fend[r][k] : &bend[r][k]) = clock[r];
                add(r, op[r][next[r]], k, r, start, clock[r]);
            }
    }
    finish();
}

typedef void (*writer)(const pp_plan *, const pp_sim *, FILE *);

/* What render() returned in this test, freed after it (free_rendered,
 * the test case's teardown), so that LeakSanitizer sees no leak. */
static char *rendered[8];
static int nrendered;

static void free_rendered(void)
{
    for (int i = 0; i < nrendered; i++)
        free(rendered[i]);
    nrendered = 0;
}

/* What a writer prints, or the grid when w is NULL; freed after the
 * test. */
static char *render(writer w, double unit, int colour)
{
    char *text = NULL;
    size_t size = 0;
    ck_assert_int_lt(nrendered, (int)(sizeof rendered / sizeof *rendered));
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    if (w)
        w(&plan, &sim, f);
    else
        pp_timeline_grid(&plan, &sim, unit, colour, f);
    ck_assert_int_eq(fclose(f), 0);
    rendered[nrendered++] = text;
    return text;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* Runs "TOOL ARGS FILE" on text when `probe` succeeds; returns the exit
 * status, or -1 when the tool is not there. */
static int external(const char *probe, const char *tool, const char *text)
{
    char cmd[256], path[] = "/tmp/test_timeline_XXXXXX";
    if (system(probe) != 0)
        return -1;
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null", tool, path);
    int rc = system(cmd);
    unlink(path);
    return rc;
}

/* A JSON validator (RFC 8259 grammar, UTF-8 not checked). */
static void ws(const char **s)
{
    while (**s == ' ' || **s == '\n' || **s == '\t' || **s == '\r')
        (*s)++;
}

static int jstring(const char **s)
{
    if (**s != '"')
        return 0;
    for ((*s)++; **s != '"'; (*s)++) {
        if ((unsigned char)**s < 0x20)
            return 0; /* also the end of the text */
        if (**s != '\\')
            continue;
        (*s)++;
        if (**s == 'u') {
            for (int i = 0; i < 4; i++)
                if (!isxdigit((unsigned char)*++*s))
                    return 0;
        } else if (!**s || !strchr("\"\\/bfnrt", **s)) {
            return 0;
        }
    }
    (*s)++;
    return 1;
}

static int jdigits(const char **s)
{
    const char *start = *s;
    while (isdigit((unsigned char)**s))
        (*s)++;
    return *s > start;
}

static int jvalue(const char **s)
{
    ws(s);
    if (**s == '{' || **s == '[') {
        char close = **s == '{' ? '}' : ']';
        (*s)++;
        ws(s);
        if (**s == close)
            return (*s)++, 1;
        for (;;) {
            if (close == '}') {
                ws(s);
                if (!jstring(s) || (ws(s), **s != ':'))
                    return 0;
                (*s)++;
            }
            if (!jvalue(s))
                return 0;
            ws(s);
            if (**s != ',' && **s != close)
                return 0;
            if (*(*s)++ == close)
                return 1;
        }
    }
    if (**s == '"')
        return jstring(s);
    for (const char *const *w = (const char *const[]){"true", "false",
                                                      "null", NULL}; *w; w++)
        if (!strncmp(*s, *w, strlen(*w)))
            return *s += strlen(*w), 1;
    if (**s == '-')
        (*s)++;
    if (**s == '0')
        (*s)++;
    else if (!jdigits(s))
        return 0;
    if (**s == '.' && ((*s)++, !jdigits(s)))
        return 0;
    if (**s == 'e' || **s == 'E') {
        (*s)++;
        if (**s == '+' || **s == '-')
            (*s)++;
        return jdigits(s);
    }
    return 1;
}

static void assert_json(const char *text)
{
    const char *s = text;
    ck_assert_msg(jvalue(&s) && (ws(&s), *s == '\0'),
                  "invalid JSON at offset %td", s - text);
    int rc = external("python3 -c 'import json' >/dev/null 2>&1",
                      "python3 -m json.tool", text);
    ck_assert_msg(rc <= 0, "python3 -m json.tool refused the JSON");
}

/* An entity reference at s, as the SVG writer may emit. */
static int entity(const char *s)
{
    static const char *const ok[] = {"&amp;", "&lt;", "&gt;", "&quot;",
                                     "&apos;"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!strncmp(s, ok[i], strlen(ok[i])))
            return 1;
    return 0;
}

/* Tags nest and close, attribute values are quoted, and '<', '&' appear
 * only as markup or entities: enough to catch a missing close or escape;
 * xmllint, where installed, checks the rest. */
static void assert_xml(const char *text)
{
    const char *open[64], *s = text;
    size_t len[64];
    int depth = 0;
    while (*s) {
        ck_assert_msg(*s != '&' || entity(s), "bare & at %td", s - text);
        if (*s++ != '<')
            continue;
        if (*s == '?') {
            ck_assert_ptr_nonnull(s = strstr(s, "?>"));
            continue;
        }
        int closing = *s == '/';
        const char *name = s + closing, *p = name + strcspn(name, " \n/>");
        char quote = 0;
        for (; *p && (quote || *p != '>'); p++) {
            ck_assert_msg(*p != '<' && (*p != '&' || entity(p)),
                          "bad character in a tag at %td", p - text);
            if (quote ? *p == quote : *p == '"' || *p == '\'')
                quote = quote ? 0 : *p;
        }
        ck_assert_msg(*p == '>', "unclosed tag at %td", name - text);
        size_t n = strcspn(name, " \n/>");
        if (closing) {
            ck_assert_msg(depth > 0 && len[depth - 1] == n &&
                          !strncmp(open[depth - 1], name, n),
                          "</%.*s> closes nothing", (int)n, name);
            depth--;
        } else if (p[-1] != '/') {
            ck_assert_int_lt(depth, 64);
            open[depth] = name, len[depth++] = n;
        }
        s = p + 1;
    }
    ck_assert_int_eq(depth, 0);
    ck_assert_int_le(external("xmllint --version >/dev/null 2>&1",
                              "xmllint --noout", text), 0);
}

START_TEST(test_grid_plain)
{
    fixture_1f1b("1f1b");
    ck_assert_str_eq(render(NULL, 0, 0),
        "1f1b: p=2 m=2 v=1, makespan 9, bubble 33.3%\n"
        "  time |0\n"
        "rank 0 |F0 F1 .  .  B0 B0 .  B1 B1 |\n"
        "rank 1 |.  F0 B0 B0 F1 B1 B1 .  .  |\n"
        "legend: F forward, B backward, then the micro-batch; . idle; "
        "one cell = 1 time unit\n");
}
END_TEST

START_TEST(test_grid_colour)
{
    fixture_1f1b("1f1b");
    char *plain = render(NULL, 0, 0), *text = render(NULL, 0, 1);
    ck_assert_ptr_nonnull(strstr(text, "|\033[30;46mF0 F1 \033[0m.  "));
    ck_assert_ptr_nonnull(strstr(text, "\033[30;43mB0 B0 "));
    /* No colour runs past the end of a line. */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *last = NULL;
        for (char *e = line; (e = strstr(e, "\033[")); e++)
            last = e;
        ck_assert_msg(!last || !strncmp(last, "\033[0m", 4), "%s", line);
    }
    /* Without the escapes, it is the plain grid. */
    text = render(NULL, 0, 1);
    char *w = text;
    for (const char *r = text; *r; r++)
        if (*r == '\033')
            r += strcspn(r, "m");
        else
            *w++ = *r;
    *w = '\0';
    ck_assert_str_eq(text, plain);
}
END_TEST

START_TEST(test_grid_stages)
{
    fixture_split();
    ck_assert_str_eq(render(NULL, 0, 0),
        "zb: p=2 m=1 v=2, makespan 9, bubble 33.3%\n"
        "  time |0\n"
        "rank 0 |F0.0 .    F0.2 .    .    I0.2 W0.2 I0.0 W0.0 |\n"
        "rank 1 |.    F0.1 .    F0.3 I0.3 W0.3 I0.1 W0.1 .    |\n"
        "legend: F forward, I input gradient (BI), W weight gradient (BW), "
        "then the micro-batch.stage; . idle; one cell = 1 time unit\n");
}
END_TEST

START_TEST(test_grid_unit)
{
    fixture_1f1b("1f1b");
    char *fine = render(NULL, 0.5, 0);
    ck_assert_ptr_nonnull(strstr(fine, "\n  time |0" "                "
                                       "             5\n"));
    ck_assert_ptr_nonnull(strstr(fine, "\nrank 0 |F0 F0 F1 F1 .  .  .  .  "
                                       "B0 B0 B0 B0 .  .  B1 B1 B1 B1 |\n"));
    ck_assert_ptr_nonnull(strstr(fine, "one cell = 0.5 time units\n"));
    /* Coarser than a span: a cell shows what covers most of it, the
     * earlier span on a tie. */
    char *coarse = render(NULL, 2, 0);
    ck_assert_ptr_nonnull(strstr(coarse, "\nrank 0 |F0 .  B0 B1 B1 |\n"));
    ck_assert_ptr_nonnull(strstr(coarse, "\nrank 1 |F0 B0 F1 B1 .  |\n"));
    /* Off the grid, as measured times are: most of a cell wins, and a
     * makespan a hair past a whole cell does not add one. */
    setup("measured", 1, 2, 1);
    add(0, PP_OP_F, 0, 0, 0, 0.3);
    add(0, PP_OP_F, 1, 0, 0.3, 1.3);
    add(0, PP_OP_B, 1, 0, 1.3, 3.3);
    add(0, PP_OP_B, 0, 0, 3.3, 5 + 1e-9);
    finish();
    ck_assert_ptr_nonnull(strstr(render(NULL, 1, 0),
                                 "\nrank 0 |F1 B1 B1 B0 B0 |\n"));
}
END_TEST

START_TEST(test_grid_wrap)
{
    fixture_wide(8, 32); /* makespan (m + p - 1) * 3 = 117 cells of 4 */
    char *text = render(NULL, 0, 0);
    ck_assert_ptr_nonnull(strstr(text, "makespan 117, bubble 17.9%\n"));
    int rulers = 0, rows = 0, width7 = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        ck_assert_uint_le(strlen(line), 200);
        if (!strncmp(line, "  time |", 8)) {
            static const char *const at[] = {"0 ", "40 ", "80 "};
            ck_assert_int_lt(rulers, 3);
            ck_assert_int_eq(strncmp(line + 8, at[rulers], strlen(at[rulers])), 0);
            rulers++;
        } else if (!strncmp(line, "rank ", 5)) {
            rows++;
            if (line[5] == '7')
                width7 += (int)strlen(line) - 9;
        }
    }
    ck_assert_int_eq(rulers, 3);
    ck_assert_int_eq(rows, 3 * 8);
    ck_assert_int_eq(width7, 117 * 4);
}
END_TEST

START_TEST(test_json)
{
    fixture_1f1b("we\"ird\\<&>");
    char *text = render(pp_timeline_json, 0, 0);
    assert_json(text);
    ck_assert_ptr_nonnull(strstr(text,
        "{\"schedule\":\"we\\\"ird\\\\<&>\",\"p\":2,\"m\":2,\"v\":1,"
        "\"makespan\":9,\"bubble\":0.3333333333333333,"));
    ck_assert_ptr_nonnull(strstr(text, "{\"rank\":0,\"busy\":6,\"idle\":3,"
        "\"peak_activations\":2,\"peak_bw_pending\":0}"));
    ck_assert_ptr_nonnull(strstr(text, "{\"rank\":1,\"kind\":\"compute\","
        "\"task\":\"B0.1\",\"op\":\"B\",\"microbatch\":0,\"stage\":1,"
        "\"start\":2,\"end\":4}"));
    ck_assert_int_eq(count(text, "\"task\":"), 8);
    /* Grouped by rank though the fixture interleaves them. */
    ck_assert_ptr_null(strstr(strstr(text, "{\"rank\":1,\"kind\""),
                              "{\"rank\":0,\"kind\""));
}
END_TEST

START_TEST(test_json_number)
{
    static const struct { double x; const char *text; } t[] = {
        {0, "0"}, {-3, "-3"}, {100, "100"}, {2.5, "2.5"}, {0.1, "0.1"},
        {1.0 / 3, "0.3333333333333333"}, {1e-7, "1e-07"}, {1e20, "1e+20"},
        {NAN, "null"}, {INFINITY, "null"}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        pp_json_number(f, t[i].x);
        pp_json_string(f, "a\"b\\c\n\001");
        fclose(f);
        char want[64];
        snprintf(want, sizeof want, "%s\"a\\\"b\\\\c\\u000a\\u0001\"",
                 t[i].text);
        ck_assert_str_eq(text, want);
        free(text);
    }
}
END_TEST

START_TEST(test_chrome)
{
    fixture_1f1b("1f1b");
    char *text = render(pp_timeline_chrome, 0, 0);
    assert_json(text);
    ck_assert_int_eq(count(text, "\"ph\":\"X\""), 8);
    ck_assert_int_eq(count(text, "\"ph\":\"M\""), 1 + 2 * 2);
    ck_assert_int_eq(count(text, "{\"name\":\"thread_sort_index\","), 2);
    ck_assert_ptr_nonnull(strstr(text, "{\"traceEvents\":[\n"));
    ck_assert_ptr_nonnull(strstr(text, "\"process_name\",\"ph\":\"M\","
        "\"pid\":0,\"tid\":0,\"args\":{\"name\":\"pipette schedule 1f1b\"}"));
    ck_assert_ptr_nonnull(strstr(text, "\"thread_name\",\"ph\":\"M\","
        "\"pid\":0,\"tid\":1,\"args\":{\"name\":\"rank 1\"}"));
    ck_assert_ptr_nonnull(strstr(text, "\n{\"name\":\"B0.1\",\"cat\":\"B\","
        "\"ph\":\"X\",\"pid\":0,\"tid\":1,\"ts\":2000,\"dur\":2000,"
        "\"args\":{\"op\":\"B\",\"microbatch\":0,\"stage\":1}}"));
    ck_assert_ptr_nonnull(strstr(text, "\n],\"displayTimeUnit\":\"ms\"}\n"));
    /* Rank by rank, in time order within a rank. */
    int tid = -1, last_tid = -1;
    double ts = 0, last_ts = -1;
    for (char *e = text; (e = strstr(e, "\"ph\":\"X\"")); e++) {
        ck_assert_int_eq(sscanf(e, "\"ph\":\"X\",\"pid\":0,\"tid\":%d,"
                                   "\"ts\":%lf", &tid, &ts), 2);
        ck_assert_int_ge(tid, last_tid);
        ck_assert(tid > last_tid || ts > last_ts);
        last_tid = tid, last_ts = ts;
    }
    ck_assert_int_eq(last_tid, 1);
    /* Sums of costs carry float noise; the trace shows whole nanoseconds. */
    spans[0].start = 0.1 + 0.2 - 0.3, spans[0].end = 0.1 + 0.2;
    ck_assert_ptr_nonnull(strstr(render(pp_timeline_chrome, 0, 0),
                                 "\"ts\":0,\"dur\":300,"));
}
END_TEST

START_TEST(test_svg)
{
    fixture_1f1b("we\"ird\\<&>");
    char *text = render(pp_timeline_svg, 0, 0);
    assert_xml(text);
    ck_assert_int_eq(count(text, "<rect class=\"span "), 8);
    ck_assert_int_eq(count(text, "<rect class=\"span B\""), 4);
    ck_assert_int_eq(count(text, "<rect class=\"row\""), 2);
    ck_assert_ptr_nonnull(strstr(text, "<svg xmlns=\"http://www.w3.org/"));
    ck_assert_ptr_nonnull(strstr(text, ">we&quot;ird\\&lt;&amp;&gt;: p=2 "
                                       "m=2 v=1, makespan 9, bubble 33.3%<"));
    ck_assert_ptr_nonnull(strstr(text, "<title>B0.1: 2 to 4</title>"));
    ck_assert_ptr_nonnull(strstr(text, ">F1</text>"));
    ck_assert_ptr_nonnull(strstr(text, ">B backward</text>"));
    ck_assert_ptr_null(strstr(text, "input gradient"));
    ck_assert_ptr_nonnull(strstr(text, "</svg>\n"));

    fixture_split();
    text = render(pp_timeline_svg, 0, 0);
    assert_xml(text);
    ck_assert_int_eq(count(text, "<rect class=\"span "), 12);
    ck_assert_ptr_nonnull(strstr(text, ">I0.2</text>"));
    ck_assert_ptr_nonnull(strstr(text, "<title>BW0.3: 5 to 6</title>"));
}
END_TEST

START_TEST(test_validators)
{
    /* The checks above must be able to fail. */
    static const char *const bad_json[] = {"{\"a\":1,}", "[1 2]", "{\"a\"}",
                                           "[01]", "\"a\nb\"", "[1.]"};
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        const char *s = bad_json[i];
        ck_assert_msg(!jvalue(&s) || (ws(&s), *s), "%s", bad_json[i]);
    }
    const char *s = "{\"a\":[1,-2.5e+3,true,null,\"\\u00e9\"]}";
    ck_assert(jvalue(&s) && *s == '\0');
}
END_TEST

static Suite *timeline_suite(void)
{
    Suite *s = suite_create("timeline");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, free_rendered);
    tcase_add_test(tc, test_grid_plain);
    tcase_add_test(tc, test_grid_colour);
    tcase_add_test(tc, test_grid_stages);
    tcase_add_test(tc, test_grid_unit);
    tcase_add_test(tc, test_grid_wrap);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_json_number);
    tcase_add_test(tc, test_chrome);
    tcase_add_test(tc, test_svg);
    tcase_add_test(tc, test_validators);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(timeline_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
