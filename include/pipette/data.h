/* pipette/data.h - the table a data source plugin fills.
 *
 * A data source is an indexed set of samples: sample i is always the same
 * input and target for the same keys and seed, whichever rank asks, in
 * whatever order. That is what lets every schedule see the same batches,
 * the first stage read inputs and the last stage read targets without
 * talking to each other. Step s of a run uses samples s * batch to
 * (s + 1) * batch - 1, micro-batch k the k-th slice of them.
 *
 * Dtypes: a source makes the dtypes its info says, PP_F32 or PP_I32,
 * whatever [train] precision is; in bf16 the core rounds float inputs
 * to bf16 as they enter the model (targets stay as made).
 *
 * Required: open, read and close. read is called from several ranks'
 * threads at once (below); open and close from one.
 */
#ifndef PIPETTE_DATA_H
#define PIPETTE_DATA_H

#include <stdint.h>

#include <pipette/config.h>
#include <pipette/error.h>
#include <pipette/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pp_data_info {
    pp_tensor_desc input;   /* one sample's input: the model's [model] input */
    pp_tensor_desc target;  /* one sample's target: the loss layer's */
    int64_t samples;        /* distinct samples before they repeat, or 0
                               when endless (generated) */
    /* Integer inputs and targets are ids below these; 0 where the
     * source cannot say. The trainer checks them against what the layers
     * take before the first step: a GPU kernel cannot refuse an id. */
    int64_t input_ids, target_ids;
} pp_data_info;

typedef struct pp_data_ops {
    /* Reads the keys of [data] (and the files they name) into a private
     * state; seed is [train] seed. Errors about keys use
     * pp_section_error(); a missing file is PP_ERR_CONFIG at its key. */
    pp_status (*open)(const pp_section *cfg, uint64_t seed, void **state,
                      pp_data_info *info, pp_error *err);
    /* Writes samples first .. first + n - 1: inputs and/or targets (either
     * may be NULL when not wanted). Called from several threads at once on
     * the same state: it must not modify it. */
    pp_status (*read)(const void *state, int64_t first, int n, void *inputs,
                      void *targets, pp_error *err);
    void (*close)(void *state);
} pp_data_ops;

#ifdef __cplusplus
}
#endif

#endif
