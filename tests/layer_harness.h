/* tests/layer_harness.h - what the layer tests (test_layers,
 * test_layer_values, test_layers_cuda) share: seeded random numbers, and
 * one layer planned from a real [layer] section through the registry,
 * with its parameters, gradients, saved values and targets held as the
 * core would hold them.
 *
 * Test-only, and not a test itself: every helper asserts with Check, so it
 * runs inside a Check test. It keeps no state; the registry is the
 * caller's. */
#ifndef TESTS_LAYER_HARNESS_H
#define TESTS_LAYER_HARNESS_H

#include <stdint.h>

#include <pipette/pipette.h>

#include "config_file.h"
#include "plugin_plan.h"
#include "registry.h"

/* The next 64 random bits of the splitmix64 state s. */
uint64_t rng_next(uint64_t *s);
/* Uniform in [lo, hi), from the splitmix64 state s. */
double rng_uniform(uint64_t *s, double lo, double hi);
/* Uniform in [lo, hi], both included. */
int rng_int(uint64_t *s, int lo, int hi);

/* The most inputs a tested layer gets here. */
#define LAYER_MAX_INPUTS 4

typedef struct layer {
    pp_config *cfg;
    const pp_layer_kernels *k;
    int nin;
    pp_tensor_desc in[LAYER_MAX_INPUTS];
    pp_layer_plan plan;
    int64_t in_len[LAYER_MAX_INPUTS]; /* elements of each x for n samples */
    int64_t out_len;                  /* and of y */
    int64_t *param_len;               /* [plan.nparams] */
    float **param, **grad;            /* [plan.nparams] */
    void *saved, *workspace, *target;
    pp_layer_call call;
} layer;

/* Plans `type` with the section's other keys (lines of "key = value")
 * for one sample of each of the nin inputs; on failure the config's error
 * is in err. The plan is released with pp_layer_plan_release(). */
pp_status plan_layer(pp_registry *reg, const char *type, const char *keys,
                     const pp_tensor_desc *in, int nin, pp_config **cfg,
                     pp_layer_plan *plan, const pp_layer_ops **ops,
                     pp_error *err);
/* The same in a given precision (plan_layer's is fp32); float inputs
 * are the caller's to give its dtype, pp_precision_dtype(precision). */
pp_status plan_layer_in(pp_registry *reg, const char *type,
                        const char *keys, const pp_tensor_desc *in, int nin,
                        pp_precision precision, pp_config **cfg,
                        pp_layer_plan *plan, const pp_layer_ops **ops,
                        pp_error *err);

/* n zeroed floats (at least one, so n = 0 is not a NULL). */
float *alloc_floats(int64_t n);
void fill_uniform(float *p, int64_t n, uint64_t *rng, double lo, double hi);

/* Plans the layer and gives it random parameters in [-1, 1], n samples of
 * random targets (loss layers) and a call with a loss_scale that is not 1,
 * so a kernel that forgets it is caught. layer_open takes one input of
 * `dtype` and `shape`; layer_open_inputs takes nin. */
void layer_open(layer *l, pp_registry *reg, const char *type,
                const char *keys, pp_dtype dtype, const pp_shape *shape,
                int n, uint64_t *rng);
void layer_open_inputs(layer *l, pp_registry *reg, const char *type,
                       const char *keys, int nin, const pp_tensor_desc *in,
                       int n, uint64_t *rng);
void layer_close(layer *l);

/* The CPU kernels, asserting PP_OK: x and dx hold one pointer per input
 * (dx's may be NULL); backward_input adds to the dx given. */
void run_forward_n(layer *l, const void *const *x, float *y);
void run_backward_input_n(layer *l, const void *const *x, const float *y,
                          const float *dy, void *const *dx);
void run_backward_weight_n(layer *l, const void *const *x, const float *y,
                           const float *dy);
/* The same for a layer of one input. */
void run_forward(layer *l, const void *x, float *y);
void run_backward_input(layer *l, const void *x, const float *y,
                        const float *dy, float *dx);
void run_backward_weight(layer *l, const void *x, const float *y,
                         const float *dy);

#endif
