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
#include "registry.h"

/* The next 64 random bits of the splitmix64 state s. */
uint64_t rng_next(uint64_t *s);
/* Uniform in [lo, hi), from the splitmix64 state s. */
double rng_uniform(uint64_t *s, double lo, double hi);
/* Uniform in [lo, hi], both included. */
int rng_int(uint64_t *s, int lo, int hi);

typedef struct layer {
    pp_config *cfg;
    const pp_layer_kernels *k;
    pp_tensor_desc in;
    pp_layer_plan plan;
    int64_t in_len, out_len;    /* elements of x and y for n samples */
    int64_t param_len[PP_LAYER_MAX_PARAMS];
    float *param[PP_LAYER_MAX_PARAMS];
    float *grad[PP_LAYER_MAX_PARAMS];
    void *saved, *target;
    pp_layer_call call;
} layer;

/* Plans `type` with the section's other keys (lines of "key = value")
 * for one sample of `in`; on failure the config's error is in err. */
pp_status plan_layer(pp_registry *reg, const char *type, const char *keys,
                     const pp_tensor_desc *in, pp_config **cfg,
                     pp_layer_plan *plan, const pp_layer_ops **ops,
                     pp_error *err);

/* n zeroed floats (at least one, so n = 0 is not a NULL). */
float *alloc_floats(int64_t n);
void fill_uniform(float *p, int64_t n, uint64_t *rng, double lo, double hi);

/* Plans the layer and gives it random parameters in [-1, 1], n samples of
 * random targets (loss layers) and a call with a loss_scale that is not 1,
 * so a kernel that forgets it is caught. */
void layer_open(layer *l, pp_registry *reg, const char *type,
                const char *keys, pp_dtype dtype, const pp_shape *shape,
                int n, uint64_t *rng);
void layer_close(layer *l);

/* The CPU kernels, asserting PP_OK. */
void run_forward(layer *l, const void *x, float *y);
void run_backward_input(layer *l, const void *x, const float *y,
                        const float *dy, float *dx);
void run_backward_weight(layer *l, const void *x, const float *y,
                         const float *dy);

#endif
