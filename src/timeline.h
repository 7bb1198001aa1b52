/* src/timeline.h - a simulated (later: measured) schedule drawn for people:
 * a text grid like the figures of the GPipe, Megatron and zero-bubble
 * papers, Chrome trace-event JSON for Perfetto or chrome://tracing, and
 * SVG. The runtime writes its measured traces in the same Chrome format,
 * so planned and measured timelines open side by side. */
#ifndef PP_SRC_TIMELINE_H
#define PP_SRC_TIMELINE_H

#include <stdio.h>

#include "plan.h"

/* Rows are ranks, columns are time (one column per `unit` of time: the
 * smallest compute cost when unit <= 0); each cell shows the op and the
 * micro-batch. colour: ANSI colours (a terminal). */
void pp_timeline_grid(const pp_plan *plan, const pp_sim *sim, double unit,
                      int colour, FILE *out);

/* Chrome trace-event JSON: one process, one thread (track) per rank, one
 * complete ("X") event per span, named like "F3.1", with args op,
 * microbatch and stage; time unit: one cost unit = 1 ms. */
void pp_timeline_chrome(const pp_plan *plan, const pp_sim *sim, FILE *out);

/* A standalone SVG picture of the grid. */
void pp_timeline_svg(const pp_plan *plan, const pp_sim *sim, FILE *out);

/* The simulation's numbers as JSON: makespan, bubble, per rank busy, idle,
 * peak activations, and every span. */
void pp_timeline_json(const pp_plan *plan, const pp_sim *sim, FILE *out);

/* Shared by the writers above (and by the runtime's traces, which must
 * match them). */

/* A task's short label in the grid and the SVG: the op as one letter (F,
 * B, I for BI, W for BW), the micro-batch, and ".stage" only when v > 1
 * (with one stage per rank, the row already says which). */
const char *pp_timeline_label(const pp_task *t, int v, char *buf, int size);

/* s as a JSON string, quotes included. */
void pp_json_string(FILE *out, const char *s);

/* x as a JSON number: integers without a decimal point, anything else in
 * the fewest digits that read back as exactly x; null when not finite. */
void pp_json_number(FILE *out, double x);

#endif
