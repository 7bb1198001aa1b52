/* src/preflight.h - what a run checks of a model file before step 1 that
 * does not depend on this machine: `pipette check` and the trainer call
 * the same functions, so check refuses every file that train would.
 *
 * Not here: what the machine decides (a device that answers, its compute
 * capability, its free memory). Those are train's alone, and a refusal
 * of them is a runtime failure (exit status 1), not a config error.
 */
#ifndef PP_SRC_PREFLIGHT_H
#define PP_SRC_PREFLIGHT_H

#include <pipette/data.h>
#include <pipette/device.h>
#include <pipette/optimizer.h>

#include "model.h"

/* The optimizer and data source a run uses, planned and open. */
typedef struct pp_preflight {
    const pp_optimizer_ops *opt;
    pp_optimizer_plan opt_plan; /* its plan() of [train]'s keys */
    const pp_data_ops *data;
    void *data_state;           /* open: its keys read, its files loaded */
    pp_data_info data_info;
} pp_preflight;

/* What a run writes, for the check that it can: the file's [train] log
 * and checkpoint (not for an evaluation: eval) and the trace (the file's,
 * or --trace's, or NULL). */
typedef struct pp_outputs {
    const char *trace;
    int eval;
} pp_outputs;

/* [train] and [data] are there; every layer (and the optimizer) has
 * kernels for the kind of device of each rank that runs it; the
 * optimizer's plan() takes its keys; the data source opens (its keys,
 * its files present and long enough) and its samples fit the model's
 * input, the layers' ids and the loss's targets; the outputs (NULL: none,
 * another process writes them) can be written. Every error found, as
 * FILE:LINE: lines in the file's order; on success *out holds what
 * pp_preflight_release frees. Touches no device. */
pp_status pp_preflight_check(const pp_model *m, const pp_outputs *outputs,
                             pp_preflight *out, pp_error *err);
void pp_preflight_release(pp_preflight *p);

/* The first output that could not be written after the last step,
 * refused at the key that names it (a temporary file is made beside
 * each and removed). runtime_report.c. */
pp_status pp_check_outputs(const pp_model *m, const pp_outputs *o,
                           pp_error *err);

#endif
